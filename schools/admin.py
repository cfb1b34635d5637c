from django.contrib import admin

from .admin_access import TrustScopedAdminMixin
from .models import School, Trust


@admin.register(Trust)
class TrustAdmin(TrustScopedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "kind"]
    filter_horizontal = ["admins"]
    school_path = "schools"

    def get_queryset(self, request):
        qs = admin.ModelAdmin.get_queryset(self, request)
        return qs if request.user.is_superuser else qs.filter(admins=request.user)

    def get_readonly_fields(self, request, obj=None):
        # Who administers a trust is the installation's decision, not the trust's.
        return [] if request.user.is_superuser else ["admins"]


@admin.register(School)
class SchoolAdmin(TrustScopedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "trust", "urn", "phone"]
    list_filter = [("trust", admin.RelatedOnlyFieldListFilter)]
    school_path = ""
