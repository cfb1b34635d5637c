"""The pupils import page: upload a MIS export, say which of its columns holds what if they are
not a preset's (saved as the school's own columns), see what it would do (or every bad line),
then import. Thin: the checks and the writing are pupils.csv_import and pupils.roster."""
import csv
import datetime
import io
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from core import uploads
from people.decorators import StaffRequest, require, staff_required
from schools.models import School

from .csv_import import (
    ALL_FIELDS, BUILTIN_MAPPINGS, DATE_FORMATS, JOINABLE, LABELS, REQUIRED, ImportFailed, Mapping, MappingRefused,
    UnknownMapping, fit, fits, import_file, mapping_for, mapping_from_choices, mapping_names, read_header,
    save_school_mapping,
)

SESSION_KEY = "pupils_import"
MAX_UPLOAD_BYTES = uploads.KINDS["csv"].max_bytes
DEFAULT_NAME = "Our MIS export"


class PupilsImportForm(forms.Form):
    file = forms.FileField(label="CSV file exported from your MIS",
                           help_text="One row per pupil and contact. Every line is checked first: if any line is "
                                     "wrong, nothing is imported.")
    mapping = forms.ChoiceField(label="Your MIS, or your saved columns",
                                help_text="If your file's column headings are different, you say which is which next.")

    def __init__(self, *args: Any, school: School, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = []
        for name in mapping_names(school):
            label = BUILTIN_MAPPINGS[name].label if name in BUILTIN_MAPPINGS else f"{name} (saved by your school)"
            choices.append((name, label))
        cast(forms.ChoiceField, self.fields["mapping"]).choices = choices

    def clean_file(self) -> object:
        return uploads.check(self.cleaned_data["file"], "csv", max_bytes=MAX_UPLOAD_BYTES)


def _pending(request: HttpRequest, school: School) -> dict[str, Any] | None:
    pending = request.session.get(SESSION_KEY)
    return pending if pending and pending.get("school") == school.pk else None


def _examples(text: str) -> dict[str, str]:
    """Each heading's value on the file's first line, to recognise the column by."""
    try:
        rows = csv.reader(text.splitlines()[:2])
        header, first = next(rows, []), next(rows, [])
    except csv.Error:
        return {}
    first = first + [""] * (len(header) - len(first))
    return {h.strip(): v.strip() for h, v in zip(header, first[:len(header)], strict=True) if h.strip()}


def _columns_step(text: str, start: Mapping, chosen: dict[str, list[str]] | None = None,
                  date_format: str | None = None, name: str | None = None,
                  errors: dict[str, str] | None = None) -> dict[str, Any]:
    """What the "which column holds what" form shows: each field with the file's headings to
    choose from (each with its value on the first pupil's line, to recognise it by),
    pre-filled from `start` (a preset or the school's saved columns) or from what was posted."""
    header = read_header(text)
    example = _examples(text)
    chosen = chosen if chosen is not None else fit(start, header)
    formats = list(DATE_FORMATS)
    rows = []
    for field_name in ALL_FIELDS:
        picked = chosen.get(field_name, [])
        rows.append({"field": field_name, "label": LABELS[field_name], "required": field_name in REQUIRED,
                     "first": picked[0] if picked else "", "second": picked[1] if len(picked) > 1 else "",
                     "joinable": field_name in JOINABLE, "error": (errors or {}).get(field_name, "")})
    return {
        "rows": rows, "options": [(h, example.get(h, "")) for h in header],
        "date_format": date_format or (start.date_format if start.date_format in formats else formats[0]),
        "formats": [(f, datetime.date(2015, 9, 23).strftime(f)) for f in formats],
        "name": name if name is not None else (start.name if start.name not in BUILTIN_MAPPINGS else DEFAULT_NAME),
        "start": start.label or start.name, "errors": errors or {},
    }


@staff_required
def import_page(request: StaffRequest) -> HttpResponse:
    me = request.staff
    require(me, "pupil.import")
    school = me.school
    form = PupilsImportForm(None, school=school)
    failed: ImportFailed | None = None
    preview = None
    columns: dict[str, Any] | None = None
    pending = _pending(request, school)
    action = request.POST.get("action") if request.method == "POST" else None
    if action == "import" and pending and pending.get("ready"):
        try:
            mapping = mapping_for(school, pending["mapping"])
            counts = import_file(school, io.BytesIO(pending["text"].encode()), mapping, by=me,
                                 file_name=pending["name"])
        except ImportFailed as exc:  # the roll changed since the preview, or the mapping did
            failed = exc
            pending["ready"] = False
            request.session[SESSION_KEY] = pending
        except UnknownMapping as exc:
            messages.error(request, str(exc))
            request.session.pop(SESSION_KEY, None)
        else:
            request.session.pop(SESSION_KEY, None)
            messages.success(request, f"Imported {pending['name']}: {counts}.")
            return redirect("pupils:import")
    elif action == "cancel":
        request.session.pop(SESSION_KEY, None)
        return redirect("pupils:import")
    elif action == "edit_columns" and pending:
        columns = _columns_step(pending["text"], _start(school, pending))
    elif action == "columns" and pending:
        header = read_header(pending["text"])
        chosen = {f: [request.POST.get(f"col_{f}", ""), request.POST.get(f"col2_{f}", "")] for f in ALL_FIELDS}
        date_format, name = request.POST.get("date_format", ""), request.POST.get("name", "")
        try:
            mapping = mapping_from_choices(school, header, chosen, date_format=date_format, name=name)
        except MappingRefused as refused:
            columns = _columns_step(pending["text"], _start(school, pending),
                                    {f: [c for c in v if c] for f, v in chosen.items()}, date_format, name,
                                    refused.errors)
        else:
            mapping = save_school_mapping(school, mapping, by=me, request=request)
            messages.success(request, f"Saved your columns as “{mapping.name}”: choose it next time.")
            pending.update(mapping=mapping.name)
            preview, failed = _check(school, me, pending, mapping)
            request.session[SESSION_KEY] = pending
    elif request.method == "POST":
        form = PupilsImportForm(request.POST, request.FILES, school=school)
        request.session.pop(SESSION_KEY, None)
        pending = None
        if form.is_valid():
            upload = form.cleaned_data["file"]
            raw = upload.read()
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError:
                text = ""
            try:
                mapping = mapping_for(school, form.cleaned_data["mapping"])
            except UnknownMapping as exc:
                form.add_error("mapping", str(exc))
            else:
                # Kept until "Import" (or "Start again"): the file is read again then, so
                # what is imported is exactly what was previewed, re-checked against the roll.
                pending = {"school": school.pk, "name": uploads.safe_name(upload.name), "mapping": mapping.name,
                           "text": text, "ready": False}
                header = read_header(text)
                if text and header and not fits(mapping, header):
                    columns = _columns_step(text, mapping)
                else:
                    try:
                        preview = import_file(school, io.BytesIO(raw), mapping, by=me, file_name=pending["name"],
                                              preview=True)
                    except ImportFailed as exc:
                        failed = exc
                    else:
                        pending["ready"] = True
                request.session[SESSION_KEY] = pending
    mappings = [(m, [(LABELS.get(f, f), m.header_of(f)) for f in m.columns])
                for m in (mapping_for(school, n) for n in mapping_names(school))]
    return render(request, "pupils/import.html", {
        "nav": "pupils", "form": form, "failed": failed, "preview": preview, "pending": pending,
        "columns": columns, "mappings": mappings, "on_roll": school.pupils.filter(on_roll=True).count(),
    }, status=400 if columns and columns["errors"] else 200)


def _start(school: School, pending: dict[str, Any]) -> Mapping:
    try:
        return mapping_for(school, pending["mapping"])
    except UnknownMapping:
        return BUILTIN_MAPPINGS["sims"]


def _check(school: School, me: Any, pending: dict[str, Any],
           mapping: Mapping) -> tuple[Any, ImportFailed | None]:
    """The preview of the pending file with `mapping`: (counts, None), or (None, every bad line)."""
    try:
        preview = import_file(school, io.BytesIO(pending["text"].encode()), mapping, by=me,
                              file_name=pending["name"], preview=True)
    except ImportFailed as exc:
        pending["ready"] = False
        return None, exc
    pending["ready"] = True
    return preview, None
