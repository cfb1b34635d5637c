from django.contrib import admin

from schools.admin_access import TrustScopedAdminMixin

from .models import DbsCheck, StaffMember, StaffRole, Training, Vehicle


class RoleInline(admin.TabularInline):
    model = StaffRole
    extra = 1


class DbsInline(admin.TabularInline):
    model = DbsCheck
    extra = 0


class TrainingInline(admin.TabularInline):
    model = Training
    extra = 0


class VehicleInline(admin.TabularInline):
    model = Vehicle
    extra = 0


@admin.register(StaffMember)
class StaffMemberAdmin(TrustScopedAdminMixin, admin.ModelAdmin):
    list_display = ["full_name", "school", "job_title", "mobile", "active"]
    list_filter = [("school", admin.RelatedOnlyFieldListFilter), "active", "roles__role"]
    search_fields = ["full_name", "email"]
    inlines = [RoleInline, DbsInline, TrainingInline, VehicleInline]
