"""Schools are isolated (docs/security.md, "Who may see what"): a member of staff of school A, holding every role,
cannot read, list, change or guess school B's records through page URLs, search boxes,
exports, the iCalendar feed or the API.

Models are found, not listed: every model with a foreign-key path to School is a school's
record, and the world below must hold at least one of B's; a new model without one fails
`test_every_school_record_type_is_in_the_isolation_world`. Page URLs and API operations are
found the same way (the URL resolver, the OpenAPI document), so a new page is tried too.
School A has almost nothing of its own, so any 200 answer to one of B's ids is B's data."""
import datetime
import re

import pytest
from django.apps import apps
from django.db import transaction
from django.urls import URLResolver, get_resolver
from django.utils import timezone

from audit.actions import Action
from audit.services import record
from schools.models import School
from doorstep.permission_places import api_operations
from tests.factories import (HazardFactory, HouseholdNoteFactory, OverrideFactory, SchoolFactory, StaffFactory,
                             Staffed, UserFactory, VehicleFactory, VisitFactory, VisitListFactory)
from tests.records_support import ended_visit, last_weekday, marks, report_data

MARKERS = ("Leakwood", "Leakcheck", "LEAKB")
ALL_ROLES = ["headteacher", "deputy_headteacher", "dsl", "business_manager", "office", "attendance_officer",
             "teacher", "family_support"]
REFUSED = {403, 404, 405}
NOWHERE = 987654321  # an id no record has
A_IDS = 900001  # school A's school, user and staff record


def school_path(model, depth=0, seen=()):
    """The lookup from `model` to its School ("" for School; None if it has none)."""
    if model is School:
        return ""
    if depth > 3:
        return None
    fks = [f for f in model._meta.get_fields() if f.many_to_one and f.concrete and f.related_model]
    for field in sorted(fks, key=lambda f: (f.related_model is not School, f.null)):
        if field.related_model in seen:
            continue
        rest = school_path(field.related_model, depth + 1, seen + (model,))
        if rest is not None:
            return field.name + ("__" + rest if rest else "")
    return None


SCHOOL_MODELS = sorted((m._meta.label for m in apps.get_models()
                        if m is not School and school_path(m) is not None))


def int_urls():
    """(URL name, path template) for every page outside the admin and the API with an
    <int:...> parameter; the API is tried from its OpenAPI document."""
    found = []

    def walk(patterns, prefix="", ns=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + str(p.pattern), f"{ns}:{p.namespace}" if ns and p.namespace else (p.namespace or ns))
            elif "<int:" in str(p.pattern):
                found.append(((f"{ns}:" if ns else "") + (p.name or ""), "/" + prefix + str(p.pattern)))

    walk(get_resolver().url_patterns)
    return [(n, path) for n, path in found if not path.startswith(("/admin/", "/api/"))]


def fill(template, value):
    path = re.sub(r"<int:[a-z_]+>", str(value), template)
    path = re.sub(r"<str:event>", "arrived", path)
    return re.sub(r"<(?:str|slug):[a-z_]+>", "x", path)


def fill_api(path, value):
    return re.sub(r"\{[a-z_]+\}", str(value), path)


def leaks(response):
    body = response.content.decode("utf-8", errors="ignore")
    return [m for m in MARKERS if m in body]


# ------------------------------------------------------------------ the world

def build_b():
    """School B with at least one of every kind of school record, all marked."""
    from accounts.invitations import invite
    from accounts.services import issue_token
    from safety.alerts.models import Alert, AlertStep
    from attendance.models import ImportMapping, ImportRun, ReferralCase
    from safety.checkins.models import VisitEvent, Watch, WatchStaff
    from notify.models import DeliveryAttempt, Message
    from pupils.models import Pupil, PupilImportMapping
    from reports.models import Agreement, ChronologyNote, Concern, Filing, Letter
    from reports.services import create_calendar_feed, submit_report
    from retention.models import RetentionRule
    from safety.readiness.models import Drill, ProviderCheck
    from schools.models import SchoolClosure
    from mis.models import SyncRun, WondeConnection
    from retention.rules import SCHEDULES
    from visits.models import Visit

    now = timezone.now()
    b = Staffed("potton", name="Leakcheck Primary School")
    Pupil.objects.filter(pk=b.pupil.pk).update(last_name="Leakwood", access_notes="LEAKB gate code")
    b.pupil.refresh_from_db()
    HouseholdNoteFactory(pupil=b.pupil, text="LEAKB dog in the garden")
    HazardFactory(assessment=b.home_ra, hazard="LEAKB loose floorboard")
    VehicleFactory(staff=b.officer, colour="LEAKB green")
    marks(b.pupil, last_weekday(0) - datetime.timedelta(days=14), "//NN//")
    SchoolClosure.objects.create(school=b.school, first_day=now.date(), last_day=now.date(), label="LEAKB INSET day")
    ImportMapping.objects.create(school=b.school, name="LEAKB mapping", pupil_column="UPN", date_column="Date",
                                 session_column="Session", mark_column="Mark")
    ImportRun.objects.create(school=b.school, at=now, file_name="LEAKB.csv", mapping="LEAKB", rows=1, created=1,
                             updated=0, unchanged=0)
    ReferralCase.objects.create(school=b.school, pupil=b.pupil, opened_on=timezone.localdate(),
                                window_start=timezone.localdate() - datetime.timedelta(days=30),
                                window_end=timezone.localdate(), possible=10, attended=5, authorised=1,
                                unauthorised=4, percent=50, threshold_percent=90, clause="P §7¶4")
    scheduled = VisitFactory(school=b.school, pupil=b.pupil, staff=[b.officer, b.teacher], state=Visit.State.UNDER_WAY,
                             reason="LEAKB reason", starts_at=now - datetime.timedelta(minutes=30),
                             ends_at=now + datetime.timedelta(minutes=30), proposed_by=b.officer)
    OverrideFactory(visit=scheduled, by=b.head, reason="LEAKB override")
    VisitListFactory(school=b.school, created_by=b.office, title="LEAKB list")
    VisitEvent.objects.create(visit=scheduled, school=b.school, type="arrived", at=now, recorded_at=now,
                              recorded_by=b.officer)
    watch = Watch.objects.create(visit=scheduled, school=b.school, started_at=now, updated_at=now)
    WatchStaff.objects.create(watch=watch, staff=b.officer)
    alert = Alert.objects.create(school=b.school, visit=scheduled, kind=Alert.Kind.OVERDUE, raised_at=now, ladder=[])
    AlertStep.objects.create(alert=alert, step=1, at=now)
    message = Message.objects.create(school=b.school, recipient=b.head, channel="in_app", kind="alert",
                                     subject="LEAKB subject", body="LEAKB body", idempotency_key="leakb-1")
    DeliveryAttempt.objects.create(message=message, provider="console", ok=True)
    ended = ended_visit(b)
    report = submit_report(b.officer, ended, report_data(summary="LEAKB summary"))
    Concern.objects.create(school=b.school, pupil=b.pupil, visit=ended, report=report, kind="safeguarding",
                           details="LEAKB concern", raised_by=b.officer, raised_at=now, clause="P §8¶2")
    Agreement.objects.create(school=b.school, pupil=b.pupil, visit=ended, text="LEAKB agreement",
                             review_on=timezone.localdate(), made_by=b.officer, made_at=now)
    Letter.objects.create(school=b.school, pupil=b.pupil, addressee="LEAKB parent", body="LEAKB letter",
                          clause="C 4.4", prepared_at=now)
    ChronologyNote.objects.create(school=b.school, pupil=b.pupil, kind=ChronologyNote.Kind.choices[0][0],
                                  text="LEAKB note", at=now)
    Filing.objects.create(school=b.school, visit=ended, system="LEAKB system", reference="LEAKB-1", by=b.office, at=now)
    b.feed_token = create_calendar_feed(b.officer)
    issue_token(b.head, name="LEAKB token", scopes=["read"], days=30)
    invite(b.office, by=b.head)  # an open invitation (accounts.Invitation)
    PupilImportMapping.objects.create(school=b.school, name="LEAKB pupils mapping", columns={"upn": "LEAKB UPN"})
    RetentionRule.objects.create(school=b.school, record_type=next(iter(SCHEDULES)), years=9, reason="LEAKB",
                                 changed_at=now)
    record(actor=b.head, school=b.school, action=Action.READ, obj=b.pupil, summary="LEAKB audit entry")
    # An open test alarm: school A's board and readiness panel must not sound or show it.
    Drill.objects.create(school=b.school, started_by=b.head, started_at=now)
    # Provider checks serve the whole installation, but who pressed "Check now" is B's business.
    ProviderCheck.objects.create(provider=ProviderCheck.Provider.SMTP, ok=False, detail="Connection refused",
                                 checked_at=now, checked_by=b.head)
    # B's Wonde connection and a failed sync: A's Wonde page and checklist never show them.
    WondeConnection.objects.create(school=b.school, wonde_school_id="LEAKB1", token_encrypted="x", token_hint="LEAK",
                                   changed_at=now)
    SyncRun.objects.create(school=b.school, started=now, finished=now, ok=False, error="LEAKB sync error")
    # And a sync of B's asked for and under way: A's sync panel (and its htmx refresh) never shows it.
    SyncRun.objects.create(school=b.school, status=SyncRun.Status.RUNNING, started=now, by_name="LEAKB requester")
    b.visit, b.ended = scheduled, ended
    return b


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """B's records, then school A with one person holding every role and nothing else."""
    with django_db_blocker.unblock():
        with transaction.atomic():
            b = build_b()
            # A's own rows get ids far above B's, so no id tried can be one of A's records.
            a_school = SchoolFactory(pk=A_IDS, name="Alpha Isolated School", policy="potton")
            a = StaffFactory(pk=A_IDS, school=a_school, user=UserFactory(pk=A_IDS), roles=ALL_ROLES,
                             full_name="Alex Everyrole")
            a_ids = {A_IDS}
            b_ids = {}
            for label in SCHOOL_MODELS:
                model = apps.get_model(label)
                ids = model.objects.filter(**{school_path(model): b.school}).order_by("pk").values_list("pk", flat=True)
                b_ids[label] = [i for i in ids if isinstance(i, int) and i not in a_ids][:2]
            yield {"a": a, "b": b, "b_ids": b_ids, "answers": {}}
            transaction.set_rollback(True)


@pytest.fixture
def as_a(world, client, db):
    client.force_login(world["a"].user)
    return client


def answer(client, world, method, path):
    """Each (method, path) is asked once per module: many models share ids."""
    key = (method, path)
    if key not in world["answers"]:
        response = getattr(client, method)(path, content_type="application/json") if path.startswith("/api/") \
            else getattr(client, method)(path)
        # A search page repeats what was searched for: only the other markers count there.
        leaked = [m for m in leaks(response) if m not in path]
        world["answers"][key] = (response.status_code, leaked, response.get("Content-Type", ""))
    return world["answers"][key]


# ------------------------------------------------------------------ the tests

@pytest.mark.parametrize("label", SCHOOL_MODELS)
def test_every_school_record_type_is_in_the_isolation_world(world, db, label):
    assert world["b_ids"][label], (
        f"{label} belongs to a school but tests/security/test_isolation.py makes none of school B's: add one to build_b()")


@pytest.mark.parametrize("label", SCHOOL_MODELS)
def test_school_b_records_cannot_be_reached_through_any_page_url(world, as_a, label):
    problems = []
    for b_id in world["b_ids"][label]:
        for name, template in int_urls():
            path = fill(template, b_id)
            status, leaked, ctype = answer(as_a, world, "get", path)
            if status == 405:
                status, leaked, ctype = answer(as_a, world, "post", path)
            if leaked or status not in REFUSED:
                problems.append(f"{path} ({name}) -> {status} {ctype} {leaked}")
    assert not problems, f"{label} of school B reachable from school A:\n" + "\n".join(problems)


API_OPERATIONS = api_operations()


@pytest.mark.parametrize("operation", API_OPERATIONS)
def test_no_api_operation_gives_school_b_data(world, as_a, operation):
    method, path = operation.split(" ", 1)
    problems = []
    if "{" in path:
        # B's ids must get exactly the answer an id that exists nowhere gets: nothing to guess from.
        nowhere, _, _ = answer(as_a, world, method.lower(), fill_api(path, NOWHERE))
        assert nowhere != 200
        ids = sorted({i for ids in world["b_ids"].values() for i in ids})
        for b_id in ids:
            status, leaked, _ = answer(as_a, world, method.lower(), fill_api(path, b_id))
            if leaked or status != nowhere:
                problems.append(f"{method} {fill_api(path, b_id)} -> {status} {leaked} (an unknown id: {nowhere})")
    else:
        for query in ("", f"?school_id={world['b'].school.pk}"):
            status, leaked, _ = answer(as_a, world, method.lower(), path + query)
            if leaked or status == 500:
                problems.append(f"{method} {path}{query} -> {status} {leaked}")
    assert not problems, "\n".join(problems)


LIST_PAGES = ["/", "/visits/", "/visits/?state=under_way", "/visits/approvals/", "/visits/lists/", "/pupils/",
              "/pupils/?q=Leakwood", "/risk/", "/attendance/referrals/", "/staff/", "/policy/", "/today/",
              "/board/", "/board/live/", "/board/alerts/", "/board/readiness/", "/notify/", "/reports/letters/", "/reports/concerns/", "/reports/calendar/",
              "/audit/", "/audit/?pupil=Leakwood", "/audit/?text=LEAKB", "/audit/export.csv?text=LEAKB",
              "/data-protection/", "/accounts/tokens/", "/mis/wonde/", "/pupils/import/",
              "/setup/checklist/", "/policy/draft/", "/board/alarms/", "/mis/wonde/status/"]


@pytest.mark.parametrize("path", LIST_PAGES)
def test_lists_searches_and_exports_show_nothing_of_school_b(world, as_a, path):
    status, leaked, _ = answer(as_a, world, "get", path)
    assert status in {200, 302, 403}, status
    assert not leaked


def test_switching_to_school_b_is_refused(world, as_a):
    from people.access import SESSION_KEY

    as_a.post("/school/switch/", {"school": world["b"].school.pk})
    assert as_a.session.get(SESSION_KEY) != world["b"].school.pk
    assert not leaks(as_a.get("/pupils/"))


def test_the_calendar_feed_holds_only_ones_own_visits(world, as_a):
    from reports.services import create_calendar_feed

    token = create_calendar_feed(world["a"])
    response = as_a.get(f"/reports/calendar/{token}.ics")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/calendar")
    assert not leaks(response)
    # B's own feed shows B's visits to whoever holds its secret address, and a guessed one nothing.
    assert as_a.get(f"/reports/calendar/{world['b'].feed_token[:-2]}xx.ics").status_code == 404


def test_a_subject_access_export_cannot_name_school_bs_pupil(world, as_a):
    response = as_a.post("/data-protection/", {"kind": "pupil", "pupil": world["b"].pupil.pk,
                                                "staff": world["b"].officer.pk})
    assert response.status_code in {200, 400, 403, 404}
    assert response.get("Content-Type", "").startswith("text/html")
    assert not leaks(response)


def test_the_readiness_panel_does_not_name_who_checked_the_providers_at_another_school(world, as_a, settings):
    settings.EMAIL_BACKEND, settings.EMAIL_HOST = "django.core.mail.backends.smtp.EmailBackend", "mail.invalid"  # shown
    page = as_a.get("/board/readiness/").content.decode()
    assert "Checked" in page and "someone at another school" in page
    assert world["b"].head.full_name not in page
