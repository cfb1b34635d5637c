"""Every file Doorstep hands to a browser (PDFs, CSVs, ZIPs) leaves through `download()`.

The file name often carries a record's value (a UPN, a case number). Django's
content_disposition_header quotes and escapes it (and encodes anything outside ASCII as
RFC 6266 asks), so no value can add a parameter of its own to the header: a UPN holding
`"; filename=run.exe` once could. Downloads hold pupils' and staff records, so no copy may
stay in a shared or browser cache."""
from django.http import HttpResponse
from django.utils.http import content_disposition_header


def download(content: bytes | str, *, filename: str, content_type: str, inline: bool = False) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    # None only for an inline file with no name, which then needs no header at all.
    disposition = content_disposition_header(not inline, filename)
    if disposition is not None:
        response["Content-Disposition"] = disposition
    response["Cache-Control"] = "no-store"
    return response
