from django.urls import path

from playground.studio import views

app_name = "studio"
urlpatterns = [
    path("", views.generate, name="generate"),
    path("edit/", views.edit, name="edit"),
    path("edit/picker", views.edit_picker, name="edit_picker"),
]
