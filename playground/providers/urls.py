from django.urls import path

from playground.providers import views

app_name = "providers"
urlpatterns = [
    path("keys/", views.keys, name="keys"),
    path("keys/provider/<int:provider_id>/save", views.save_key, name="save_key"),
    path("keys/<int:key_id>/delete", views.delete_key, name="delete_key"),
    path("keys/<int:key_id>/test", views.test_key, name="test_key"),
    path("providers/models", views.models, name="models"),
]
