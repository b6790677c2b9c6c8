from django.urls import path

from playground.gallery import views

app_name = "gallery"
urlpatterns = [
    path("gallery/", views.index, name="index"),
    path("runs/<uuid:run_id>/", views.run_detail, name="run"),
    path("images/<uuid:image_id>/", views.image_file, name="image"),
    path("images/<uuid:image_id>/thumb", views.image_file, {"variant": "thumb"}, name="thumb"),
]
