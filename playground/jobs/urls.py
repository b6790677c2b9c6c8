from django.urls import path

from playground.jobs import views

app_name = "jobs"
urlpatterns = [path("runs/<uuid:run_id>/card", views.card, name="card")]
