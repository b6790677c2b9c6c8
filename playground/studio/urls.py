from django.urls import path

from playground.studio import views

app_name = "studio"
urlpatterns = [path("", views.generate, name="generate")]
