"""The office board, the police card and the headteacher's alerts page. Thin: their data
comes from safety.board and safety.police_card, and every change is a call into
safety.alerting (acknowledge, resolve) or safety.recording.record_event (a call from the
staff, the code word heard), which check roles and write the audit trail. Another school's
visit or alert is a 404, as if it did not exist."""
import datetime
import hashlib
import logging
import time
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse, HttpResponseNotModified, StreamingHttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_POST

from core.errors import NotAllowed
from core.forms import errors_onto
from core.text import and_list
from people.decorators import staff_required
from risk.models import RiskAssessment
from safety import alerting, live, recording
from safety import board as board_data
from safety.checkins.forms import OfficeCallForm
from safety.checkins.models import VisitEvent
from safety.police_card import police_card as read_police_card
from visits.models import Visit
from visits.services import visit_staff

from .models import Alert

log = logging.getLogger("doorstep.board")


def _board_staff(request):
    staff = board_data.board_staff(request.user)
    if not staff:
        raise PermissionDenied("Only the office, the headteacher, the deputy or the DSL can see the office board.")
    return staff


def _visit_for_office(request, pk):
    """A visit under way at one of the user's schools, and their staff record there."""
    visit = Visit.objects.filter(pk=pk).select_related("school", "pupil").first()
    me = board_data.staff_at(request.user, visit.school_id, "checkin.record_call") if visit else None
    if visit is None or me is None:
        raise Http404("No such visit on your board.")
    return visit, me


def _alert_for(request, pk, action):
    alert = Alert.objects.filter(pk=pk).select_related("visit", "visit__pupil", "owner").first()
    me = board_data.staff_at(request.user, alert.school_id, action) if alert else None
    if alert is None or me is None:
        raise Http404("No such alert.")
    return alert, me


class ResolveForm(forms.Form):
    reason = forms.ChoiceField(label="Why is it closed?", choices=Alert.Resolution.choices, widget=forms.RadioSelect,
                               error_messages={"required": "Choose why the alert is closed."})
    note = forms.CharField(label="Note", required=False, widget=forms.Textarea(attrs={"rows": 3}),
                           help_text="Required when the reason is 'other'. Do not write safeguarding details here.")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("reason") == Alert.Resolution.OTHER and not (data.get("note") or "").strip():
            self.add_error("note", "Say what happened: a note is required when the reason is 'other'.")
        return data


# ----------------------------------------------------------------------------- the board

# The board is pushed (docs/safety-core.md, "The board is pushed"): the page keeps one
# event stream open (board_stream), which says "changed" the moment the safety tables'
# stamp moves (safety.live); the page then fetches the alarm strip (small and fast) and the
# full list. Each stream is closed after STREAM_SECONDS and the browser opens it again, so a
# web thread is never held for long and a signed-out session is noticed.
STREAM_SECONDS = 55.0
STREAM_PING = 15.0  # a comment line this often, so the page knows the stream is alive


def _school_ids(staff) -> list[int]:
    return [s.school_id for s in staff]


def _secret(request) -> str:
    """This session's CSRF secret: the list's forms carry its token, so after a new sign-in the
    page must get forms that work (it is in every tag below)."""
    get_token(request)  # the session's secret is known (and set) before the first page is drawn
    return str(request.META.get("CSRF_COOKIE", ""))


def _tag_digest(value: str, secret: str) -> str:
    return hashlib.blake2b(f"{value}:{secret}".encode(), digest_size=12).hexdigest()


def _etag(shown: str, stamp: str, until: datetime.datetime) -> str:
    """The list of visits' entity tag, `"<shown>.<stamp>.<until>"`: a digest of what it shows
    (board_context's version); a digest of board_stamp() as read before it; and the moment
    (whole seconds, rounded down) time alone would change it (its fresh_until). Both digests
    carry the session's CSRF secret (_secret)."""
    return f'"{shown}.{stamp}.{int(until.timestamp())}"'


def _list_tags(secret: str, read: board_data.BoardStamp, context: dict[str, Any]) -> tuple[str, str]:
    """The digest of what the list shows, and its whole tag (_etag)."""
    shown = _tag_digest(context["version"], secret)
    return shown, _etag(shown, _tag_digest(read.digest, secret), context["fresh_until"])


def _sent_tags(request) -> list[tuple[str, str, int]]:
    """The tags of If-None-Match, as (shown, stamp, until); anything else in it is ignored."""
    tags = []
    for tag in request.headers.get("If-None-Match", "").split(","):
        parts = tag.strip().strip('"').split(".")
        if len(parts) == 3 and parts[2].isdigit():
            tags.append((parts[0], parts[1], int(parts[2])))
    return tags


def _private(response):
    """The board's answers are one person's and change any moment: never kept by a cache
    (the page itself asks with If-None-Match)."""
    patch_cache_control(response, private=True, no_cache=True)
    return response


def _not_modified(etag: str) -> HttpResponse:
    response = HttpResponseNotModified()
    response["ETag"] = etag
    return _private(response)


@staff_required
def board(request):
    staff = _board_staff(request)
    stamp = live.stamp(_school_ids(staff))  # before the data: a change after it is pushed, not lost
    read = board_data.board_stamp(staff)
    context = board_data.board_context(staff, stamp=read)
    _, etag = _list_tags(_secret(request), read, context)
    return _private(render(request, "alerts/board.html", {
        "nav": "board", "stamp": stamp, "etag": etag, **board_data.alarms(staff), **context}))


@staff_required
def board_live(request):
    """The visits under way: fetched when the stream says something changed, and every 30 s.
    Answered "304 Not Modified" (nothing drawn, nothing sent) when the page already shows
    exactly this: the time alone passing is what most of the 30-second fetches find.

    The cheap answer first: when the page's tag has the same board_stamp() and its moment has
    not come, nothing the list is drawn from has changed and time alone has changed nothing
    either, so the 304 is sent without reading the list. Otherwise the list is read; if it
    draws the same as the page shows, still 304, with a new tag (board.js keeps it)."""
    staff = _board_staff(request)
    now = timezone.now()
    secret = _secret(request)
    sent = _sent_tags(request)
    read = board_data.board_stamp(staff, now)  # before the list: a change in between shows next time
    stamp_tag = _tag_digest(read.digest, secret)
    for tag_shown, tag_stamp, until in sent:
        if tag_stamp == stamp_tag and now.timestamp() < until:
            return _not_modified(f'"{tag_shown}.{tag_stamp}.{until}"')
    context = board_data.board_context(staff, now, stamp=read)
    shown_tag, etag = _list_tags(secret, read, context)
    if any(tag_shown == shown_tag for tag_shown, _, _ in sent):
        return _not_modified(etag)
    response = render(request, "alerts/_board.html", context)
    response["ETag"] = etag
    return _private(response)


@staff_required
def board_alarms(request):
    """The alarm strip alone (open alerts): drawn first, in a few milliseconds however many visits are under way."""
    staff = _board_staff(request)
    return render(request, "alerts/_alarms.html", board_data.alarms(staff))


def _events(request, staff, since: str):
    """The stream: on each change, the event `changed` carries the alarm strip itself (one line
    of `data:` per line of HTML), so the page draws a new alert without another request; the
    page then fetches the list of visits."""
    yield "retry: 2000\n\n"  # the browser reconnects 2 s after the stream ends
    school_ids = _school_ids(staff)
    ends = time.monotonic() + STREAM_SECONDS
    while (left := ends - time.monotonic()) > 0:
        try:
            new = live.wait_for_change(school_ids, since, min(left, STREAM_PING))
        except Exception:  # the database went away: end the stream; the page notices and comes back
            log.exception("The office board's event stream stopped")
            return
        if new is None:
            if live.waits_ended():  # this process is ending its streams: the page opens a new one
                return
            yield ": still here\n\n"
            continue
        since = new
        strip = render_to_string("alerts/_alarms.html", board_data.alarms(staff), request=request)
        data = "".join(f"data: {line}\n" for line in strip.splitlines() or [""])
        yield f"id: {new}\nevent: changed\n{data}\n"


@staff_required
def board_stream(request):
    """Server-Sent Events: `changed` (with the new stamp as its id, and the alarm strip as its
    data) whenever the board's data changes, from the stamp the page was drawn with (?since=,
    or Last-Event-ID when the browser reconnects)."""
    staff = _board_staff(request)
    since = request.headers.get("Last-Event-ID") or request.GET.get("since", "")
    response = StreamingHttpResponse(_events(request, staff, since[:200]), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response


@staff_required
def office_call(request, pk):
    """'Checked in by phone': the staff rang the office, or the office rang them."""
    visit, me = _visit_for_office(request, pk)
    form = OfficeCallForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            recording.record_event(visit, VisitEvent.Type.CHECK_IN, by=me, via=VisitEvent.Via.OFFICE_CALL,
                                  concerns=form.concerns_text(), note=form.cleaned_data["note"], request=request)
        except (NotAllowed, ValidationError) as exc:
            form.add_error(None, " ".join(getattr(exc, "messages", [str(exc)])))
        else:
            # Says whose check-in it was: from the board it took one click, and a click on
            # the wrong row should be noticed at once (the event is kept; the next missed
            # deadline still raises its alert).
            messages.success(request, "Check-in by phone recorded for "
                                      f"{and_list(s.full_name for s in visit_staff(visit))} (visit {visit.pk}).")
            return redirect("alerts:board")
    return render(request, "alerts/office_call.html", {"nav": "board", "visit": visit, "form": form,
                                                        "label": board_data.pupil_label(visit.pupil.first_name, visit.pupil.last_name, visit.pupil.year_group),
                                                        "team": visit_staff(visit)},
                  status=400 if form.errors else 200)


@staff_required
def code_word(request, pk):
    """The code word was heard in a call: a confirm step, then the top alert."""
    visit, me = _visit_for_office(request, pk)
    if request.method == "POST" and request.POST.get("confirmed") == "yes":
        try:
            recording.record_event(visit, VisitEvent.Type.CODE_WORD, by=me, via=VisitEvent.Via.OFFICE_CALL,
                                  note=(request.POST.get("note") or "").strip(), request=request)
        except (NotAllowed, ValidationError) as exc:
            messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
        else:
            messages.error(request, "Code word recorded: the top alert has gone to everyone who can help. "
                                    "Open the police card and call 999.")
        return redirect("alerts:board")
    team = visit_staff(visit)
    return render(request, "alerts/code_word.html", {
        "nav": "board", "visit": visit, "team": team, "safe_words": [(p.full_name, w) for p in team if (w := RiskAssessment.safe_word_of(p))],
        "label": board_data.pupil_label(visit.pupil.first_name, visit.pupil.last_name, visit.pupil.year_group),
    })


@staff_required
@require_POST
def acknowledge(request, pk):
    alert, me = _alert_for(request, pk, "alert.acknowledge")
    try:
        alerting.acknowledge(alert, by=me, request=request)
    except NotAllowed as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"You have taken on the {alert.in_a_sentence}: "
                                  "nobody else is being told while you deal with it.")
    # Back to the page the button was on: the headteacher's alerts page or the board. A
    # fixed choice, not a URL, so it cannot be made to redirect anywhere else.
    return redirect("alerts:review" if request.POST.get("back") == "review" else "alerts:board")


@staff_required
def resolve(request, pk):
    alert, me = _alert_for(request, pk, "alert.resolve")
    if alert.state == Alert.State.RESOLVED:
        messages.info(request, "This alert is already resolved.")
        return redirect("alerts:board")
    form = ResolveForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            alerting.resolve(alert, by=me, reason=form.cleaned_data["reason"], note=form.cleaned_data["note"],
                           request=request)
        except ValidationError as exc:
            errors_onto(form, exc)
        except NotAllowed as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Alert resolved.")
            return redirect("alerts:board")
    visit = alert.visit
    return render(request, "alerts/resolve.html", {
        "nav": "board", "alert": alert, "form": form,
        "label": board_data.pupil_label(visit.pupil.first_name, visit.pupil.last_name, visit.pupil.year_group),
        "team": visit_staff(visit),
    }, status=400 if form.errors else 200)


# The policy's `escalation.immediate_danger`, in words for the person on the phone to 999.
IMMEDIATE_DANGER_WORDS = {
    "staff_call_police": "the member of staff calls the police first, then the office. Ask the police whether "
                         "they have already had a call.",
    "office_calls_police": "the office calls the police.",
    "leave_and_report": "staff leave at once and tell the office; the office decides whether to call the police.",
    "end_visit_police_if_violence": "staff end the visit; the police are called if there is violence or a threat of it.",
}


@staff_required
def police_card(request, pk):
    alert, me = _alert_for(request, pk, "alert.police_card")
    card = read_police_card(alert, by=me, request=request)  # audited there
    if card["last_check_in"]:
        card["last_check_in"]["label"] = VisitEvent.Type(card["last_check_in"]["type"]).label
    rule = card["police"]["immediate_danger"]
    card["police"]["immediate_danger_words"] = IMMEDIATE_DANGER_WORDS.get(rule, rule or "")
    return render(request, "alerts/police_card.html", {"nav": "board", "card": card, "alert": alert})


# ----------------------------------------------------------------------------- the headteacher's page

@staff_required
def review(request):
    me = request.staff
    if not board_data.staff_at(request.user, me.school_id, "alert.review"):
        raise PermissionDenied("Only the headteacher, the deputy and the DSL see the alerts and written reasons.")
    return render(request, "alerts/review.html", {"nav": "alerts", **board_data.review_context(me)})
