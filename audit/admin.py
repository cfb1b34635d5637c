from django.contrib import admin

from people.admin_access import SuperuserOnlyAdminMixin

from .models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(SuperuserOnlyAdminMixin, admin.ModelAdmin):
    """Readable, searchable, never editable: the trail is append-only. Only the installation's
    superuser sees it here (its summaries name pupils); a school's headteacher and DSL search
    it on Doorstep's own audit page, which is itself audited."""

    list_display = ["at", "school", "actor_name", "action", "object_type", "object_id", "summary"]
    list_filter = ["school", "action", "object_type"]
    search_fields = ["summary", "actor_name", "object_id"]
    actions = None  # not even "delete selected"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
