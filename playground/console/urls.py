from django.urls import path

from playground.console import key_views, report_views, team_views, views

app_name = "console"
urlpatterns = [
    path("", views.index, name="home"),
    path("providers/", views.providers, name="providers"),
    path("providers/new", views.provider_new, name="provider_new"),
    path("providers/<int:provider_id>/", views.provider_edit, name="provider_edit"),
    path("providers/<int:provider_id>/toggle", views.provider_toggle, name="provider_toggle"),
    path("providers/<int:provider_id>/refresh", views.provider_refresh, name="provider_refresh"),
    path("keys/", key_views.keys, name="key_list"),
    path("keys/new", key_views.key_new, name="key_new"),
    path("keys/<int:key_id>/", key_views.key_detail, name="key"),
    path("keys/<int:key_id>/rotate", key_views.key_rotate, name="key_rotate"),
    path("keys/<int:key_id>/revoke", key_views.key_revoke, name="key_revoke"),
    path("keys/<int:key_id>/test", key_views.key_test, name="key_test"),
    path("teams/", team_views.teams, name="teams"),
    path("teams/<int:team_id>/", team_views.team_detail, name="team"),
    path(
        "teams/<int:team_id>/members/<int:membership_id>/role",
        team_views.member_role,
        name="member_role",
    ),
    path(
        "teams/<int:team_id>/members/<int:membership_id>/remove",
        team_views.member_remove,
        name="member_remove",
    ),
    path("limits/", team_views.limits, name="limits"),
    path("limits/<int:limit_id>/", team_views.limit_edit, name="limit_edit"),
    path("limits/<int:limit_id>/delete", team_views.limit_delete, name="limit_delete"),
    path("usage/", report_views.usage, name="usage"),
    path("usage.csv", report_views.usage_csv, name="usage_csv"),
    path("audit/", report_views.audit, name="audit"),
]
