from django.contrib import admin

from .models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Readable, searchable, never editable: the trail is append-only. Only the installation's
    superuser sees it here (its summaries name pupils); a school's headteacher and DSL search
    it on Doorstep's own audit page, which is itself audited.

    The superuser check is written out here rather than taken from people.admin_access: audit
    sits below people (everything writes to the trail), and the rule is two lines."""

    list_display = ["at", "school", "actor_name", "action", "object_type", "object_id", "summary"]
    list_filter = ["school", "action", "object_type"]
    search_fields = ["summary", "actor_name", "object_id"]
    actions = None  # not even "delete selected"

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
