"""Who may use which Django admin screen (docs/security.md, "Who may see what").

The admin is for running the installation: a trust administrator (schools.Trust.admins)
manages its trust's schools, staff register and policy versions (people.permissions
TRUST_ADMIN_PERMS, decided per object by django-rules). Screens holding pupils' records
(pupils, contacts, household notes, visits, risk assessments) and the audit trail are closed
to everyone but the installation's superuser: a trust administrator is never one, and is
refused even if someone hands them Django model permissions by mistake. Reports, concerns
and attendance marks have no admin screen at all."""
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import Q
from rules.contrib.admin import ObjectPermissionsModelAdminMixin

from schools.models import School, Trust

from .permissions import administered_school_ids

# The mixins below are mixed into ModelAdmin classes and call its methods through super():
# for the type checker they are ModelAdmins; at run time they stay plain mixins.
if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[Any]
else:
    _ModelAdmin = object


class SuperuserOnlyAdminMixin(_ModelAdmin):
    """Pupils' records: not a trust administrator's to read (docs/security.md, "Who may see what")."""

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def has_add_permission(self, request, *args):
        return request.user.is_active and request.user.is_superuser and super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser and super().has_delete_permission(request, obj)


class TrustScopedAdminMixin(ObjectPermissionsModelAdminMixin, _ModelAdmin):
    """Rows of the trust administrator's own schools only; choices narrowed the same way.
    `school_path` is the lookup from the model to its school ("" for School itself)."""

    school_path = "school"

    def has_add_permission(self, request, *args):
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.add_{opts.model_name}")

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        key = f"{self.school_path}__in" if self.school_path else "pk__in"
        return qs.filter(**{key: administered_school_ids(request.user)})

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if not request.user.is_superuser:
            if db_field.related_model is School:
                kwargs["queryset"] = School.objects.filter(pk__in=administered_school_ids(request.user))
            elif db_field.related_model is Trust:
                kwargs["queryset"] = Trust.objects.filter(admins=request.user)
            elif db_field.related_model is get_user_model():
                # Accounts not yet on any register, or on one of this trust's schools.
                schools = administered_school_ids(request.user)
                # Never an administrator's own account, nor any administrator's: they hold no
                # role in any school (people.models.StaffMember.save refuses it whatever the form).
                kwargs["queryset"] = get_user_model().objects.filter(
                    Q(staff_memberships__isnull=True) | Q(staff_memberships__school__in=schools),
                    is_superuser=False, administered_trusts__isnull=True).distinct()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class SuperuserOnlyModelAdmin(SuperuserOnlyAdminMixin, admin.ModelAdmin):
    pass
