"""Pages for after the visit. Thin: the rules live in reports.services."""
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from audit import services as audit
from audit.actions import Action
from core.downloads import download
from core.forms import errors_onto
from pupils.models import Pupil
from people.permissions import can
from people.decorators import require, staff_required
from visits.models import Visit

from . import chronology, documents, ical, services
from .forms import AgreementForm, CorrectionForm, FilingForm, LetterForm, ReportForm, ReviewForm
from .models import Agreement, CalendarFeed, Concern, Letter, VisitReport


def _visit(request, pk):
    visit = get_object_or_404(
        Visit.objects.filter(school=request.staff.school).select_related("pupil", "school", "policy_version")
        .prefetch_related("assignments__staff__roles"), pk=pk)
    require(request.staff, "visit.view", visit)
    return visit


def _pdf(data, filename, inline=True):
    return download(data, filename=filename, content_type="application/pdf", inline=inline)


def _report_context(request, visit, form):
    me = request.staff
    start, end = services.attendance_window(visit)
    return {
        "nav": "visits", "visit": visit, "form": form, "me": me,
        "attendance": services.attendance_figures(visit.pupil, start, end),
        "attendance_from": start, "attendance_to": end,
        "signatures": services.signatures_required(visit),
        "due_on": services.report_due_on(visit),
        "danger": services.danger_report_rule(visit),
    }


# ---------------------------------------------------------------- the report

@staff_required
def report(request, pk):
    """The visit's report: the form while none is written, the report (and its corrections) after."""
    visit = _visit(request, pk)
    me = request.staff
    original = VisitReport.objects.filter(visit=visit, corrects__isnull=True).first()
    if original is None:
        if not can(me, "report.write", visit):
            require(me, "report.view", visit)
            return render(request, "reports/report_missing.html", {"visit": visit, "nav": "visits"})
        if visit.state not in Visit.ENDED_STATES:
            return render(request, "reports/report_missing.html", {"visit": visit, "nav": "visits", "not_ended": True})
        form = ReportForm(request.POST or None, initial={"reason": visit.reason})
        if request.method == "POST" and form.is_valid():
            try:
                services.submit_report(me, visit, request.POST, request=request)
            except ValidationError as exc:
                errors_onto(form, exc)
            else:
                messages.success(request, "Report submitted. It is now in the pupil's chronology.")
                return redirect("reports:report", pk=visit.pk)
        return render(request, "reports/report_form.html", _report_context(request, visit, form),
                      status=400 if request.method == "POST" else 200)

    require(me, "report.view", visit)
    versions = [original, *original.corrections.order_by("completed_at", "pk")]
    audit.record(actor=me, school=visit.school, action=Action.REPORT_VIEWED, obj=original,
                 summary=f"{me.full_name} read a visit report", request=request)
    return render(request, "reports/report_detail.html", {
        "nav": "visits", "visit": visit, "versions": versions, "current": versions[-1],
        "agreements": Agreement.objects.filter(visit=visit).select_related("follow_up_visit").prefetch_related("letters"),
        "filings": visit.filings.select_related("by"),
        "concerns": Concern.objects.filter(visit=visit) if can(me, "concern.view", visit) else None,
        "may_write": can(me, "report.write", visit), "may_file": can(me, "report.file", visit),
        "may_agree": can(me, "agreement.record", visit), "may_review": can(me, "agreement.review", visit),
        "may_see_letters": can(me, "letter.view"), "may_propose": can(me, "visit.propose"),
        "filing_form": FilingForm(), "agreement_form": AgreementForm(), "review_form": ReviewForm(),
    })


@staff_required
def correct(request, pk):
    visit = _visit(request, pk)
    original = get_object_or_404(VisitReport, visit=visit, corrects__isnull=True)
    require(request.staff, "report.write", visit)
    latest = services.current_version(original)
    initial = {f: getattr(latest, f) for f in services.REPORT_TEXT_FIELDS}
    initial.update(child_seen="yes" if latest.child_seen else "no", child_spoken_to="yes" if latest.child_spoken_to else "no")
    form = CorrectionForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.correct_report(request.staff, original, request.POST, reason=form.cleaned_data["correction_reason"],
                                    request=request)
        except ValidationError as exc:
            errors_onto(form, exc)
        else:
            messages.success(request, "Correction submitted. The original report is kept beside it.")
            return redirect("reports:report", pk=visit.pk)
    ctx = _report_context(request, visit, form)
    ctx["correcting"] = latest
    return render(request, "reports/report_form.html", ctx, status=400 if request.method == "POST" else 200)


@staff_required
@require_GET
def report_pdf(request, pk, report_id=None):
    visit = _visit(request, pk)
    require(request.staff, "report.view", visit)
    reports = VisitReport.objects.filter(visit=visit)
    chosen = get_object_or_404(reports, pk=report_id) if report_id else get_object_or_404(reports, corrects__isnull=True)
    audit.record(actor=request.staff, school=visit.school, action=Action.REPORT_PRINTED, obj=chosen,
                 summary=f"{request.staff.full_name} printed a visit report", request=request)
    return _pdf(documents.visit_report_pdf(chosen), f"visit-report-{visit.pk}.pdf")


@staff_required
@require_GET
def not_seen_card(request, pk):
    visit = _visit(request, pk)
    # As the permission matrix lists it: the card names no pupil, but it is the visit's paper.
    require(request.staff, "report.view", visit)
    return _pdf(documents.not_seen_card_pdf(visit), f"sorry-we-missed-you-{visit.pk}.pdf")


@staff_required
@require_GET
def closure_reason(request, pk):
    visit = _visit(request, pk)
    require(request.staff, "report.view", visit)
    if visit.state not in (Visit.State.ABANDONED, Visit.State.NOT_SEEN, Visit.State.CANCELLED):
        raise Http404("This visit was not abandoned or cancelled.")
    audit.record_read(request, visit, "a visit's written reason (PDF)", action=Action.VISIT_REASON_PRINTED)
    return _pdf(documents.closure_reason_pdf(visit), f"written-reason-{visit.pk}.pdf")


@staff_required
@require_POST
def file_visit(request, pk):
    visit = _visit(request, pk)
    try:
        services.record_filing(request.staff, visit, system=request.POST.get("system", ""),
                               reference=request.POST.get("reference", ""), request=request)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Filing recorded.")
    return redirect("reports:report", pk=visit.pk)


@staff_required
def concerns(request):
    require(request.staff, "concern.view")
    # Who raised a concern about which pupil is itself safeguarding information: the look is on the trail.
    audit.record_read_today(request, request.staff.school, "the list of concerns", action=Action.CONCERN_LIST_VIEWED)
    return render(request, "reports/concerns.html", {"concerns": services.concerns_listed(request.staff),
                                                     "nav": "concerns"})


@staff_required
def concern(request, pk):
    item = get_object_or_404(Concern.objects.select_related("visit", "pupil", "raised_by"), pk=pk,
                             school=request.staff.school)
    require(request.staff, "concern.view", item)
    services.read_concern(request.staff, item, request=request)
    return render(request, "reports/concern.html", {"concern": item, "nav": "concerns"})


# ---------------------------------------------------------------- agreements

@staff_required
def agreement_new(request, pk):
    visit = _visit(request, pk)
    require(request.staff, "agreement.record", visit)
    form = AgreementForm(request.POST or None)
    if request.method == "POST":
        try:
            data = request.POST
            services.record_agreement(request.staff, visit, text=data.get("text"), review_on=data.get("review_on"),
                                      check_kind=data.get("check_kind", "person"), window_from=data.get("window_from"),
                                      window_to=data.get("window_to"), min_percent=data.get("min_percent"),
                                      request=request)
        except ValidationError as exc:
            form.is_valid()
            errors_onto(form, exc)
        else:
            messages.success(request, "Agreement recorded in the pupil's record.")
            return redirect("reports:report", pk=visit.pk)
    return render(request, "reports/agreement_form.html", {"visit": visit, "form": form, "nav": "visits"},
                  status=400 if request.method == "POST" else 200)


@staff_required
@require_POST
def agreement_review(request, pk):
    agreement = get_object_or_404(Agreement, pk=pk, school=request.staff.school)
    try:
        services.review_agreement(agreement, kept=request.POST.get("kept") == "yes", outcome=request.POST.get("outcome", ""),
                                  actor=request.staff, request=request)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Agreement reviewed: kept." if agreement.status == Agreement.Status.KEPT else
                         "Agreement reviewed: not kept. What happens next is shown under it.")
    if agreement.visit_id:
        return redirect(reverse("reports:report", args=[agreement.visit_id]) + f"#agreement-{agreement.pk}")
    return redirect("reports:letters")


# ---------------------------------------------------------------- letters

@staff_required
def letters(request):
    require(request.staff, "letter.view")
    items = Letter.objects.filter(school=request.staff.school).select_related("pupil", "sent_by").order_by("status", "-prepared_at")
    return render(request, "reports/letters.html", {"letters": items, "nav": "letters",
                                                    "may_send": can(request.staff, "letter.send")})


def _letter_page(request, item, form=None, status=200):
    may_send = can(request.staff, "letter.send", item)
    if form is None and may_send and item.status == Letter.Status.DRAFT:
        form = LetterForm(initial={"addressee": item.addressee, "body": item.body})
    return render(request, "reports/letter.html", {"letter": item, "nav": "letters", "may_send": may_send,
                                                   "form": form}, status=status)


@staff_required
def letter(request, pk):
    item = get_object_or_404(Letter.objects.select_related("pupil", "agreement"), pk=pk, school=request.staff.school)
    require(request.staff, "letter.view", item)
    audit.record_read_today(request, item, "a letter to a family (name and address)", action=Action.LETTER_VIEWED)
    return _letter_page(request, item)


@staff_required
@require_POST
def letter_edit(request, pk):
    """Save the headteacher's wording of a draft; with "send", approve and send it as worded."""
    item = get_object_or_404(Letter.objects.select_related("pupil", "agreement"), pk=pk, school=request.staff.school)
    require(request.staff, "letter.send", item)
    form = LetterForm(request.POST)
    if form.is_valid():
        try:
            item = services.edit_letter(request.staff, item, addressee=form.cleaned_data["addressee"],
                                        body=form.cleaned_data["body"], request=request)
            if "send" in request.POST:
                services.send_letter(request.staff, item, request=request)
        except ValidationError as exc:
            errors_onto(form, exc)
        else:
            messages.success(request, "Letter approved and marked as sent. Print it from the PDF." if "send" in request.POST
                             else "Wording saved. The letter is still a draft until you approve and send it.")
            return redirect("reports:letter", pk=item.pk)
    return _letter_page(request, item, form, status=400)


@staff_required
@require_GET
def letter_pdf(request, pk):
    item = get_object_or_404(Letter, pk=pk, school=request.staff.school)
    require(request.staff, "letter.view", item)
    data = bytes(item.sent_pdf) if item.sent_pdf else documents.letter_pdf(item)
    audit.record_read(request, item, "a letter to a family (PDF)", action=Action.LETTER_PRINTED)
    return _pdf(data, f"reminder-letter-{item.pk}.pdf")


@staff_required
@require_POST
def letter_send(request, pk):
    item = get_object_or_404(Letter, pk=pk, school=request.staff.school)
    try:
        services.send_letter(request.staff, item, request=request)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Letter approved and marked as sent. Print it from the PDF.")
    return redirect("reports:letter", pk=item.pk)


# ---------------------------------------------------------------- chronology

def _pupil(request, pk, action):
    pupil = get_object_or_404(Pupil, pk=pk, school=request.staff.school)
    require(request.staff, action, pupil)
    return pupil


@staff_required
def pupil_chronology(request, pk):
    pupil = _pupil(request, pk, "chronology.view")
    audit.record_read(request, pupil, "pupil chronology", action=Action.CHRONOLOGY_VIEWED)
    return render(request, "reports/chronology.html", {
        "pupil": pupil, "entries": chronology.entries(pupil, request.staff), "nav": "pupils",
        "may_export": can(request.staff, "chronology.export", pupil),
        "may_see_concerns": can(request.staff, "concern.view", pupil),
    })


@staff_required
@require_GET
def chronology_pdf(request, pk):
    pupil = _pupil(request, pk, "chronology.export")
    audit.record(actor=request.staff, school=pupil.school, action=Action.CHRONOLOGY_EXPORTED, obj=pupil,
                 summary=f"{request.staff.full_name} exported a pupil's chronology as PDF", request=request)
    return _pdf(documents.chronology_pdf(pupil, request.staff), f"chronology-{pupil.upn}.pdf", inline=False)


@staff_required
@require_GET
def chronology_csv(request, pk):
    pupil = _pupil(request, pk, "chronology.export")
    audit.record(actor=request.staff, school=pupil.school, action=Action.CHRONOLOGY_EXPORTED, obj=pupil,
                 summary=f"{request.staff.full_name} exported a pupil's chronology as CSV", request=request)
    return download(chronology.as_csv(pupil, request.staff), filename=f"chronology-{pupil.upn}.csv",
                    content_type="text/csv; charset=utf-8")


# ---------------------------------------------------------------- calendar

@staff_required
def calendar(request):
    """Turn the personal calendar address on (a new one each time) or off."""
    require(request.staff, "calendar.subscribe")
    new_url = None
    if request.method == "POST":
        if request.POST.get("action") == "revoke":
            services.revoke_calendar_feeds(request.staff, request=request)
            messages.success(request, "Your calendar address is turned off. Calendars using it stop updating.")
            return redirect("reports:calendar")
        token = services.create_calendar_feed(request.staff, request=request)
        new_url = request.build_absolute_uri(reverse("reports:calendar_feed", args=[token]))
    active = CalendarFeed.objects.filter(staff=request.staff, revoked_at__isnull=True).first()
    return render(request, "reports/calendar.html", {"active": active, "new_url": new_url, "nav": "home"})


@require_GET
def calendar_feed(request, token):
    """No sign-in: a calendar app cannot sign in. The secret address is the key, and the feed
    holds nothing that names a family."""
    feed = services.feed_for_token(token)
    if feed is None:
        raise Http404("No such calendar.")
    CalendarFeed.objects.filter(pk=feed.pk).update(last_used_at=timezone.now())
    response = HttpResponse(ical.feed(feed.staff, request.build_absolute_uri("/")), content_type="text/calendar; charset=utf-8")
    response["Cache-Control"] = "no-store"
    return response
