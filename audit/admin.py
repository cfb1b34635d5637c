from django.contrib import admin

from .models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Readable, searchable, never editable: the trail is append-only."""

    list_display = ["at", "school", "actor_name", "action", "object_type", "object_id", "summary"]
    list_filter = ["school", "action", "object_type"]
    search_fields = ["summary", "actor_name", "object_id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
