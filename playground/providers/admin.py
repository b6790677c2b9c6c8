from django.contrib import admin

from playground.providers.models import ApiKey, Provider


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    list_display = ["name", "base_url", "enabled", "requires_key", "edit_mode", "timeout"]
    list_filter = ["enabled"]
    exclude = ["models_catalogue", "models_fetched_at"]

    def save_model(self, request, obj, form, change) -> None:
        obj.save_by(request.user)  # a changed base URL is audited with who changed it


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    # Write-only: neither the key nor its ciphertext is ever shown here.
    list_display = ["provider", "user", "label", "hint", "created_at", "last_used_at"]
    fields = ["provider", "user", "label", "hint", "created_at", "last_used_at"]
    readonly_fields = ["provider", "user", "hint", "created_at", "last_used_at"]

    def has_add_permission(self, request) -> bool:
        return False
