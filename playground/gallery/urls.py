from django.urls import path

from playground.gallery import review_views, views

app_name = "gallery"
urlpatterns = [
    path("gallery/", views.index, name="index"),
    path("gallery/compare", views.compare, name="compare"),
    path("gallery/export.zip", views.export, name="export"),
    path("settings/", views.preferences, name="settings"),
    path("runs/<uuid:run_id>/", views.run_detail, name="run"),
    path("runs/<uuid:run_id>/visibility", views.set_visibility, name="visibility"),
    path("runs/<uuid:run_id>/rerun", views.rerun_view, name="rerun"),
    path("runs/<uuid:run_id>/delete", views.delete_view, name="delete"),
    path("runs/<uuid:run_id>/review", review_views.panel, name="review_panel"),
    path("runs/<uuid:run_id>/rate", review_views.rate, name="rate"),
    path("runs/<uuid:run_id>/favourite", review_views.favourite, name="favourite"),
    path("runs/<uuid:run_id>/tags", review_views.add_tag, name="add_tag"),
    path("runs/<uuid:run_id>/tags/<int:tag_id>/remove", review_views.remove_tag, name="remove_tag"),
    path("runs/<uuid:run_id>/comments", review_views.add_comment, name="add_comment"),
    path(
        "runs/<uuid:run_id>/comments/<int:comment_id>/delete",
        review_views.delete_comment,
        name="delete_comment",
    ),
    path("runs/<uuid:run_id>/approval", review_views.set_review, name="set_review"),
    path("images/<uuid:image_id>/", views.image_file, name="image"),
    path("images/<uuid:image_id>/thumb", views.image_file, {"variant": "thumb"}, name="thumb"),
    path("images/<uuid:image_id>/view", views.image_view, name="view"),
]
