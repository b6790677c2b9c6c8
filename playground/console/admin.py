from django.contrib import admin

from playground.console.models import AuditEvent

# Limits are changed in the console only, where every change is audited.


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the log is written by the actions it records, never edited."""

    list_display = ["created_at", "actor_name", "action", "target_label"]
    list_filter = ["action", "target_type"]
    search_fields = ["actor_name", "target_label"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
