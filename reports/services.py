"""The one place where after-visit records change: reports and their corrections, concerns,
filings, agreements and their review, letters, calendar feeds.

Every function here checks the person's permission (people.permissions.can) and the
school's policy, refuses bad input with a ValidationError naming the field and changes
nothing, and writes the audit trail in the same transaction as the change. Rules cite
their clause; see docs/records.md for the rules in words."""
from __future__ import annotations

import base64
import binascii
import datetime
import secrets
import struct
from decimal import Decimal, InvalidOperation

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import CharField, OuterRef, Subquery
from django.db.models.functions import Cast
from django.urls import reverse
from django.utils import timezone

from safety.alerts.models import Alert
from attendance.models import CODES, AttendanceMark, Summary, attendance_summary
from audit import services as audit
from audit.actions import Action
from audit.models import AuditEntry
from safety.checkins.models import VisitEvent
from core.errors import NoPolicy, NotAllowed
from core.text import and_list
from policy_engine import Policy, cite
from notify.services import notify, read_about, settle
from people.models import ROLE_LABELS, StaffMember
from policies.services import policy_now, recorded_policy
from schools.calendar import add_school_days
from people.permissions import can
from visits import services as visit_services
from visits.models import Visit

from .documents import letter_pdf
from .models import Agreement, CalendarFeed, ChronologyNote, Concern, Filing, Letter, VisitReport

State = Visit.State

# A visit that has ended one way or another (Visit.ENDED_STATES) is owed a report (C Appendix 2, H §7, W 4.1).

# How long the person who led a visit has to write its report before it shows as overdue
# on their home page. No policy sets a period; Doorstep's default is two school days
# (weekdays outside the school's recorded closures, schools.calendar), so that a Friday
# visit is due on Tuesday, and one on the Friday before half-term on the Tuesday after it.
REPORT_DUE_SCHOOL_DAYS = 2

# Willows 2.3 asks for the parent's and the attendance officer's signatures "if this was the
# reason for the visit", i.e. when attendance was the reason. The policy schema lists the
# signatures (appointment.record_includes) but has no key for that condition, so it lives here.
SIGNATURE_PURPOSES = {"attendance"}

# A drawn signature: a PNG no bigger than this, no larger than this on screen.
SIGNATURE_MAX_BYTES = 150_000
SIGNATURE_MAX_SIDE = 2000
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DATA_URL_PREFIX = "data:image/png;base64,"


def _require(actor, action, obj=None, words="do this"):
    if not can(actor, action, obj):
        raise NotAllowed(f"Your role at this school does not allow you to {words}.")


# ------------------------------------------------------------------------- attendance

def school_year_start(day: datetime.date) -> datetime.date:
    """1 September of the school year `day` falls in."""
    return datetime.date(day.year if day.month >= 9 else day.year - 1, 9, 1)


def attendance_window(visit) -> tuple[datetime.date, datetime.date]:
    """The report's attendance data covers the school year so far, up to and including the day
    of the visit: that is the "current attendance percentage" Appendix 2 asks for."""
    day = timezone.localdate(visit.starts_at)
    return school_year_start(day), day


def attendance_figures(pupil, start: datetime.date, end: datetime.date) -> Summary:
    """attendance_summary over the pupil's marks from start to end inclusive. Marks with a code
    Doorstep does not know are left out (the attendance import refuses them)."""
    codes = AttendanceMark.objects.filter(pupil=pupil, date__gte=start, date__lte=end).values_list("code", flat=True)
    return attendance_summary([c for c in codes if c in CODES])


# ------------------------------------------------------------------------- school days

def report_due_on(visit) -> datetime.date:
    return add_school_days(visit.school, timezone.localdate(visit.ends_at), REPORT_DUE_SCHOOL_DAYS)


# What staff do when they are in danger: press panic, say the code word, or give the duress PIN.
DANGER_ALARM_WORDS: dict[str, str] = {Alert.Kind.PANIC: "the panic button was pressed", Alert.Kind.CODE_WORD: "the code word was used",
                      Alert.Kind.DURESS: "the duress PIN was given"}


def danger_alarms(visit) -> list[str]:
    """What was raised on this visit that means staff were in danger, as plain words, in the order
    raised: a panic, code word or duress alarm (from its alerts, and from the events, so a code word
    heard on a call counts even if its alert row were missing). Empty for a visit without one."""
    kinds = list(Alert.objects.filter(visit=visit, kind__in=Alert.TOP_KINDS)
                 .order_by("raised_at", "pk").values_list("kind", flat=True))
    kinds += list(VisitEvent.objects.filter(visit=visit, type__in=[Alert.Kind.PANIC, Alert.Kind.CODE_WORD])
                  .order_by("at", "pk").values_list("type", flat=True))
    return [DANGER_ALARM_WORDS[k] for k in dict.fromkeys(kinds)]


def report_required(visit, policy=None) -> bool:
    """Every ended visit, unless the policy asks for a report only after danger (Pr 2.5): then a
    visit abandoned because staff did not feel safe, and any visit on which a panic, code word or
    duress alarm was raised, however it ended (completed, not seen or abandoned)."""
    if visit.state not in Visit.ENDED_STATES:
        return False
    policy = policy if policy is not None else recorded_policy(visit)
    if policy is not None and policy.after.report.value == "after_danger":
        return visit.state == State.ABANDONED or bool(danger_alarms(visit))
    return True


def danger_report_rule(visit, policy=None) -> dict | None:
    """What a visit with a danger alarm owes: a full report saying what happened, which goes to the
    headteacher as an incident. {"alarms": [...], "clause": ...} or None. Priory asks for the full
    report itself (Pr 2.5); the others send incidents to the headteacher (after.incident_report_to)."""
    alarms = danger_alarms(visit)
    if not alarms:
        return None
    policy = policy if policy is not None else recorded_policy(visit)
    if policy is None:  # the school has no policy yet: Doorstep's default (every visit is reported)
        return {"alarms": alarms, "clause": "default"}
    rule = policy.after.report if policy.after.report.value == "after_danger" else policy.after.incident_report_to
    return {"alarms": alarms, "clause": rule.clause}


def report_owner(visit):
    """Who owes the report: the lead of the visit (or its first member of staff)."""
    assignments = sorted(visit.assignments.all(), key=lambda a: (not a.lead, a.pk))
    return assignments[0].staff if assignments else visit.proposed_by


def reports_owed(staff, today=None):
    """[(visit, due_on, overdue)] for the ended visits this person led and has not reported on."""
    today = today or timezone.localdate()
    visits = (
        Visit.objects.filter(school=staff.school, state__in=Visit.ENDED_STATES, assignments__staff=staff,
                             assignments__lead=True)
        .select_related("pupil", "school", "policy_version")
        .prefetch_related("assignments__staff")
        .order_by("ends_at")
        .distinct()
    )
    owed = []
    for visit in visits:
        if visit.reports.filter(corrects__isnull=True).exists() or not report_required(visit):
            continue
        due = report_due_on(visit)
        owed.append((visit, due, today > due))
    return owed


def agreements_to_review(staff, today=None):
    """The open agreements whose review date has come and that only a person can judge (the
    daily check marks the measurable ones itself): nothing else lists them, so without this
    they waited, unreviewed, on their visit's report. Empty for those who may not review."""
    if not can(staff, "agreement.review"):
        return Agreement.objects.none()
    today = today or timezone.localdate()
    return (Agreement.objects.filter(school=staff.school, status=Agreement.Status.OPEN, review_on__lte=today,
                                     check_kind=Agreement.Check.PERSON)
            .select_related("pupil").order_by("review_on", "pk"))


# ------------------------------------------------------------------------- signatures

def signatures_required(visit, policy=None) -> dict:
    """{"parent": (required, clause), "staff": (required, clause)}. Where the policy lists the
    signatures in what a visit's record holds (W 2.3, appointment.record_includes), they are
    required on an attendance visit; the parent signs only if they were met (a completed visit)."""
    policy = policy if policy is not None else recorded_policy(visit)
    record = policy.appointment.record_includes if policy is not None else None
    items = record.value if record is not None else []
    clause = record.clause if record is not None else "default"
    applies = visit.purpose in SIGNATURE_PURPOSES
    return {
        "parent": ("parent_signature" in items and applies and visit.state == State.COMPLETED, clause),
        "staff": ("staff_signature" in items and applies, clause),
    }


def clean_signature(value: str, field: str) -> str:
    """A PNG data URL from the signature pad, checked: the right type, a real PNG, not too big."""
    value = (value or "").strip()
    if not value:
        return ""
    if not value.startswith(DATA_URL_PREFIX):
        raise ValidationError({field: "The signature must be a PNG image drawn on the signature pad."})
    encoded = value[len(DATA_URL_PREFIX):]
    if len(encoded) > SIGNATURE_MAX_BYTES * 4 // 3 + 4:
        raise ValidationError({field: f"The signature image is too large (at most {SIGNATURE_MAX_BYTES // 1000} kB)."})
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError({field: "The signature image is damaged (not valid base64)."}) from None
    if len(raw) < 33 or not raw.startswith(PNG_MAGIC) or raw[12:16] != b"IHDR":
        raise ValidationError({field: "The signature is not a PNG image."})
    width, height = struct.unpack(">II", raw[16:24])
    if not (0 < width <= SIGNATURE_MAX_SIDE and 0 < height <= SIGNATURE_MAX_SIDE):
        raise ValidationError({field: f"The signature image is {width}×{height} pixels; at most "
                                      f"{SIGNATURE_MAX_SIDE} on each side."})
    return DATA_URL_PREFIX + base64.b64encode(raw).decode()


# ------------------------------------------------------------------------- notifying people

def _notify(recipients, *, kind, subject, body, link, school, key):
    """Tell people through the notify app (in-app, SMS, email). Subject and body never carry a
    pupil's name or address: the link leads into Doorstep. Returns False if there was nobody
    to tell (the caller still records who should have been told)."""
    recipients = [r for r in recipients if r is not None]
    if not recipients:
        return False
    notify(recipients, kind=kind, subject=subject, body=body, link=link, school=school, idempotency_key=key)
    return True


def staff_with_roles(school, roles):
    return list(StaffMember.objects.filter(school=school, active=True, roles__role__in=list(roles)).distinct())


# ------------------------------------------------------------------------- reports

REPORT_TEXT_FIELDS = ["reason", "people_present", "summary", "actions_agreed", "follow_up_actions"]


def _role_text(staff):
    return ", ".join(ROLE_LABELS.get(r, r) for r in staff.role_names) or "member of staff"


def _report_fields(visit, actor, data, policy, danger=None):
    """Validate what the person typed; return the model fields. Raises ValidationError naming
    every field that is wrong. `danger` (danger_report_rule) makes the incident account required."""
    errors: dict[str, str | list[str]] = {}
    if danger and not (data.get("incident") or "").strip():
        errors["incident"] = (f"An alarm was raised on this visit ({and_list(danger['alarms'])}). Say what happened: "
                              f"the report goes to the headteacher as an incident ({cite(danger['clause'])}).")
    values = {f: (data.get(f) or "").strip() for f in REPORT_TEXT_FIELDS}
    if not values["summary"]:
        errors["summary"] = "Write a summary of what was discussed (or, if nobody was seen, what happened)."
    if not values["reason"]:
        values["reason"] = visit.reason
    if visit.state == State.COMPLETED and not values["people_present"]:
        errors["people_present"] = "Say who was present at the home."

    def yes_no(name):
        raw = data.get(name)
        if raw in (True, "yes", "on", "true", "1"):
            return True
        if raw in (False, "no", "false", "0"):
            return False
        errors[name] = "Answer yes or no."
        return None

    seen, spoken = yes_no("child_seen"), yes_no("child_spoken_to")
    if spoken and seen is False:
        errors["child_spoken_to"] = "The child cannot have been spoken to without being seen."

    signatures = {}
    for who in ("parent", "staff"):
        field = f"{who}_signature"
        try:
            signatures[field] = clean_signature(data.get(field, ""), field)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    needed = signatures_required(visit, policy)
    for who, (required, clause) in needed.items():
        field = f"{who}_signature"
        if required and field not in errors and not signatures[field]:
            person = "the parent or carer" if who == "parent" else "the member of staff"
            errors[field] = f"{person.capitalize()} must sign on the screen ({cite(clause)})."
    if visit.state != State.COMPLETED and signatures.get("parent_signature"):
        errors["parent_signature"] = "Only a visit where the family was met can carry a parent's signature."
    signatory = (data.get("parent_signatory") or "").strip()
    if signatures.get("parent_signature") and not signatory:
        errors["parent_signatory"] = "Give the name of the parent or carer who signed."
    if errors:
        raise ValidationError(errors)

    start, end = attendance_window(visit)
    figures = attendance_figures(visit.pupil, start, end)
    local = timezone.localtime(visit.starts_at)
    staff_present = ", ".join(
        f"{a.staff.full_name} ({_role_text(a.staff)})" for a in sorted(visit.assignments.all(), key=lambda a: (not a.lead, a.pk))
    )
    return dict(
        school=visit.school, visit=visit, pupil=visit.pupil,
        year_group=visit.pupil.get_year_group_display(), class_name=visit.pupil.class_name,
        visit_date=local.date(), visit_time=local.time().replace(second=0, microsecond=0),
        outcome=visit.state, staff_present=staff_present,
        child_seen=seen, child_spoken_to=spoken,
        attendance_from=start, attendance_to=end,
        sessions_possible=figures["possible"], sessions_missed=figures["missed"],
        sessions_authorised=figures["authorised"], sessions_unauthorised=figures["unauthorised"],
        attendance_percent=None if figures["percent"] is None else Decimal(str(figures["percent"])),
        parent_signatory=signatory if signatures.get("parent_signature") else "",
        completed_by=actor, completed_by_name=actor.full_name, completed_by_role=_role_text(actor),
        completed_at=timezone.now(),
        **values, **signatures,
    )


def _concerns_from(data):
    out = []
    safeguarding = (data.get("safeguarding_concern") or "").strip()
    incident = (data.get("incident") or "").strip()
    if safeguarding:
        out.append((Concern.Kind.SAFEGUARDING, safeguarding))
    if incident:
        kind = Concern.Kind.PHYSICAL_INTERVENTION if data.get("physical_intervention") in (True, "on", "yes", "1", "true") \
            else Concern.Kind.INCIDENT
        out.append((kind, incident))
    return out


def submit_report(actor, visit, data, *, request=None) -> VisitReport:
    """Write the report of an ended visit. One per visit: after that, corrections only."""
    _require(actor, "report.write", visit, "write this visit's report")
    with transaction.atomic():
        locked = Visit.objects.select_for_update(of=("self",)).select_related("pupil", "school", "policy_version").get(pk=visit.pk)
        if locked.state not in Visit.ENDED_STATES:
            raise ValidationError({"__all__": f"This visit is {locked.get_state_display().lower()}; a report is "
                                              "written once it has ended (completed, not seen or abandoned)."})
        if VisitReport.objects.filter(visit=locked, corrects__isnull=True).exists():
            raise ValidationError({"__all__": "This visit already has a report. Submit a correction instead."})
        policy = recorded_policy(locked)
        fields = _report_fields(locked, actor, data, policy, danger=danger_report_rule(locked, policy))
        try:
            with transaction.atomic():
                report = VisitReport.objects.create(**fields)
        except IntegrityError:
            raise ValidationError({"__all__": "This visit already has a report. Submit a correction instead."}) from None
        audit.record(actor=actor, school=locked.school, action=Action.REPORT_SUBMITTED, obj=report,
                     summary=f"{actor.full_name} submitted the report of a visit on {report.visit_date:%d %b %Y}",
                     data={"visit": locked.pk, "attendance_percent": str(report.attendance_percent)}, request=request)
        for kind, details in _concerns_from(data):
            raise_concern(actor, locked, kind=kind, details=details, report=report, request=request)
    return report


def correct_report(actor, report, data, *, reason, request=None) -> VisitReport:
    """A correction: a new report linked to the original, with the reason. The original stays
    as it was, and the chronology shows both."""
    original = report.original
    _require(actor, "report.write", original.visit, "correct this visit's report")
    if not (reason or "").strip():
        raise ValidationError({"correction_reason": "Say what was wrong and why it is being corrected."})
    with transaction.atomic():
        locked = Visit.objects.select_for_update(of=("self",)).select_related("pupil", "school", "policy_version").get(pk=original.visit_id)
        policy = recorded_policy(locked)
        fields = _report_fields(locked, actor, data, policy)
        fields.update(corrects=original, correction_reason=reason.strip(), outcome=original.outcome)
        correction = VisitReport.objects.create(**fields)
        audit.record(actor=actor, school=locked.school, action=Action.REPORT_CORRECTED, obj=correction,
                     summary=f"{actor.full_name} corrected the report of a visit on {original.visit_date:%d %b %Y}",
                     reason=reason.strip(), data={"corrects": original.pk}, request=request)
        for kind, details in _concerns_from(data):
            raise_concern(actor, locked, kind=kind, details=details, report=correction, request=request)
    return correction


def current_version(report):
    """The newest correction of a report, or the report itself."""
    original = report.original
    return original.corrections.order_by("-completed_at", "-id").first() or original


# ------------------------------------------------------------------------- concerns

def concern_route(policy: Policy | None, kind: str) -> tuple[list[str], str]:
    """(roles told of a concern of this kind, the clause saying so). A safeguarding concern goes
    to after.safeguarding_concern_to, an incident or a physical intervention to
    after.incident_report_to; a school with no policy yet gets Doorstep's defaults."""
    safeguarding = kind == Concern.Kind.SAFEGUARDING
    if policy is None:
        return (["dsl"] if safeguarding else ["headteacher"]), "default"
    rule = policy.after.safeguarding_concern_to if safeguarding else policy.after.incident_report_to
    return rule.value, rule.clause


def raise_concern(actor, visit, *, kind, details, report=None, request=None) -> Concern:
    """Record a concern from a visit in the pupil's chronology and tell the people the policy
    names at once: a safeguarding concern goes to the DSL (P §8¶2, H §6¶4), an incident or a
    physical intervention to the headteacher (P §3¶9, P §8¶5)."""
    _require(actor, "report.write", visit, "raise a concern about this visit")
    if kind not in Concern.Kind.values:
        raise ValidationError({"kind": "Choose a safeguarding concern, an incident or a physical intervention."})
    if not (details or "").strip():
        raise ValidationError({"details": "Describe the concern."})
    policy = recorded_policy(visit)
    roles, clause = concern_route(policy, kind)
    recipients = staff_with_roles(visit.school, roles)
    with transaction.atomic():
        concern = Concern.objects.create(
            school=visit.school, pupil=visit.pupil, visit=visit, report=report, kind=kind, details=details.strip(),
            raised_by=actor, raised_at=timezone.now(), sent_to=[r.full_name for r in recipients], clause=clause,
        )
        label = Concern.Kind(kind).label
        audit.record(actor=actor, school=visit.school, action=Action.CONCERN_RAISED, obj=concern,
                     summary=f"{actor.full_name} raised a {label.lower()} from a home visit; told "
                             f"{', '.join(r.full_name for r in recipients) or 'nobody (no one holds the role)'}",
                     data={"visit": visit.pk, "roles": roles, "clause": clause}, request=request)
        link = reverse("reports:concern", args=[concern.pk])
        # No name or address: the subject and body may leave the school by SMS or email.
        _notify(recipients, kind=f"concern.{kind}", subject=f"{label} raised on a home visit",
                body=f"A {label.lower()} was raised on a home visit and needs your attention now ({cite(clause)}). "
                     "Open Doorstep to read it.",
                link=link, school=visit.school, key=f"concern-{concern.pk}")
    return concern


def read_concern(actor, concern, *, request=None) -> int:
    """Someone opens a concern: the read is on the audit trail (every one: a concern is the most
    sensitive thing Doorstep holds), and the in-app message that announced it to them is marked
    read, or it would go on asking them to read what they have read. Returns how many messages."""
    _require(actor, "concern.view", concern, "read concerns")
    with transaction.atomic():
        read = read_about(actor, reverse("reports:concern", args=[concern.pk]))
        audit.record(actor=actor, school=concern.school, action=Action.CONCERN_VIEWED, obj=concern,
                     summary=f"{actor.full_name} read a concern", data={"messages_read": read}, request=request)
    return read


def concerns_listed(actor):
    """The school's concerns for its list, newest first, each with `first_read_by` and
    `first_read_at` (the first audit entry of someone other than whoever raised it opening it;
    None if nobody has): whether anyone has read it yet is what a DSL scanning the list needs."""
    _require(actor, "concern.view", None, "read concerns")
    reads = (AuditEntry.objects.filter(action=Action.CONCERN_VIEWED, object_type="reports.concern",
                                       object_id=Cast(OuterRef("pk"), output_field=CharField()))
             .exclude(actor=OuterRef("raised_by__user")).order_by("at", "id"))
    return (Concern.objects.filter(school=actor.school).select_related("pupil", "raised_by")
            .annotate(first_read_by=Subquery(reads.values("actor_name")[:1]),
                      first_read_at=Subquery(reads.values("at")[:1]))
            .order_by("-raised_at", "-id"))


# ------------------------------------------------------------------------- filing

def record_filing(actor, visit, *, system, reference, request=None) -> Filing:
    """Note where the visit's record was filed in the school's own system (C 4.1, W 4.1)."""
    _require(actor, "report.file", visit, "record where a visit was filed")
    errors = {}
    if not (system or "").strip():
        errors["system"] = "Name the system it was filed in, e.g. CPOMS."
    if not (reference or "").strip():
        errors["reference"] = "Give the reference it was filed under."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        filing = Filing.objects.create(school=visit.school, visit=visit, system=system.strip()[:100],
                                       reference=reference.strip()[:200], by=actor, at=timezone.now())
        audit.record(actor=actor, school=visit.school, action=Action.VISIT_FILED, obj=visit,
                     summary=f"{actor.full_name} filed the visit's record in {filing.system} ({filing.reference})",
                     request=request)
    return filing


# ------------------------------------------------------------------------- agreements

def _parse_date(value, field, errors, label):
    if isinstance(value, datetime.date):
        return value
    if not value:
        return None
    try:
        return datetime.date.fromisoformat(str(value))
    except ValueError:
        errors[field] = f"{label} must be a date (YYYY-MM-DD); got {value!r}."
        return None


def record_agreement(actor, visit, *, text, review_on, check_kind=Agreement.Check.PERSON, window_from=None,
                     window_to=None, min_percent=None, request=None) -> Agreement:
    """Record an agreement made with the family on a visit, in the pupil's record (C 4.1,
    P §7¶3, H §5¶1), with its review date and, if it can be measured, its check."""
    _require(actor, "agreement.record", visit, "record agreements")
    errors = {}
    text = (text or "").strip()
    if not text:
        errors["text"] = "Write what was agreed."
    review_on = _parse_date(review_on, "review_on", errors, "The review date")
    if review_on is None and "review_on" not in errors:
        errors["review_on"] = "Give the date the agreement is reviewed."
    elif review_on is not None and review_on < timezone.localdate(visit.starts_at):
        errors["review_on"] = "The review date cannot be before the visit."
    if check_kind not in Agreement.Check.values:
        errors["check_kind"] = "Choose how the agreement is checked."
    window_from = _parse_date(window_from, "window_from", errors, "The start of the window")
    window_to = _parse_date(window_to, "window_to", errors, "The end of the window")
    percent = None
    if check_kind in (Agreement.Check.MIN_PERCENT, Agreement.Check.NO_UNAUTHORISED):
        if window_from is None and "window_from" not in errors:
            errors["window_from"] = "A measurable agreement needs the first day it covers."
        if window_to is None and "window_to" not in errors:
            errors["window_to"] = "A measurable agreement needs the last day it covers."
        if window_from and window_to and window_to < window_from:
            errors["window_to"] = "The window must end on or after the day it starts."
        if window_to and review_on and window_to > review_on:
            errors["window_to"] = "The window must end on or before the review date."
    else:
        window_from = window_to = None
    if check_kind == Agreement.Check.MIN_PERCENT:
        try:
            percent = Decimal(str(min_percent)).quantize(Decimal("0.1"))
            if not Decimal("0") < percent <= Decimal("100"):
                raise InvalidOperation
        except (InvalidOperation, ValueError, TypeError):
            errors["min_percent"] = f"Give the attendance percentage to reach, between 1 and 100; got {min_percent!r}."
    if errors:
        raise ValidationError(errors)
    policy = recorded_policy(visit)
    clause = policy.after.agreements_recorded_in.clause if policy is not None else "default"
    with transaction.atomic():
        agreement = Agreement.objects.create(
            school=visit.school, pupil=visit.pupil, visit=visit, text=text, review_on=review_on, check_kind=check_kind,
            window_from=window_from, window_to=window_to, min_percent=percent, made_by=actor, made_at=timezone.now(),
        )
        audit.record(actor=actor, school=visit.school, action=Action.AGREEMENT_RECORDED, obj=agreement,
                     summary=f"{actor.full_name} recorded an agreement with the family, to review on {review_on:%d %b %Y}",
                     data={"check": check_kind, "clause": clause}, request=request)
    return agreement


def evaluate_agreement(agreement) -> tuple[str | None, str]:
    """(kept | broken | None, why) from the attendance marks in the agreement's window. None
    when a person must decide: not measurable, or no possible session recorded in the window."""
    if not agreement.measurable:
        return None, "Not measurable: a member of staff reviews it."
    figures = attendance_figures(agreement.pupil, agreement.window_from, agreement.window_to)
    if not figures["possible"]:
        return None, "No attendance marks in the window yet: a member of staff reviews it."
    if agreement.check_kind == Agreement.Check.MIN_PERCENT:
        kept = Decimal(str(figures["percent"])) >= agreement.min_percent
        return ("kept" if kept else "broken"), (
            f"Attendance {figures['percent']}% over {figures['possible']} sessions, against "
            f"{Decimal(str(agreement.min_percent)).normalize():f}% agreed.")
    kept = figures["unauthorised"] == 0
    return ("kept" if kept else "broken"), (
        f"{figures['unauthorised']} unauthorised absence{'s' if figures['unauthorised'] != 1 else ''} "
        f"in {figures['possible']} sessions.")


def review_agreement(agreement, *, kept: bool, outcome: str, actor=None, request=None) -> Agreement:
    """Mark an open agreement kept or broken: by a person (actor) or by the daily check (actor
    None). Only the first review counts: the update is conditional on the agreement still
    being open, so two reviewers at once cannot both act. A broken agreement sets off what the
    policy asks (see _when_broken)."""
    if actor is not None:
        _require(actor, "agreement.review", agreement, "review agreements")
        if not (outcome or "").strip():
            raise ValidationError({"outcome": "Say how you judged whether the agreement was kept."})
    status = Agreement.Status.KEPT if kept else Agreement.Status.BROKEN
    now = timezone.now()
    with transaction.atomic():
        hit = Agreement.objects.filter(pk=agreement.pk, status=Agreement.Status.OPEN).update(
            status=status, reviewed_at=now, reviewed_by=actor, outcome=(outcome or "").strip())
        if not hit:
            agreement.refresh_from_db()
            raise ValidationError({"__all__": f"This agreement was already reviewed ({agreement.get_status_display().lower()})."})
        agreement.refresh_from_db()
        who = actor.full_name if actor else "Doorstep's daily check"
        audit.record(actor=actor, school=agreement.school, action=Action.AGREEMENT_KEPT if kept else Action.AGREEMENT_BROKEN, obj=agreement,
                     summary=f"{who} found the agreement {status}", reason=agreement.outcome, request=request)
        if not kept:
            _when_broken(agreement)
    return agreement


def _when_broken(agreement):
    """What the policy asks when an agreement is not kept: a reminder letter for the
    headteacher to send (C 4.2, P §7¶3, Pr 5.2), a note in the attendance record (C 4.3,
    Pr 5.2, H §5¶4), and on continued failure a follow-up visit (C 4.3, P §7¶3)."""
    policy = recorded_policy(agreement.visit) if agreement.visit is not None else policy_now(agreement.school)
    if policy is None:  # the school has no policy yet: Doorstep's defaults ask for none of these
        return
    after = policy.after
    pupil = agreement.pupil
    if after.reminder_letters.value:
        clause = after.reminder_letters.clause
        contact = pupil.contacts.filter(parental_responsibility=True).first() or pupil.contacts.first()
        letter = Letter.objects.create(
            school=agreement.school, pupil=pupil, agreement=agreement, addressee=contact.name if contact else "Parent/Carer",
            body=reminder_text(agreement), clause=clause, prepared_at=timezone.now(),
        )
        audit.record(actor=None, school=agreement.school, action=Action.LETTER_PREPARED, obj=letter,
                     summary="Doorstep prepared a reminder letter for the headteacher to approve and send",
                     data={"agreement": agreement.pk, "clause": clause})
        heads = staff_with_roles(agreement.school, ["headteacher"])
        _notify(heads, kind="letter.draft", subject="A reminder letter is waiting for you",
                body=f"An agreement with a family was not kept; a reminder letter is ready to approve ({cite(clause)}).",
                link=reverse("reports:letter", args=[letter.pk]), school=agreement.school, key=f"letter-{letter.pk}")
    if after.note_in_attendance_record.value:
        clause = after.note_in_attendance_record.clause
        ChronologyNote.objects.create(
            school=agreement.school, pupil=pupil, kind=ChronologyNote.Kind.ATTENDANCE, agreement=agreement,
            text=f"Agreement not kept (made {timezone.localdate(agreement.made_at):%d %b %Y}, reviewed "
                 f"{agreement.review_on:%d %b %Y}): {agreement.text} — {agreement.outcome}",
            clause=clause, at=timezone.now(), by=agreement.reviewed_by,
        )
    if after.follow_up_visit.value and _continued_failure(agreement):
        _propose_follow_up(agreement, after.follow_up_visit.clause)


def _continued_failure(agreement) -> bool:
    """This is at least the second broken agreement since Doorstep last proposed a follow-up
    visit for the pupil (or ever, if it never has)."""
    broken = Agreement.objects.filter(pupil=agreement.pupil, status=Agreement.Status.BROKEN).exclude(pk=agreement.pk)
    last = (Agreement.objects.filter(pupil=agreement.pupil, follow_up_visit__isnull=False)
            .order_by("-reviewed_at").values_list("reviewed_at", flat=True).first())
    if last is not None:
        broken = broken.filter(reviewed_at__gt=last)
    return broken.exists()


def _propose_follow_up(agreement, clause):
    """Propose a follow-up visit through the normal path (visits.services.propose), so that it is
    approved like any other. It is proposed in the name of the person who made the agreement,
    with the staff who went on the original visit, a week of school days ahead; whoever
    approves and schedules it settles the real date."""
    proposer = agreement.made_by
    people = []
    if agreement.visit is not None:
        people = [a.staff for a in sorted(agreement.visit.assignments.all(), key=lambda a: (not a.lead, a.pk))
                  if a.staff.active]
    people = people or [proposer]
    day = add_school_days(agreement.pupil.school, timezone.localdate(), 5)
    starts = timezone.make_aware(datetime.datetime.combine(day, datetime.time(10, 0)))
    reason = (f"Follow-up visit: the family has not kept agreements made with the school ({cite(clause)}). "
              f"Most recent: \"{agreement.text}\", reviewed {agreement.review_on:%d %b %Y}.")
    try:
        visit = visit_services.propose(proposer, pupil=agreement.pupil, purpose="attendance", reason=reason,
                                       starts_at=starts, ends_at=starts + datetime.timedelta(minutes=45), staff=people)
    except (PermissionDenied, ValidationError, NoPolicy) as exc:
        # Still a record for a person to act on: the note says why Doorstep could not propose it.
        ChronologyNote.objects.create(
            school=agreement.school, pupil=agreement.pupil, kind=ChronologyNote.Kind.OTHER, agreement=agreement,
            text=f"A follow-up visit is due ({cite(clause)}) but Doorstep could not propose it: {exc}",
            clause=clause, at=timezone.now(),
        )
        return None
    Agreement.objects.filter(pk=agreement.pk).update(follow_up_visit=visit)
    agreement.follow_up_visit = visit
    audit.record(actor=None, school=agreement.school, action=Action.AGREEMENT_FOLLOW_UP_PROPOSED, obj=agreement,
                 summary="Doorstep proposed a follow-up visit after continued failure to keep agreements",
                 data={"visit": visit.pk, "clause": clause})
    return visit


def reminder_text(agreement) -> str:
    """The draft of the reminder letter. What was agreed is said from the agreement's own terms
    (the attendance window and figure), never by quoting the staff's note of it: that note is
    their shorthand, written for colleagues. The headteacher sees it beside the draft and adds
    what the family should read before approving (edit_letter)."""
    # The day of the visit the agreement was made on (it may have been recorded later).
    made = timezone.localdate(agreement.visit.starts_at if agreement.visit_id else agreement.made_at)
    child = agreement.pupil.first_name
    window = ""
    if agreement.window_from and agreement.window_to:
        window = f" between {agreement.window_from:%A %-d %B} and {agreement.window_to:%A %-d %B %Y}"
    if agreement.check_kind == Agreement.Check.MIN_PERCENT and agreement.min_percent is not None:
        if agreement.min_percent >= 100:
            terms = f"{child} would attend school every day{window}"
        else:
            terms = f"{child} would attend school for at least {Decimal(str(agreement.min_percent)).normalize():f}% of the time{window}"
        agreed = f"we agreed together that {terms}."
    elif agreement.check_kind == Agreement.Check.NO_UNAUTHORISED:
        agreed = f"we agreed together that {child} would have no absence from school without a good reason{window}."
    else:
        agreed = f"we made an agreement together about {child}'s attendance at school."
    return (
        f"When we visited you on {made:%A %-d %B %Y}, {agreed}\n\n"
        f"We reviewed this on {agreement.review_on:%A %-d %B %Y} and the agreement has not been kept. "
        "We want to work with you so that your child can attend school every day, and we would like "
        "to talk with you about what is getting in the way.\n\n"
        "Please contact the school office as soon as you can to arrange a time to speak with us. "
        "If the agreement continues not to be kept, the school will arrange a further home visit."
    )


def review_due_agreements(today=None) -> dict:
    """The daily check: every open measurable agreement whose review date has come is marked
    kept or broken from the attendance marks. Returns counts. Safe to run twice at once:
    review_agreement only acts on an agreement that is still open."""
    today = today or timezone.localdate()
    counts = {"kept": 0, "broken": 0, "for_a_person": 0}
    due = (Agreement.objects.filter(status=Agreement.Status.OPEN, review_on__lte=today)
           .select_related("pupil", "school", "visit", "made_by").order_by("review_on", "pk"))
    for agreement in due:
        verdict, why = evaluate_agreement(agreement)
        if verdict is None:
            counts["for_a_person"] += 1
            continue
        try:
            review_agreement(agreement, kept=(verdict == "kept"), outcome=why)
        except ValidationError:
            continue  # someone reviewed it a moment ago
        counts[verdict] += 1
    return counts


# ------------------------------------------------------------------------- letters

def edit_letter(actor, letter, *, addressee: str, body: str, request=None) -> Letter:
    """The headteacher rewrites a draft letter before approving it (C 4.2: the head sends it, so
    the words are theirs). Only a draft can change; the wording before the change is kept on
    the audit trail."""
    _require(actor, "letter.send", letter, "change the wording of letters")
    addressee, body = (addressee or "").strip(), (body or "").replace("\r\n", "\n").strip()
    errors = {}
    if not addressee:
        errors["addressee"] = "Say who the letter is to, for example Ms Claire Hall."
    if not body:
        errors["body"] = "Write the letter: it cannot be sent empty."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        locked = Letter.objects.select_for_update().get(pk=letter.pk)
        if locked.status != Letter.Status.DRAFT:
            raise ValidationError({"__all__": "This letter has already been sent, so its wording cannot change."})
        if (locked.addressee, locked.body) == (addressee, body):
            return locked
        before = {"addressee": locked.addressee, "body": locked.body}
        locked.addressee, locked.body = addressee, body
        locked.save(update_fields=["addressee", "body"])
        audit.record(actor=actor, school=locked.school, action=Action.LETTER_EDITED, obj=locked,
                     summary=f"{actor.full_name} changed the wording of a reminder letter before sending it",
                     data={"before": before}, request=request)
    return locked


def send_letter(actor, letter, *, request=None) -> Letter:
    """The headteacher approves and sends a prepared letter (C 4.2). The PDF as sent is kept."""
    _require(actor, "letter.send", letter, "approve and send letters")
    with transaction.atomic():
        locked = Letter.objects.select_for_update().get(pk=letter.pk)
        if locked.status != Letter.Status.DRAFT:
            raise ValidationError({"__all__": "This letter has already been sent."})
        locked.status, locked.sent_by, locked.sent_at = Letter.Status.SENT, actor, timezone.now()
        locked.sent_pdf = letter_pdf(locked)
        locked.save(update_fields=["status", "sent_by", "sent_at", "sent_pdf"])
        # "A reminder letter is waiting for you" no longer is, for the head who sent it or any other.
        settled = settle(locked.school, kind="letter.draft", link=reverse("reports:letter", args=[locked.pk]))
        audit.record(actor=actor, school=locked.school, action=Action.LETTER_SENT, obj=locked,
                     summary=f"{actor.full_name} approved and sent a reminder letter", request=request,
                     data={"messages_settled": settled})
    return locked


# ------------------------------------------------------------------------- calendar feeds

def create_calendar_feed(actor, *, request=None) -> str:
    """A new secret calendar address for this person; earlier ones are revoked. Returns the
    token, which is shown once: only its hash is kept."""
    _require(actor, "calendar.subscribe", None, "subscribe to a visit calendar")
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        CalendarFeed.objects.filter(staff=actor, revoked_at__isnull=True).update(revoked_at=timezone.now())
        feed = CalendarFeed.objects.create(staff=actor, token_hash=CalendarFeed.hash(token), created_at=timezone.now())
        audit.record(actor=actor, school=actor.school, action=Action.CALENDAR_CREATED, obj=feed,
                     summary=f"{actor.full_name} created a calendar address for their visits", request=request)
    return token


def revoke_calendar_feeds(actor, *, request=None) -> int:
    with transaction.atomic():
        n = CalendarFeed.objects.filter(staff=actor, revoked_at__isnull=True).update(revoked_at=timezone.now())
        if n:
            audit.record(actor=actor, school=actor.school, action=Action.CALENDAR_REVOKED, obj=actor,
                         summary=f"{actor.full_name} turned off their calendar address", request=request)
    return n


def feed_for_token(token: str):
    if not token or len(token) > 100:
        return None
    feed = (CalendarFeed.objects.filter(token_hash=CalendarFeed.hash(token), revoked_at__isnull=True)
            .select_related("staff", "staff__school").first())
    if feed is None or not feed.staff.active:
        return None
    return feed
