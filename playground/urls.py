from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from playground.accounts.views import LoginView

urlpatterns = [
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # One login page for everyone, so the failure limit also guards the admin.
    path("admin/login/", LoginView.as_view()),
    path("admin/", admin.site.urls),
    path("console/", include("playground.console.urls")),
    path("", include("playground.providers.urls")),
    path("", include("playground.jobs.urls")),
    path("", include("playground.gallery.urls")),
    path("", include("playground.studio.urls")),
]
