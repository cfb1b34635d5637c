from django.contrib import admin

from .models import School, Trust


@admin.register(Trust)
class TrustAdmin(admin.ModelAdmin):
    list_display = ["name", "kind"]
    filter_horizontal = ["admins"]


@admin.register(School)
class SchoolAdmin(admin.ModelAdmin):
    list_display = ["name", "trust", "urn", "phone"]
    list_filter = ["trust"]
