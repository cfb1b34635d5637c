from django.contrib import admin

from people.admin_access import TrustScopedAdminMixin

from .models import SchoolPolicy


@admin.register(SchoolPolicy)
class SchoolPolicyAdmin(TrustScopedAdminMixin, admin.ModelAdmin):
    list_display = ["school", "version", "source_name", "created_at"]
    list_filter = [("school", admin.RelatedOnlyFieldListFilter)]

    # Versions are never edited: a change is a new version (set_policy).
    def has_change_permission(self, request, obj=None):
        return False
