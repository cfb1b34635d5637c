"""The audit trail page for the headteacher and the DSL (docs/security.md, "Audit"): search and export.
Looking at the trail, and exporting it, are themselves written to the trail."""
import io

from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from audit.actions import Action
from audit.services import record_read
from core import csvsafe
from core.downloads import download
from people.decorators import StaffRequest, require, staff_required

from . import audit_search

PAGE_SIZE = 100


@staff_required
@require_GET
def trail(request: StaffRequest) -> HttpResponse:
    me = request.staff
    require(me, "audit.view", me.school)
    form = audit_search.AuditSearchForm(request.GET)  # bound even when empty: no filter is valid
    entries = audit_search.search(me.school, form)
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    # The page's rows are read now, before this search's own entry is written: a lazy page
    # read at rendering showed that entry and dropped the oldest one of the count.
    page.object_list = list(page.object_list)
    record_read(request, me.school, "the audit trail", action=Action.AUDIT_VIEWED,
                data={"filters": form.filters(), "page": page.number})
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "retention/audit_trail.html", {
        "nav": "audit", "form": form, "page": page, "query": query.urlencode(),
    }, status=200 if form.is_valid() else 400)


@staff_required
@require_GET
def export(request: StaffRequest) -> HttpResponse:
    me = request.staff
    require(me, "audit.view", me.school)
    form = audit_search.AuditSearchForm(request.GET)
    if not form.is_valid():
        return render(request, "retention/audit_trail.html", {"nav": "audit", "form": form, "page": None, "query": ""},
                      status=400)
    entries = audit_search.search(me.school, form)
    count = entries.count()
    buffer = io.StringIO()
    writer = csvsafe.writer(buffer)
    writer.writerow(audit_search.CSV_COLUMNS)
    writer.writerows(audit_search.csv_rows(entries))
    record_read(request, me.school, "the audit trail (CSV export)", action=Action.AUDIT_EXPORTED,
                data={"filters": form.filters(), "rows": count})
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response = download(buffer.getvalue(), filename=f"audit-trail-{stamp}.csv", content_type="text/csv; charset=utf-8")
    return response
