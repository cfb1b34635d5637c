"""Recording what happens on a visit under way (docs/safety-core.md, "Events and the watch"): safety.recording with a
controlled clock. The timings themselves are policy_engine.timing's (tests/policy/test_timing.py); these
tests check that the events, the visit's state and the watch row follow them."""
import datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from safety.alerts.models import Alert
from audit.models import AuditEntry
from safety import alerting, journey, recording
from safety import watchdog as watchdog_loop
from safety.checkins.models import VisitEvent, Watch
from notify.models import Message
from people.services import set_pins
from visits.models import Visit
from visits.services import NotAllowed

from tests.factories import Staffed, StaffFactory

pytestmark = pytest.mark.django_db

from tests.safety.support import local, scheduled_visit, watch_of, with_pins


# ----------------------------------------------------------------------------- starting and the watch

def test_leaving_school_starts_the_visit_and_watches_for_the_arrival_check_in(coteford, visit, clock):
    clock.move_to(local(9, 40))
    result = recording.record_event(visit, "left_school", by=coteford.officer,
                                   expected_return=local(11, 0), location="School car park")
    visit.refresh_from_db()
    assert visit.state == Visit.State.UNDER_WAY
    watch = watch_of(visit)
    assert (watch.status, watch.next_kind, watch.due_at) == ("ok", "check_in_due", local(10, 0))
    assert watch.alert_at == local(10, 5)  # Coteford's grace is the default 5 minutes
    assert result.to_phone()["next"] == {"kind": "check_in_due", "due_at": local(10, 0).isoformat()}
    assert AuditEntry.objects.filter(action="visit.under_way", object_id=str(visit.pk)).count() == 1
    assert AuditEntry.objects.filter(action="visit.event", object_id=str(visit.pk)).count() == 1


def test_every_event_type_is_recorded_in_the_order_a_visit_runs(coteford, visit, clock):
    office = coteford.office
    steps = [
        (9, 40, "left_school", coteford.officer, "phone"),
        (9, 55, "parent_late_notice", coteford.officer, "phone"),
        (10, 0, "arrived", coteford.officer, "phone"),
        (10, 2, "parent_not_home", coteford.teacher, "phone"),
        (10, 5, "entered", coteford.teacher, "phone"),
        (10, 20, "check_in", coteford.officer, "phone"),
        (10, 25, "code_word", office, "office_call"),
        (10, 26, "panic", coteford.teacher, "phone"),
        (10, 40, "left_home", None, "office_call"),
        (10, 59, "back_safe", None, "office_call"),
    ]
    for hour, minute, kind, who, via in steps:
        clock.move_to(local(hour, minute))
        recording.record_event(visit, kind, by=who or office, via=via)
    types = list(VisitEvent.objects.filter(visit=visit).values_list("type", flat=True))
    assert types == [s[2] for s in steps]
    assert set(types) == journey.TIMING_TYPES
    assert VisitEvent.objects.get(visit=visit, type="code_word").via == "office_call"
    # The alarms are still open, so the visit is not closed quietly over them.
    visit.refresh_from_db()
    assert visit.state == Visit.State.UNDER_WAY


def test_events_out_of_order_are_refused_and_change_nothing(coteford, visit, clock):
    with pytest.raises(NotAllowed, match="has not started"):
        recording.record_event(visit, "check_in", by=coteford.officer)
    recording.record_event(visit, "left_school", by=coteford.officer)
    with pytest.raises(NotAllowed, match="Record arriving before"):
        recording.record_event(visit, "entered", by=coteford.officer)
    with pytest.raises(NotAllowed, match="already recorded"):
        recording.record_event(visit, "left_school", by=coteford.officer)
    assert VisitEvent.objects.filter(visit=visit).count() == 1


def test_a_visit_that_is_not_scheduled_cannot_start(coteford, clock):
    proposed = scheduled_visit(coteford, [coteford.officer])
    Visit.objects.filter(pk=proposed.pk).update(state=Visit.State.APPROVED)
    with pytest.raises(NotAllowed):
        recording.record_event(proposed, "left_school", by=coteford.officer)
    assert not Watch.objects.filter(visit=proposed).exists()


def test_only_the_staff_on_the_visit_record_from_their_phone_and_the_office_records_calls(coteford, visit, clock):
    with pytest.raises(NotAllowed, match="Only the staff on this visit"):
        recording.record_event(visit, "left_school", by=coteford.family)
    with pytest.raises(NotAllowed, match="Only the office"):
        recording.record_event(visit, "left_school", by=coteford.family, via="office_call")
    recording.record_event(visit, "left_school", by=coteford.office, via="office_call", staff=coteford.officer)
    event = VisitEvent.objects.get(visit=visit)
    assert (event.recorded_by, event.staff, event.via) == (coteford.office, coteford.officer, "office_call")


def test_another_schools_staff_cannot_record_events(coteford, visit, clock):
    other = Staffed("potton", name="Potton Primary School")
    with pytest.raises(NotAllowed):
        recording.record_event(visit, "left_school", by=other.office, via="office_call")
    assert not VisitEvent.objects.exists()


def test_a_check_in_inside_the_home_moves_the_next_deadline_by_the_policy_interval(coteford, visit, clock):
    clock.move_to(local(9, 40))
    recording.record_event(visit, "left_school", by=coteford.officer)
    clock.move_to(local(10, 0))
    recording.record_event(visit, "arrived", by=coteford.officer)
    recording.record_event(visit, "entered", by=coteford.officer)
    assert watch_of(visit).due_at == local(10, 20)  # every 20 minutes inside (C 2.4)
    clock.move_to(local(10, 12))
    recording.record_event(visit, "check_in", by=coteford.teacher, concerns="None")
    watch = watch_of(visit)
    assert (watch.due_at, watch.clause) == (local(10, 32), "C 2.4")
    assert watch.reminder_at == local(10, 27)


def test_an_event_cannot_be_recorded_in_the_future(coteford, visit, clock):
    with pytest.raises(ValidationError):
        recording.record_event(visit, "left_school", by=coteford.officer, at=local(9, 30))
    assert not VisitEvent.objects.exists()


# ----------------------------------------------------------------------------- on the doorstep

@pytest.mark.parametrize("preset, wait, card", [
    ("coteford", 20, True), ("potton", 15, False), ("st-hughs", 10, False), ("willows", 10, False),
    ("priory", 0, True),
])
def test_the_visit_can_be_closed_as_not_seen_only_after_the_policys_wait(clock, preset, wait, card):
    school = Staffed(preset, name=f"{preset} school")
    visit = scheduled_visit(school, [school.officer, school.dsl])
    clock.move_to(local(10, 0))
    recording.record_event(visit, "arrived", by=school.officer)
    clock.move_to(local(10, 1))
    recording.record_event(visit, "parent_not_home", by=school.officer)
    if wait:
        clock.move_to(local(10, 1) + datetime.timedelta(minutes=wait, seconds=-1))
        with pytest.raises(NotAllowed, match="asks you to wait"):
            recording.close_not_seen(visit, by=school.officer)
        assert recording.doorstep_status(visit)["waiting"]
    clock.move_to(local(10, 1) + datetime.timedelta(minutes=wait))
    result = recording.close_not_seen(visit, by=school.officer)
    assert result.card is card
    assert ("card" in result.message) is card
    assert watch_of(visit).outcome == "not_seen"
    # The watch goes on until they are back; then the visit is closed as not seen.
    recording.record_event(visit, "back_safe", by=school.officer)
    recording.record_event(visit, "back_safe", by=school.dsl)
    visit.refresh_from_db()
    assert visit.state == Visit.State.NOT_SEEN


def test_after_a_late_notice_staff_wait_up_to_the_limit_and_are_told_not_to_go_in(coteford, visit, clock):
    clock.move_to(local(10, 0))
    recording.record_event(visit, "arrived", by=coteford.officer)
    result = recording.record_event(visit, "parent_late_notice", by=coteford.officer)
    assert "do not go in before the parent" in result.message
    status = recording.doorstep_status(visit)
    assert status["do_not_enter_before_parent"] and status["clause"] == "C 3.5"
    clock.move_to(local(10, 29, 59))
    with pytest.raises(NotAllowed, match=r"from 10:30"):
        recording.close_not_seen(visit, by=coteford.officer)
    clock.move_to(local(10, 30))
    recording.close_not_seen(visit, by=coteford.officer)
    assert watch_of(visit).outcome == "not_seen"


def test_a_visit_cannot_be_closed_as_not_seen_without_the_parent_missing(coteford, visit, clock):
    recording.record_event(visit, "arrived", by=coteford.officer)
    with pytest.raises(NotAllowed, match="parent is not at home"):
        recording.close_not_seen(visit, by=coteford.officer)


def test_abandoning_sends_the_written_reason_to_the_headteacher_without_the_pupils_name(coteford, visit, clock):
    recording.record_event(visit, "arrived", by=coteford.officer)
    with pytest.raises(ValidationError):
        recording.abandon(visit, "felt_unsafe", by=coteford.officer, note="")
    recording.abandon(visit, "animals", by=coteford.officer,
                     note=f"The dog was loose at {coteford.pupil.address_line1} and would not be shut away.")
    event = VisitEvent.objects.get(visit=visit, type="abandoned")
    assert event.reason == "animals" and "dog was loose" in event.note
    to_head = Message.objects.filter(recipient=coteford.head, kind="visit.abandoned")
    assert to_head.filter(channel="in_app").count() == 1
    body = to_head.first().body
    assert "C 3.9" in body and "written reason" in body
    assert coteford.pupil.last_name not in body and coteford.pupil.address_line1 not in body
    assert to_head.first().link == f"/visits/{visit.pk}/"
    entry = AuditEntry.objects.get(action="visit.abandon_reported")
    assert "dog was loose" in entry.reason
    for person in (coteford.officer, coteford.teacher):
        recording.record_event(visit, "back_safe", by=person)
    visit.refresh_from_db()
    assert visit.state == Visit.State.ABANDONED and "dog was loose" in visit.closed_reason


def test_abandoning_for_feeling_unsafe_follows_the_unsafe_report_rule(clock):
    potton = Staffed("potton", name="Potton Primary School")
    visit = scheduled_visit(potton, [potton.officer, potton.dsl])
    recording.record_event(visit, "arrived", by=potton.officer)
    recording.abandon(visit, "felt_unsafe", by=potton.officer, note="Shouting inside; we did not knock.")
    message = Message.objects.get(recipient=potton.head, kind="visit.abandoned", channel="in_app")
    assert "P §3¶7" in message.body


# ----------------------------------------------------------------------------- pairs

def test_a_pair_visit_is_safe_only_when_both_have_checked_out(coteford, visit, clock):
    clock.move_to(local(10, 0))
    recording.record_event(visit, "arrived", by=coteford.officer)
    recording.record_event(visit, "entered", by=coteford.teacher)
    clock.move_to(local(10, 40))
    recording.record_event(visit, "back_safe", by=coteford.officer)
    visit.refresh_from_db()
    assert visit.state == Visit.State.UNDER_WAY
    watch = watch_of(visit)
    assert watch.status == "ok" and watch.alert_at is not None
    people = {p.staff_id: p.back_safe_at for p in watch.people.all()}
    assert people == {coteford.officer.pk: local(10, 40), coteford.teacher.pk: None}
    clock.move_to(local(10, 45))
    result = recording.record_event(visit, "back_safe", by=coteford.teacher)
    visit.refresh_from_db()
    assert visit.state == Visit.State.COMPLETED
    assert watch_of(visit).status == "safe" and watch_of(visit).alert_at is None
    assert result.next_kind is None


def test_either_member_of_a_pair_may_check_in_for_the_party(coteford, visit, clock):
    recording.record_event(visit, "arrived", by=coteford.officer)
    recording.record_event(visit, "entered", by=coteford.officer)
    clock.move_to(local(9, 10))
    recording.record_event(visit, "check_in", by=coteford.teacher)
    assert watch_of(visit).due_at == local(9, 30)


# ----------------------------------------------------------------------------- PINs and duress

def test_pins_are_hashed_and_the_duress_pin_must_differ(coteford):
    with pytest.raises(ValidationError, match="different"):
        set_pins(coteford.officer, safe_pin="1234", duress_pin="1234", by=coteford.officer)
    with pytest.raises(ValidationError):
        set_pins(coteford.officer, safe_pin="12", duress_pin="9876", by=coteford.officer)
    with pytest.raises(Exception, match="own PINs"):
        set_pins(coteford.officer, safe_pin="1234", duress_pin="9876", by=coteford.head)
    with_pins(coteford.officer)
    coteford.officer.refresh_from_db()
    # Stored as a keyed hash (prefix$salt$digest), never the PIN; the digest is hex, so only
    # whole fields are compared: "1234" turns up inside a random hex string now and then.
    assert coteford.officer.safe_pin.startswith("pin-hmac-sha256$")
    assert "1234" not in coteford.officer.safe_pin.split("$") and coteford.officer.check_pin("1234") == "safe"
    assert coteford.officer.check_pin("9876") == "duress" and coteford.officer.check_pin("0000") is None


def test_a_wrong_pin_is_refused_and_records_nothing(coteford, visit, clock):
    with_pins(coteford.officer)
    recording.record_event(visit, "arrived", by=coteford.officer, pin="1234")
    with pytest.raises(ValidationError, match="PIN is not right"):
        recording.record_event(visit, "check_in", by=coteford.officer, pin="5555")
    assert VisitEvent.objects.filter(visit=visit).count() == 1


def _phone_view(result):
    body = result.to_phone()
    body["event"].pop("id")
    return body


def test_the_duress_pin_looks_like_an_ordinary_check_in_and_raises_the_top_alert(clock):
    # Two identical schools and visits: one checks in with the safe PIN, one with the duress PIN.
    answers = []
    for pin in ("1234", "9876"):
        school = Staffed("coteford", name=f"School {pin}")
        visit = scheduled_visit(school, [school.officer, school.teacher])
        with_pins(school.officer)
        clock.move_to(local(10, 0))
        recording.record_event(visit, "arrived", by=school.officer, pin="1234")
        clock.move_to(local(10, 15))
        result = recording.record_event(visit, "check_in", by=school.officer, pin=pin, concerns="None")
        view = _phone_view(result)
        view["visit"].pop("id")
        view["event"].pop("staff_id")
        answers.append((school, visit, view))
    (_, calm, safe_view), (school, visit, duress_view) = answers
    assert safe_view == duress_view
    assert not Alert.objects.filter(visit=calm).exists()
    alert = Alert.objects.get(visit=visit)
    assert alert.kind == "duress" and alert.step == len(alert.ladder) - 1 and alert.step_due_at is None
    assert watch_of(visit).status == "alarm"
    # The event itself is an ordinary check-in.
    assert VisitEvent.objects.filter(visit=visit, type="check_in").count() == 1
    # Never a message to the person under duress.
    assert not Message.objects.filter(alert_id=alert.pk, recipient=school.officer).exists()
    assert Message.objects.filter(alert_id=alert.pk, recipient=school.head).exists()


def test_a_pin_is_not_taken_from_the_office(coteford, visit, clock):
    with_pins(coteford.officer)
    with pytest.raises(ValidationError, match="own phone"):
        recording.record_event(visit, "left_school", by=coteford.office, via="office_call", pin="1234")


def test_the_code_word_is_recorded_by_the_office_and_raises_the_top_alert(coteford, visit, clock):
    recording.record_event(visit, "arrived", by=coteford.officer)
    with pytest.raises(ValidationError, match="office"):
        recording.record_event(visit, "code_word", by=coteford.officer)
    recording.record_event(visit, "code_word", by=coteford.office, via="office_call", note="Said 'the blue folder'")
    alert = Alert.objects.get(visit=visit)
    assert alert.kind == "code_word" and alert.step == len(alert.ladder) - 1


def test_panic_raises_the_top_alert_even_before_the_visit_has_started(coteford, visit, clock):
    recording.record_event(visit, "panic", by=coteford.teacher)
    visit.refresh_from_db()
    assert visit.state == Visit.State.UNDER_WAY
    alert = Alert.objects.get(visit=visit)
    assert alert.kind == "panic" and alert.is_top and watch_of(visit).status == "alarm"


def test_staff_with_no_pins_set_are_told_to_set_them(coteford, visit, clock):
    with pytest.raises(ValidationError, match="not set your PINs"):
        recording.record_event(visit, "arrived", by=coteford.officer, pin="1234")


def test_inactive_staff_cannot_record(coteford, visit, clock):
    gone = StaffFactory(school=coteford.school, roles=["office"], active=False)
    with pytest.raises(NotAllowed):
        recording.record_event(visit, "left_school", by=gone, via="office_call")
    assert timezone.now() == local(9, 0)


def test_after_closing_as_not_seen_the_watch_moves_on_to_the_leaving_check_in(coteford, visit, clock):

    clock.move_to(local(10, 0))
    recording.record_event(visit, "arrived", by=coteford.officer)
    recording.record_event(visit, "parent_not_home", by=coteford.officer)
    assert watch_of(visit).due_at == local(10, 20)  # word from the door when the wait ends
    clock.move_to(local(10, 20))
    recording.close_not_seen(visit, by=coteford.officer)
    with pytest.raises(NotAllowed, match="closed as not seen"):
        recording.record_event(visit, "entered", by=coteford.officer)
    clock.move_to(local(10, 26))
    assert watchdog_loop.poll()["raised"] == 0
    assert watch_of(visit).status == "ok" and watch_of(visit).due_at > local(10, 26)


def test_duress_on_the_last_check_out_still_shows_the_visit_closed_while_the_office_has_the_alarm(clock):

    answers = []
    for pin in ("1234", "9876"):
        school = Staffed("coteford", name=f"School {pin}")
        visit = scheduled_visit(school, [school.officer])
        with_pins(school.officer)
        clock.move_to(local(10, 0))
        recording.record_event(visit, "arrived", by=school.officer)
        clock.move_to(local(10, 40))
        answers.append((school, visit, _phone_view(recording.record_event(visit, "back_safe", by=school.officer, pin=pin))))
    (_, calm, safe), (school, visit, duress) = answers
    for view in (safe, duress):
        view["visit"].pop("id"), view["event"].pop("staff_id")
    assert safe == duress and safe["visit"]["state"] == "completed"
    calm.refresh_from_db(), visit.refresh_from_db()
    assert calm.state == Visit.State.COMPLETED
    assert visit.state == Visit.State.UNDER_WAY and watch_of(visit).status == "alarm"
    alerting.resolve(Alert.objects.get(visit=visit), by=school.head, reason="staff_safe", note="Spoke to Ali in person.")
    visit.refresh_from_db()
    assert visit.state == Visit.State.COMPLETED and watch_of(visit).status == "safe"


def test_a_pin_hash_is_keyed_so_the_database_alone_cannot_check_a_pin(coteford, settings):
    from django.contrib.auth.hashers import make_password

    from people.pins import hash_pin, pin_matches

    stored = hash_pin("1234")
    # The stored form is prefix$salt$hex digest; no field of it is the PIN itself. (A
    # substring check would fail by chance: a 64-digit hex digest contains "1234" now and then.)
    prefix, salt, digest = stored.split("$")
    assert prefix == "pin-hmac-sha256" and "1234" not in (salt, digest) and len(digest) == 64
    assert pin_matches("1234", stored) and not pin_matches("1235", stored)
    # Two people with the same PIN do not share a hash.
    assert hash_pin("1234") != stored
    settings.SECRET_KEY = "another installation's key" * 2
    assert not pin_matches("1234", stored)
    # PINs set before keyed hashing still work.
    assert pin_matches("2468", make_password("2468"))
