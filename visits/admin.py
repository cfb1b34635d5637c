from django.contrib import admin

from people.admin_access import SuperuserOnlyAdminMixin, SuperuserOnlyModelAdmin

from .models import Override, Visit, VisitList, VisitStaff


class VisitStaffInline(admin.TabularInline):
    model = VisitStaff
    extra = 0


@admin.register(Visit)
class VisitAdmin(SuperuserOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["pk", "school", "purpose", "starts_at", "state"]
    list_filter = ["school", "state", "purpose"]
    inlines = [VisitStaffInline]
    # State changes go through visits.services, never through the admin.
    readonly_fields = ["state", "approved_by", "approved_at", "policy_version"]


admin.site.register(VisitList, SuperuserOnlyModelAdmin)
admin.site.register(Override, SuperuserOnlyModelAdmin)
