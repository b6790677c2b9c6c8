from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from playground.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the log is written by the actions it records, never edited."""

    list_display = ["created_at", "actor_name", "action", "target_label"]
    list_filter = ["action", "target_type"]
    search_fields = ["actor_name", "target_label"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False
