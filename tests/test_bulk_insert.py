"""core.bulk.insert_new writes the rows QuerySet.bulk_create would: every column the same,
read back from the database, for the three models the watchdog writes that way (messages with
their times, audit entries with JSON and an IP address, alert steps), on both databases."""
import datetime
import zoneinfo
from decimal import Decimal

import pytest
import time_machine
from django.db import DatabaseError, models
from django.db.models import signals
from django.utils import timezone

from attendance.models import ReferralCase
from audit import services as audit
from audit.actions import Action
from audit.models import AuditEntry
from core import bulk
from notify.models import Channel, Message
from safety.alerts.models import AlertStep
from safety.alerting import raise_alert
from safety.checkins.models import VisitEvent, Watch

from tests.factories import PupilFactory, Staffed, VisitFactory

pytestmark = pytest.mark.django_db


def columns(obj: models.Model) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields if not f.primary_key}


def written(model, made, key):
    """The rows `made` (unsaved instances) come back as, by `key`, without their ids."""
    return {key(row): columns(row) for row in model.objects.filter(pk__in=made)}


def test_the_rows_written_are_the_rows_bulk_create_writes():
    school = Staffed("coteford")
    visit = VisitFactory(school=school.school, pupil=school.pupil, staff=[school.officer])
    alert = raise_alert(visit, kind="panic", now=timezone.now())
    now = timezone.now().replace(microsecond=123456)
    later = now + datetime.timedelta(minutes=5)

    def messages(tag):
        return [
            Message(idempotency_key=f"{tag}:{n}", recipient=person, channel=channel, school=school.school,
                    kind="alert.overdue", alert_id=alert.pk, to_address=f"0770090{n:04d}", subject="Overdue “visit”",
                    body="Ring the office — now.\nSecond line", link="/alerts/1/", created_at=now,
                    next_attempt_at=later, status=Message.Status.SENT if channel == Channel.IN_APP else
                    Message.Status.PENDING, sent_at=now if channel == Channel.IN_APP else None)
            for n, (person, channel) in enumerate([(school.office, Channel.IN_APP), (school.head, Channel.SMS),
                                                  (school.dsl, Channel.EMAIL)])]

    def entries(tag):
        return [AuditEntry(school=school.school, at=now, actor=school.head.user, actor_name="Hana Head",
                           action="alert.raised", object_type="alerts.alert", object_id=tag, summary=f"{tag} raised",
                           data={"when": now.isoformat(), "late": 1.5, "steps": [1, None, "x"], "ok": True},
                           ip_address="192.0.2.7", user_agent="Mozilla/5.0"),
                AuditEntry(school=None, at=later, actor=None, actor_name="", action="alert.step",
                           object_type="alerts.alert", object_id=tag, summary="no IP", data={}, ip_address=None)]

    def steps(first):  # a step is written once per alert: each writer has its own numbers
        return [AlertStep(alert=alert, step=first + n, at=now, due_at=later if n else now, notify=["office", "dsl"],
                          recipients=n) for n in (0, 1)]

    Message.objects.bulk_create(messages("django"))
    assert bulk.insert_new(Message, messages("ours")) == 3
    by_key = {k.split(":")[1]: v for k, v in ((m.idempotency_key, columns(m)) for m in
                                               Message.objects.filter(kind="alert.overdue", alert_id=alert.pk))
              if k.startswith("django:")}
    for mine in Message.objects.filter(idempotency_key__startswith="ours:"):
        theirs = by_key[mine.idempotency_key.split(":")[1]]
        ours = columns(mine)
        assert ours.pop("idempotency_key").replace("ours", "django") == theirs.pop("idempotency_key")
        assert ours == theirs
    assert Message.objects.get(idempotency_key="ours:0").created_at == now  # microseconds and zone kept

    AuditEntry.objects.bulk_create(entries("django"))
    bulk.insert_new(AuditEntry, entries("ours"))
    theirs = sorted((columns(e) for e in AuditEntry.objects.filter(object_id="django")), key=lambda c: c["action"])
    ours = sorted((columns(e) for e in AuditEntry.objects.filter(object_id="ours")), key=lambda c: c["action"])
    for row in theirs + ours:
        row["object_id"] = "same"
        row["summary"] = row["summary"].replace("django", "same").replace("ours", "same")
    assert ours == theirs
    assert ours[0]["data"]["steps"] == [1, None, "x"] and ours[0]["ip_address"] == "192.0.2.7"

    AlertStep.objects.bulk_create(steps(10))
    bulk.insert_new(AlertStep, steps(20))
    theirs = [columns(s) for s in AlertStep.objects.filter(step__in=[10, 11]).order_by("step")]
    ours = [columns(s) for s in AlertStep.objects.filter(step__in=[20, 21]).order_by("step")]
    for row in theirs + ours:
        row["step"] %= 10
    assert ours == theirs and len(ours) == 2


def test_referral_cases_dates_and_decimals_are_written_as_bulk_create_writes_them():
    school = Staffed("coteford")
    today = timezone.localdate()

    def cases(percent):
        return [ReferralCase(school=school.school, pupil=school.pupil, opened_on=today, window_start=today.replace(day=1),
                             window_end=today, possible=120, attended=101, authorised=9, unauthorised=10,
                             percent=percent, threshold_percent=90, clause="C 4.4", penalty_sessions=7,
                             cleared_on=today)]

    ReferralCase.objects.bulk_create(cases(Decimal("84.2")))
    bulk.insert_new(ReferralCase, cases(Decimal("84.2")))
    # As plain rows, leaving out what takes its default (the state, the code set, the note).
    given = {f.attname: getattr(cases(Decimal("84.2"))[0], f.attname) for f in ReferralCase._meta.concrete_fields
             if f.attname not in ("id", "state", "code_set", "note", "decided_by_id", "decided_at", "referred_on")}
    assert bulk.insert_rows(ReferralCase, [given]) == 1
    theirs, ours, rows = (columns(c) for c in ReferralCase.objects.order_by("pk"))
    assert ours == theirs == rows and ours["percent"] == Decimal("84.2") and ours["window_end"] == today
    assert rows["state"] == ReferralCase.State.OPEN and rows["note"] == "" and rows["decided_at"] is None


def test_many_audit_entries_written_at_once_are_the_entries_record_writes():
    """record_many() (the referral scan's cases, an import's changed marks) writes what record()
    writes for each, but for the moment: an over-long summary cut the same way, the actor's
    login and name, no request."""
    school = Staffed("coteford")
    long = "Attendance mark changed " + "x" * 400
    given = [(school.pupil.pk, long, {"line": 3, "from": "/", "to": "O"}), (42, "Short", {})]
    with time_machine.travel(timezone.now(), tick=False):
        for object_id, summary, data in given:
            audit.record(actor=school.head, school=school.school, action=Action.ATTENDANCE_MARK_CHANGED,
                         obj=_Ref(object_id), summary=summary, data=data)
        assert audit.record_many(actor=school.head, school_id=school.school.pk, action=Action.ATTENDANCE_MARK_CHANGED,
                                 object_type="_ref", entries=given) == 2
    theirs, ours = ([columns(e) for e in entries] for entries in (AuditEntry.objects.order_by("pk")[:2],
                                                                   AuditEntry.objects.order_by("pk")[2:]))
    assert ours == theirs
    assert len(ours[0]["summary"]) == 300 and ours[0]["summary"].endswith("…")
    assert ours[0]["actor_id"] == school.head.user_id and ours[0]["actor_name"] == school.head.full_name
    with pytest.raises(audit.UnknownAction):
        audit.record_many(actor=None, school_id=None, action="not.an.action", object_type="_ref", entries=[])


class _Ref:
    """Something audited that is not a model: its kind is its class name, as record() says it."""

    def __init__(self, pk):
        self.pk = pk


def test_values_repeated_down_a_column_are_written_as_bulk_create_writes_each():
    """Values that repeat down a column, and values equal to each other but written differently
    (a decimal's trailing zero, the same instant in another time zone), are stored as
    bulk_create stores each of them."""
    school = Staffed("coteford")
    pupils = [school.pupil, PupilFactory(school=school.school), PupilFactory(school=school.school)]
    today = timezone.localdate()
    percents = [Decimal("84.2"), Decimal("84.20"), Decimal("71.5")]
    london = zoneinfo.ZoneInfo("Europe/London")
    moment = timezone.now().replace(microsecond=0)
    decided = [moment, moment.astimezone(london), moment + datetime.timedelta(hours=1)]

    def case(pupil, percent, at):
        return {"school_id": school.school.pk, "pupil_id": pupil.pk, "opened_on": today, "window_start": today,
                "window_end": today, "possible": 120, "attended": 101, "authorised": 9, "unauthorised": 10,
                "percent": percent, "threshold_percent": 90, "clause": "C 4.4", "penalty_sessions": 7,
                "decided_at": at, "cleared_on": today}

    ReferralCase.objects.bulk_create([ReferralCase(**case(*given)) for given in zip(pupils, percents, decided, strict=True)])
    assert bulk.insert_rows(ReferralCase, [case(*given) for given in zip(pupils, percents, decided, strict=True)]) == 3
    theirs, ours = ([columns(c) for c in ReferralCase.objects.order_by("pk")][i:i + 3] for i in (0, 3))
    assert ours == theirs
    assert [c["percent"] for c in ours] == [Decimal("84.2"), Decimal("84.2"), Decimal("71.5")]
    assert [c["decided_at"] for c in ours] == [moment, moment, moment + datetime.timedelta(hours=1)]


def test_rows_that_share_values_give_them_once_and_are_written_alike():
    """What every row shares (the school, the day, the threshold) is given once, as `alike`; the
    rows written are the rows each giving every value would write."""
    school = Staffed("coteford")
    pupils = [school.pupil, PupilFactory(school=school.school)]
    today = timezone.localdate()
    shared = {"school_id": school.school.pk, "opened_on": today, "window_start": today.replace(day=1),
              "window_end": today, "threshold_percent": 90, "clause": "C 4.4"}
    own = [{"pupil_id": p.pk, "possible": 120, "attended": 101 - n, "authorised": 9, "unauthorised": 10 + n,
            "percent": Decimal("84.2") - n, "penalty_sessions": 7} for n, p in enumerate(pupils)]
    assert bulk.insert_rows(ReferralCase, [{**shared, **row} for row in own]) == 2
    ReferralCase.objects.update(cleared_on=today)
    assert bulk.insert_rows(ReferralCase, own, alike=shared) == 2
    whole, alike = ([{k: v for k, v in columns(c).items() if k != "cleared_on"} for c in cases]
                    for cases in (ReferralCase.objects.filter(cleared_on=today).order_by("pk"),
                                  ReferralCase.objects.filter(cleared_on__isnull=True).order_by("pk")))
    assert alike == whole
    assert [c["percent"] for c in alike] == [Decimal("84.2"), Decimal("83.2")]
    assert {c["state"] for c in alike} == {ReferralCase.State.OPEN} and {c["clause"] for c in alike} == {"C 4.4"}


@pytest.mark.parametrize("rows, alike, says", [
    ([{"pupil_id": 1, "colour": "red"}], {}, "colour not a column"),
    ([{"pupil_id": 1, "clause": "C 4.4"}], {"clause": "C 4.4"}, "clause given in each row and as alike"),
    ([{"pupil_id": 1, "attended": 3}, {"pupil_id": 2}], {}, "row 2 gives pupil_id; the first gave attended, pupil_id"),
    ([{"pupil_id": 1, "attended": 3}, {"pupil_id": 2, "possible": 4}], {},
     "row 2 gives possible, pupil_id; the first gave attended, pupil_id"),
])
def test_rows_unlike_each_other_or_the_model_are_refused_and_nothing_is_written(rows, alike, says):
    with pytest.raises(ValueError, match=says):
        bulk.insert_rows(ReferralCase, rows, alike=alike)
    assert not ReferralCase.objects.exists()


def test_nothing_to_write_touches_nothing():
    assert bulk.insert_new(Message, []) == 0
    assert not Message.objects.exists()


def test_one_row_inserted_or_updated_is_the_row_save_writes():
    """insert_one and update_columns write a check-in's event, its audit entry and its watch's
    changed columns: the same rows save() writes, ids given back, on both databases."""
    school = Staffed("coteford")
    visit = VisitFactory(school=school.school, pupil=school.pupil, staff=[school.officer])
    now = timezone.now().replace(microsecond=654321)

    def event():
        return VisitEvent(visit=visit, school_id=visit.school_id, type="check_in", at=now, recorded_at=now,
                          staff=school.officer, recorded_by=school.officer, via="phone", concerns="Dog “loose”",
                          note="", expected_return=None, location="Kitchen — upstairs", reason="")

    saved, ours = event(), event()
    saved.save()
    bulk.insert_one(ours)
    assert ours.pk is not None and ours.pk != saved.pk and not ours._state.adding
    assert columns(VisitEvent.objects.get(pk=ours.pk)) == columns(VisitEvent.objects.get(pk=saved.pk))
    with pytest.raises(ValueError):
        bulk.insert_one(ours)  # already written: never a second row, never an update

    entry = AuditEntry(school=school.school, at=now, actor=school.head.user, actor_name="Hana Head",
                       action="visit.event", object_type="visits.visit", object_id=str(visit.pk), summary="s",
                       data={"at": now.isoformat(), "n": [1, None]}, ip_address="2001:db8::1", user_agent="")
    bulk.insert_one(entry)
    back = AuditEntry.objects.get(pk=entry.pk)
    assert columns(back) == columns(entry) and back.data == {"at": now.isoformat(), "n": [1, None]}

    watch = Watch.objects.create(visit=visit, school_id=visit.school_id, updated_at=now, started_at=now)
    watch.due_at, watch.last_location, watch.status = now + datetime.timedelta(minutes=20), "Garden", "overdue"
    bulk.update_columns(watch, ["due_at", "last_location", "status"])
    assert columns(Watch.objects.get(pk=watch.pk)) == columns(watch)
    Watch.objects.filter(pk=watch.pk).delete()
    with pytest.raises(DatabaseError):
        bulk.update_columns(watch, ["status"])  # as save(update_fields=…): a row gone is an error


def test_nothing_listens_for_the_rows_written_without_save():
    """insert_one and update_columns send no signals, as bulk_create sends none: nothing may
    listen for these models' saves, or it would miss the check-ins'."""
    for model in (VisitEvent, AuditEntry, Watch):
        assert not signals.pre_save.has_listeners(model) and not signals.post_save.has_listeners(model), model
