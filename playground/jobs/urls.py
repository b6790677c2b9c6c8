from django.urls import path

from playground.jobs import views

app_name = "jobs"
urlpatterns = [
    path("runs/<uuid:run_id>/card", views.card, name="card"),
    path("inputs/<uuid:input_id>/", views.input_file, name="input"),
    path(
        "inputs/<uuid:input_id>/thumb", views.input_file, {"variant": "thumb"}, name="input_thumb"
    ),
]
