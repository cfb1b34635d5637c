"""Every file a person uploads to Doorstep is checked here, in one place, before anything
reads it: its size, its name and its type (by the name, the browser's declared type and the
first bytes of the file, since a name and a declared type are only claims).

Doorstep never stores an uploaded file on disk under the name it was sent with: the
attendance import reads the file in memory or from Django's own temporary file, and only the
bare file name (no folders) is kept for the record, so a name such as `../../etc/passwd`
cannot reach the file system.

Kinds of upload and their limits:
  csv   the attendance import page: a CSV export from the MIS, up to 25 MB (larger files go
        through `doorstep import_attendance`, which reads from the server's own disk)
Drawn signatures are not uploads but PNG data URLs in a form field; reports.services.
clean_signature checks those (PNG only, 150 kB, 2000 px a side)."""
import os
import unicodedata
from dataclasses import dataclass
from typing import TypeVar

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile


@dataclass(frozen=True)
class UploadKind:
    label: str
    max_bytes: int
    limit: str  # the limit as people read it
    extensions: tuple[str, ...]
    content_types: frozenset[str]
    text: bool  # the content must be text, not a binary file renamed


CSV_TYPES = frozenset({"text/csv", "text/plain", "application/csv", "application/vnd.ms-excel",
                       "application/octet-stream", ""})

KINDS = {
    "csv": UploadKind("CSV file", 25 * 1024 * 1024, "25 MB", (".csv",), CSV_TYPES, text=True),
}

# The first bytes of binary formats people most often pick by mistake (or on purpose).
BINARY_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a ZIP file (an .xlsx or .docx workbook is one)",
    b"\xd0\xcf\x11\xe0": "an old Excel or Word file",
    b"\x7fELF": "a program",
    b"MZ": "a Windows program",
}


def safe_name(name: str) -> str:
    """The bare file name, without folders, control characters or a leading dot, for showing
    and keeping in the record. Never used as a path."""
    name = unicodedata.normalize("NFC", name or "").replace("\\", "/")
    name = os.path.basename(name)
    name = "".join(ch for ch in name if ch.isprintable()).strip().lstrip(".")
    return name[:200] or "upload"


Upload = TypeVar("Upload", bound="UploadedFile[bytes]")


def check(upload: Upload, kind: str = "csv", *, max_bytes: int | None = None) -> Upload:
    """Raise ValidationError (with a message naming the file and what is wrong) unless the
    upload is of the given kind and within its limits. Returns the upload, unchanged.
    max_bytes overrides the kind's limit (tests use a tiny one)."""
    rule = KINDS[kind]
    max_bytes = rule.max_bytes if max_bytes is None else max_bytes
    name = safe_name(upload.name or "")
    raw_name = (upload.name or "").replace("\\", "/")
    if "/" in raw_name or raw_name.startswith("."):
        raise ValidationError(f"The file name {raw_name!r} has folders in it; upload the file itself.")
    if not name.lower().endswith(rule.extensions):
        wanted = " or ".join(rule.extensions)
        raise ValidationError(f"{name} is not a {wanted} file. Choose a {wanted} file "
                              "(save the export as CSV in your MIS or spreadsheet).")
    if upload.size is not None and upload.size > max_bytes:
        raise ValidationError(f"{name} is {upload.size / 1048576:.1f} MB; the page takes up to {rule.limit}. "
                              "Split it by term, or ask for it to be imported with `doorstep import_attendance`.")
    if upload.size == 0:
        raise ValidationError(f"{name} is empty.")
    declared = (getattr(upload, "content_type", "") or "").split(";")[0].strip().lower()
    if declared not in rule.content_types:
        raise ValidationError(f"{name} was sent as {declared}, not as a {rule.label}.")
    if rule.text:
        head = upload.read(2048)
        upload.seek(0)
        for magic, what in BINARY_MAGIC.items():
            if head.startswith(magic):
                raise ValidationError(f"{name} is {what}, not a {rule.label}, although its name ends in "
                                      f"{rule.extensions[0]}.")
        if b"\x00" in head:
            raise ValidationError(f"{name} is a binary file, not a {rule.label}.")
    return upload
