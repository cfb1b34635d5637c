from django.contrib import admin

from people.admin_access import SuperuserOnlyAdminMixin

from .models import Contact, HouseholdNote, Pupil


class ContactInline(admin.TabularInline):
    model = Contact
    extra = 0


class NoteInline(admin.TabularInline):
    model = HouseholdNote
    extra = 0


@admin.register(Pupil)
class PupilAdmin(SuperuserOnlyAdminMixin, admin.ModelAdmin):
    """Pupils, contacts and household notes: not for trust administrators (docs/security.md, "Who may see what")."""

    list_display = ["last_name", "first_name", "school", "year_group", "upn"]
    list_filter = ["school", "year_group"]
    search_fields = ["last_name", "first_name", "upn"]
    inlines = [ContactInline, NoteInline]
