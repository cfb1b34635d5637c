from django.contrib import admin

from people.admin_access import SuperuserOnlyAdminMixin

from .models import Hazard, RiskAssessment


class HazardInline(admin.TabularInline):
    model = Hazard
    extra = 0


@admin.register(RiskAssessment)
class RiskAssessmentAdmin(SuperuserOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["kind", "school", "pupil", "staff", "author", "assessed_on"]
    list_filter = ["school", "kind"]
    inlines = [HazardInline]
