from django.contrib import admin

from audit.actions import Action
from audit.services import record
from schools.models import School, Trust

from .admin_access import TrustScopedAdminMixin
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
    """The staff register in the admin. A role here opens pupils' records, so every change made
    here is written to the school's own audit trail (who, when, what), as on Doorstep's pages,
    and only the installation's superuser may re-point a record at another sign-in."""

    list_display = ["full_name", "school", "job_title", "mobile", "active"]
    list_filter = [("school", admin.RelatedOnlyFieldListFilter), "active", "roles__role"]
    search_fields = ["full_name", "email"]
    inlines = [RoleInline, DbsInline, TrainingInline, VehicleInline]

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None and not request.user.is_superuser:
            readonly.append("user")
        return readonly

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change or form.changed_data:
            record(actor=request.user, school=obj.school, action=Action.STAFF_CHANGED if change else Action.STAFF_ADDED,
                   obj=obj, summary=f"{obj.full_name}'s staff record {'changed' if change else 'added'} in the admin"
                                    + (f": {', '.join(form.changed_data)}" if change else ""),
                   data={"via": "admin", "fields": list(form.changed_data)}, request=request)

    def save_formset(self, request, form, formset, change):
        super().save_formset(request, form, formset, change)
        staff = form.instance
        kind = formset.model._meta.verbose_name
        for verb, rows in (("added", formset.new_objects), ("changed", [o for o, _ in formset.changed_objects]),
                           ("removed", formset.deleted_objects)):
            for row in rows:
                action = Action(f"staff.{formset.model._meta.model_name}_{verb}")
                record(actor=request.user, school=staff.school, action=action,
                       obj=staff, summary=f"{kind.capitalize()} {verb} for {staff.full_name} in the admin: {row}",
                       data={"via": "admin", "what": kind, "value": str(row)}, request=request)


# The trusts' and schools' own screens. Registered here, not in schools, because who may use
# them (a trust administrator, for their own trust's schools) is decided by people's rules,
# and schools, the ground floor, imports nothing above it.

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
