"""Alerts and the escalation ladder (docs/safety-core.md, "Alerts"): raised by the watchdog's poll at alert_at,
in one transaction with the watch's change; advanced on deadlines; cancelled by
acknowledging; closed only with a reason; the police card. Controlled clock throughout."""
import datetime
from unittest import mock

import pytest
from django.core.exceptions import ValidationError

from safety import alerting, recording
from safety import board as board_data
from safety import watchdog as watchdog_loop
from safety.police_card import police_card as read_police_card
from safety.alerts.models import Alert, AlertStep
from audit.models import AuditEntry
from safety.checkins.models import VisitEvent, Watch
from notify.models import Message
from visits.services import NotAllowed

from tests.factories import HouseholdNoteFactory, Staffed, VehicleFactory, compliant_staff
from tests.safety.support import local, scheduled_visit

pytestmark = pytest.mark.django_db


@pytest.fixture
def coteford(clock):
    return Staffed("coteford", name="Coteford Junior School")


@pytest.fixture
def inside(coteford, clock):
    """A Coteford pair inside the home since 10:00 on a visit to 11:30: the next check-in is due
    at 10:20, alert at 10:25."""
    visit = scheduled_visit(coteford, [coteford.officer, coteford.teacher], minutes=90)
    clock.move_to(local(9, 40))
    recording.record_event(visit, "left_school", by=coteford.officer)
    clock.move_to(local(10, 0))
    recording.record_event(visit, "arrived", by=coteford.officer, location="Outside the house")
    recording.record_event(visit, "entered", by=coteford.officer)
    return visit


def watch(visit):
    return Watch.objects.get(visit=visit)


def told(alert, step):
    return set(Message.objects.filter(alert_id=alert.pk, channel="in_app", idempotency_key=f"alert:{alert.pk}:step:{step}")
               .values_list("recipient__full_name", flat=True))


# ----------------------------------------------------------------------------- raising

def test_the_watchdog_raises_one_alert_at_alert_at_and_not_before(coteford, inside, clock):
    assert watch(inside).alert_at == local(10, 25)
    clock.move_to(local(10, 24, 59))
    assert watchdog_loop.poll()["raised"] == 0
    assert not Alert.objects.exists()
    clock.move_to(local(10, 25))
    assert watchdog_loop.poll()["raised"] == 1
    assert watchdog_loop.poll()["raised"] == 0
    alert = Alert.objects.get()
    assert (alert.kind, alert.step, alert.missed, alert.state) == ("overdue", 0, "check_in_due", "open")
    assert watch(inside).status == "overdue"
    assert told(alert, 0) == {"Olu Office"}  # Coteford's first step: the office (C 2.4)
    assert alert.step_due_at == local(10, 30)


def test_a_crash_between_the_watch_update_and_the_alert_writes_nothing(coteford, inside, clock):
    clock.move_to(local(10, 25))
    # Telling the first step fails, in the batch and then alone: nothing of either is kept.
    with mock.patch.object(alerting, "_compose_step", side_effect=RuntimeError("power cut")):
        assert watchdog_loop.poll()["raised"] == 0  # the failure is logged and retried next loop
    assert watch(inside).status == "ok"
    assert not Alert.objects.exists() and not Message.objects.filter(kind__startswith="alert").exists()
    assert watchdog_loop.poll()["raised"] == 1
    assert Alert.objects.count() == 1


def test_the_ladder_is_copied_onto_the_alert_so_later_policy_changes_do_not_touch_it(coteford, inside, clock):
    clock.move_to(local(10, 25))
    watchdog_loop.poll()
    alert = Alert.objects.get()
    from policies.models import SchoolPolicy

    SchoolPolicy.objects.create(school=coteford.school, version=2, source_name="potton",
                                toml_text=(SchoolPolicy.objects.get(school=coteford.school).toml_text))
    assert alert.ladder[1]["notify"] == ["headteacher", "deputy_headteacher"] and alert.ladder_clause == "C 2.4"


def test_unacknowledged_steps_advance_on_their_deadlines_up_to_everyone(coteford, inside, clock):
    clock.move_to(local(10, 25))
    watchdog_loop.poll()
    alert = Alert.objects.get()
    clock.move_to(local(10, 29, 59))
    assert watchdog_loop.poll()["advanced"] == 0
    clock.move_to(local(10, 30))
    assert watchdog_loop.poll()["advanced"] == 1
    assert told(alert, 1) == {"Hana Head", "Dev Deputy"}
    clock.move_to(local(10, 40))
    watchdog_loop.poll()
    assert told(alert, 2) == {"Hana Head", "Dev Deputy", "Dani Safeguarding"}
    clock.move_to(local(10, 50))
    watchdog_loop.poll()
    alert.refresh_from_db()
    assert alert.step == 3 and alert.step_due_at is None
    # Everyone who can help, never the staff on the visit.
    assert told(alert, 3) == {"Hana Head", "Dev Deputy", "Dani Safeguarding", "Olu Office"}
    clock.move_to(local(12, 0))
    assert watchdog_loop.poll()["advanced"] == 0
    assert list(AlertStep.objects.filter(alert=alert).values_list("step", flat=True)) == [0, 1, 2, 3]


def test_acknowledging_takes_ownership_and_cancels_the_pending_steps(coteford, inside, clock):
    clock.move_to(local(10, 25))
    watchdog_loop.poll()
    alert = Alert.objects.get()
    token = alert.step_token
    clock.move_to(local(10, 27))
    alerting.acknowledge(alert, by=coteford.office)
    assert (alert.state, alert.owner, alert.step_due_at) == ("acknowledged", coteford.office, None)
    assert alert.step_token != token
    # A watchdog that read the old token before the acknowledgement cannot advance it.
    assert alerting.advance(alert.pk, token, local(10, 31)) is False
    clock.move_to(local(11, 30))
    assert watchdog_loop.poll()["advanced"] == 0
    assert AlertStep.objects.filter(alert=alert).count() == 1
    with pytest.raises(NotAllowed, match="already acknowledged by Olu Office"):
        alerting.acknowledge(alert, by=coteford.head)
    assert AuditEntry.objects.filter(action="alert.acknowledged", object_id=str(alert.pk)).count() == 1


def test_only_the_office_and_leaders_may_acknowledge(coteford, inside, clock):
    clock.move_to(local(10, 25))
    watchdog_loop.poll()
    with pytest.raises(NotAllowed):
        alerting.acknowledge(Alert.objects.get(), by=coteford.family)


def test_resolving_needs_a_reason_and_a_note_for_other(coteford, inside, clock):
    clock.move_to(local(10, 25))
    watchdog_loop.poll()
    alert = Alert.objects.get()
    with pytest.raises(ValidationError):
        alerting.resolve(alert, by=coteford.office, reason="")
    with pytest.raises(ValidationError):
        alerting.resolve(alert, by=coteford.office, reason="because")
    with pytest.raises(ValidationError, match="note is required"):
        alerting.resolve(alert, by=coteford.office, reason="other", note=" ")
    alert.refresh_from_db()
    assert alert.state == "open"
    alerting.resolve(alert, by=coteford.office, reason="other", note="Phone battery died; spoke to Ali on Tess's phone.")
    assert (alert.state, alert.resolution, alert.resolved_by) == ("resolved", "other", coteford.office)
    with pytest.raises(NotAllowed, match="already resolved"):
        alerting.resolve(alert, by=coteford.head, reason="staff_safe")


def test_after_resolving_as_staff_safe_the_watch_resumes_from_now(coteford, inside, clock):
    clock.move_to(local(10, 25))
    watchdog_loop.poll()
    clock.move_to(local(10, 28))
    alerting.resolve(Alert.objects.get(), by=coteford.office, reason="staff_safe", note="Rang Ali: all fine.")
    w = watch(inside)
    assert (w.status, w.due_at) == ("ok", local(10, 48))
    assert VisitEvent.objects.filter(visit=inside, type="check_in", via="office_call").count() == 1
    clock.move_to(local(10, 40))
    assert watchdog_loop.poll()["raised"] == 0


def test_resolving_as_police_called_leaves_the_watch_overdue_without_a_second_alert(coteford, inside, clock):
    clock.move_to(local(10, 25))
    watchdog_loop.poll()
    alerting.resolve(Alert.objects.get(), by=coteford.head, reason="police_called", note="Welfare check requested on 101")
    assert watch(inside).status == "overdue"
    clock.move_to(local(11, 0))
    assert watchdog_loop.poll()["raised"] == 0
    assert Alert.objects.count() == 1


def test_the_office_checking_them_in_by_phone_stops_the_escalation_and_clears_the_watch(coteford, inside, clock):
    clock.move_to(local(10, 25))
    watchdog_loop.poll()
    alert = Alert.objects.get()
    clock.move_to(local(10, 27))
    recording.record_event(inside, "check_in", by=coteford.office, via="office_call", note="Ali answered: fine")
    alert.refresh_from_db()
    assert alert.contact_at == local(10, 27) and alert.step_due_at is None
    assert alert.state == "open"  # a person still closes it with a reason
    w = watch(inside)
    assert (w.status, w.due_at) == ("ok", local(10, 47))
    clock.move_to(local(10, 45))
    done = watchdog_loop.poll()
    assert (done["raised"], done["advanced"]) == (0, 0)
    alerting.resolve(alert, by=coteford.office, reason="staff_safe")
    assert VisitEvent.objects.filter(visit=inside, type="check_in").count() == 1  # no second, made-up check-in


def test_a_late_check_in_from_the_phone_also_stops_the_escalation(coteford, inside, clock):
    clock.move_to(local(10, 25))
    watchdog_loop.poll()
    clock.move_to(local(10, 26))
    recording.record_event(inside, "check_in", by=coteford.teacher)
    assert Alert.objects.get().contact_at == local(10, 26)
    assert watch(inside).status == "ok"


def test_reminders_go_to_the_staff_on_the_visit_once(coteford, inside, clock):
    assert watch(inside).reminder_at == local(10, 15)
    clock.move_to(local(10, 15))
    assert watchdog_loop.poll()["reminded"] == 1
    assert watchdog_loop.poll()["reminded"] == 0
    reminded = set(Message.objects.filter(kind="checkin.reminder", channel="in_app")
                   .values_list("recipient__full_name", flat=True))
    assert reminded == {"Ali Attendance", "Tess Teacher"}


def test_potton_office_call_missed_is_its_own_kind(clock):
    potton = Staffed("potton", name="Potton Primary School")
    visit = scheduled_visit(potton, [potton.officer, potton.dsl])
    clock.move_to(local(9, 45))
    recording.record_event(visit, "left_school", by=potton.officer)
    clock.move_to(local(10, 0))
    recording.record_event(visit, "arrived", by=potton.officer)
    w = watch(visit)
    assert (w.next_kind, w.due_at, w.clause) == ("office_call_due", local(10, 10), "P §4¶7")
    board = board_data.board([potton.school.pk], now=local(10, 8))
    assert board["visits"][0]["action"] == f"Call {potton.officer.full_name} now on {potton.officer.mobile}"
    clock.move_to(w.alert_at)
    watchdog_loop.poll()
    assert Alert.objects.get(visit=visit).kind == "office_call_missed"


# ----------------------------------------------------------------------------- the messages

def test_alert_messages_name_the_staff_but_never_the_pupil(coteford, inside, clock):
    clock.move_to(local(10, 25))
    watchdog_loop.poll()
    clock.move_to(local(10, 50))
    for _ in range(3):
        watchdog_loop.poll()
    messages = Message.objects.filter(kind__startswith="alert.")
    assert messages.filter(channel="sms").exists()
    assert messages.first().body.startswith("Ali Attendance and Tess Teacher have not checked in on a home visit")
    for message in messages:
        assert "Ali Attendance" in message.subject + message.body
        for secret in (coteford.pupil.first_name + " " + coteford.pupil.last_name, coteford.pupil.address_line1,
                       coteford.pupil.postcode):
            assert secret not in message.subject + message.body + message.link


# ----------------------------------------------------------------------------- the police card

def test_the_police_card_has_what_the_police_will_ask_and_reading_it_is_audited(coteford, inside, clock):
    coteford.officer.appearance = "Tall, grey coat"
    coteford.officer.save()
    VehicleFactory(staff=coteford.officer, make="Ford", model="Fiesta", colour="red", registration="UX12 ABC")
    HouseholdNoteFactory(pupil=coteford.pupil, kind="animals", text="Large dog, not always shut away", dangerous=True)
    HouseholdNoteFactory(pupil=coteford.pupil, kind="cultural", text="Shoes off at the door")
    recording.record_event(inside, "panic", by=coteford.teacher)
    alert = Alert.objects.get()
    card = read_police_card(alert, by=coteford.office)
    ali = next(s for s in card["staff"] if s["name"] == "Ali Attendance")
    assert ali["appearance"] == "Tall, grey coat" and ali["mobile"] == coteford.officer.mobile
    assert ali["vehicle"] == {"make": "Ford", "model": "Fiesta", "colour": "red", "registration": "UX12 ABC"}
    assert card["address"] == coteford.pupil.address
    assert [r["text"] for r in card["household_risks"]] == ["Large dog, not always shut away"]
    assert card["last_check_in"]["at"] == local(10, 0) and card["last_check_in"]["location"] == "In the home"  # went in after arriving outside
    assert "999" in card["police"]["emergency"] and "101" in card["police"]["welfare"]
    assert card["police"]["immediate_danger_clause"] == "C 2.8"
    assert card["alert"]["red"] is True
    assert AuditEntry.objects.filter(action="alert.police_card_read", object_id=str(alert.pk)).count() == 1
    with pytest.raises(NotAllowed):
        read_police_card(alert, by=coteford.teacher)


# ----------------------------------------------------------------------------- the board and the heartbeat

def test_the_board_puts_alarms_first_then_overdue_then_due_soon_then_fine(coteford, clock):
    # Four pairs: nobody is in two homes at once.
    pairs = [(compliant_staff(coteford.school, "attendance_officer"), compliant_staff(coteford.school, "teacher"))
             for _ in range(4)]
    visits = [scheduled_visit(coteford, list(pair), start=(10, m)) for pair, m in zip(pairs, (0, 1, 2, 3), strict=True)]
    clock.move_to(local(10, 5))
    for v, (officer, _) in zip(visits, pairs, strict=True):
        recording.record_event(v, "arrived", by=officer)
        recording.record_event(v, "entered", by=officer)
    clock.move_to(local(10, 15))
    recording.record_event(visits[3], "check_in", by=pairs[3][0])      # fine: due 10:35
    clock.move_to(local(10, 20))
    recording.record_event(visits[2], "panic", by=pairs[2][1])         # alarm
    recording.record_event(visits[0], "check_in", by=pairs[0][0])      # due at 10:40
    clock.move_to(local(10, 30))
    watchdog_loop.poll()                                                          # visits[1]: overdue since 10:30
    rows = board_data.board([coteford.school.pk], now=local(10, 31))["visits"]
    assert [(r["visit_id"], r["urgency"]) for r in rows] == [
        (visits[2].pk, "alarm"), (visits[1].pk, "overdue"), (visits[3].pk, "due_soon"), (visits[0].pk, "fine"),
    ]


def test_a_stale_heartbeat_is_detected_after_15_seconds(coteford, clock):
    assert watchdog_loop.watchdog_is_stale()  # no watchdog has ever run
    watchdog_loop.beat("host:1")
    assert not watchdog_loop.watchdog_is_stale()
    clock.shift(datetime.timedelta(seconds=15))
    assert not watchdog_loop.watchdog_is_stale()
    clock.shift(datetime.timedelta(seconds=1))
    assert watchdog_loop.watchdog_is_stale()
    assert board_data.board([coteford.school.pk])["watchdog"]["stale"] is True
    watchdog_loop.beat("host:1")
    assert board_data.board([coteford.school.pk])["watchdog"]["stale"] is False


def test_reminders_keep_coming_after_a_duress_pin_so_the_phone_cannot_tell(coteford, inside, clock):
    from people.services import set_pins

    set_pins(coteford.officer, safe_pin="1111", duress_pin="2222", by=coteford.officer)
    clock.move_to(local(10, 5))
    recording.record_event(inside, "check_in", by=coteford.officer, pin="2222")
    assert watch(inside).status == "alarm" and watch(inside).reminder_at == local(10, 20)
    clock.move_to(local(10, 20))
    assert watchdog_loop.poll()["reminded"] == 1
    assert Message.objects.filter(kind="checkin.reminder", recipient=coteford.officer).exists()
