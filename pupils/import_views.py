"""The pupils import page: upload a MIS export, see what it would do (or every bad line),
then import. Thin: the checks and the writing are pupils.csv_import and pupils.roster."""
import io
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render

from core import uploads
from people.decorators import StaffRequest, require, staff_required
from schools.models import School

from .csv_import import BUILTIN_MAPPINGS, LABELS, ImportFailed, UnknownMapping, import_file, mapping_for, mapping_names

SESSION_KEY = "pupils_import"
MAX_UPLOAD_BYTES = uploads.KINDS["csv"].max_bytes


class PupilsImportForm(forms.Form):
    file = forms.FileField(label="CSV file exported from your MIS",
                           help_text="One row per pupil and contact. Every line is checked first: if any line is "
                                     "wrong, nothing is imported.")
    mapping = forms.ChoiceField(label="Your MIS, or your saved columns")

    def __init__(self, *args: Any, school: School, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = []
        for name in mapping_names(school):
            label = BUILTIN_MAPPINGS[name].label if name in BUILTIN_MAPPINGS else f"{name} (saved by your school)"
            choices.append((name, label))
        cast(forms.ChoiceField, self.fields["mapping"]).choices = choices

    def clean_file(self) -> object:
        return uploads.check(self.cleaned_data["file"], "csv", max_bytes=MAX_UPLOAD_BYTES)


@staff_required
def import_page(request: StaffRequest) -> HttpResponse:
    me = request.staff
    require(me, "pupil.import")
    school = me.school
    form = PupilsImportForm(None, school=school)
    failed: ImportFailed | None = None
    preview = None
    pending = request.session.get(SESSION_KEY)
    if pending and pending.get("school") != school.pk:
        pending = None
    if request.method == "POST" and request.POST.get("action") == "import" and pending:
        try:
            mapping = mapping_for(school, pending["mapping"])
            counts = import_file(school, io.BytesIO(pending["text"].encode()), mapping, by=me,
                                 file_name=pending["name"])
        except ImportFailed as exc:  # the roll changed since the preview, or the mapping did
            failed = exc
            request.session.pop(SESSION_KEY, None)
        except UnknownMapping as exc:
            messages.error(request, str(exc))
            request.session.pop(SESSION_KEY, None)
        else:
            request.session.pop(SESSION_KEY, None)
            messages.success(request, f"Imported {pending['name']}: {counts}.")
            return redirect("pupils:import")
    elif request.method == "POST" and request.POST.get("action") == "cancel":
        request.session.pop(SESSION_KEY, None)
        return redirect("pupils:import")
    elif request.method == "POST":
        form = PupilsImportForm(request.POST, request.FILES, school=school)
        request.session.pop(SESSION_KEY, None)
        pending = None
        if form.is_valid():
            upload = form.cleaned_data["file"]
            raw = upload.read()
            name = uploads.safe_name(upload.name)
            try:
                mapping = mapping_for(school, form.cleaned_data["mapping"])
                preview = import_file(school, io.BytesIO(raw), mapping, by=me, file_name=name, preview=True)
            except UnknownMapping as exc:
                form.add_error("mapping", str(exc))
            except ImportFailed as exc:
                failed = exc
            else:
                # Kept until "Import" (or "Start again"): the file is read again then, so
                # what is imported is exactly what was previewed, re-checked against the roll.
                pending = {"school": school.pk, "name": name, "mapping": mapping.name,
                           "text": raw.decode("utf-8-sig")}
                request.session[SESSION_KEY] = pending
    mappings = [(m, [(LABELS.get(f, f), m.header_of(f)) for f in m.columns])
                for m in (mapping_for(school, n) for n in mapping_names(school))]
    return render(request, "pupils/import.html", {
        "nav": "pupils", "form": form, "failed": failed, "preview": preview, "pending": pending,
        "mappings": mappings, "on_roll": school.pupils.filter(on_roll=True).count(),
    })
