"""A phone call in the escalation ladder (docs/safety-core.md, "A phone call in the ladder"): a
step with `ring = true` phones its people through Twilio (a local fake), the call names the
staff and never the pupil, pressing 1 takes the alert on and stops the escalation, whoever
presses next hears who has it, everyone told hears who took it on, an unsigned call-back
is refused, and a phone-call outage holds back no text or email of the same step."""
import re

import pytest
from django.urls import reverse

from audit.models import AuditEntry
from notify import delivery
from notify.models import Channel, Message
from people.models import StaffMember
from people.permissions import HELPERS
from policies.services import store_policy
from policy_engine.schema import PRESET_DIR, Policy, PolicyError, load_policy
from safety import alerting, recording
from safety import watchdog as watchdog_loop
from policies.views import _step
from policy_engine.gaps import describe
from safety.alerts.models import Alert, AlertStep

from tests.factories import Staffed
from tests.notify.support import NOTIFY_KEY, TEMPLATE_ID, FakeProvider, SmtpSink, point_email_at, serving
from tests.notify.voice_support import FakeTwilioCalls, configure_voice, press, said, twilio_signature, twiml_of
from tests.safety.support import local, scheduled_visit

pytestmark = pytest.mark.django_db

# Coteford's own ladder (C 2.4) with a phone call at the senior leaders' step and at the last.
RING_LADDER = '''ladder = { clause = "C 2.4", value = [
    { notify = ["office"], acknowledge_within_minutes = 5, clause = "C 2.4" },
    { notify = ["headteacher", "deputy_headteacher"], acknowledge_within_minutes = 10, ring = true, clause = "C 2.4" },
    { notify = ["headteacher", "deputy_headteacher", "dsl"], acknowledge_within_minutes = 10, call_police = true, clause = "default" },
    { notify = ["everyone"], call_police = true, ring = true, clause = "default" },
] }'''


def coteford_with(ladder):
    """Coteford's preset with another escalation ladder."""
    text = (PRESET_DIR / "coteford.toml").read_text(encoding="utf-8")
    start = text.index("ladder = {")
    end = text.index("immediate_danger", start)
    return text[:start] + ladder + "\n" + text[end:]


@pytest.fixture
def calls():
    fake = FakeTwilioCalls()
    yield fake
    fake.stop()


@pytest.fixture
def texts():
    fake = FakeProvider()
    yield fake
    fake.stop()


@pytest.fixture
def smtp():
    yield from serving(SmtpSink())


@pytest.fixture
def wired(settings, calls, texts, smtp):
    """Calls through the Calls fake, texts through the Notify fake, email to the SMTP sink."""
    configure_voice(settings, calls)
    settings.DOORSTEP_SMS_PROVIDERS = ["notify"]
    settings.NOTIFY_API_KEY, settings.NOTIFY_SMS_TEMPLATE_ID, settings.NOTIFY_BASE_URL = NOTIFY_KEY, TEMPLATE_ID, texts.url
    return point_email_at(settings, smtp)


@pytest.fixture
def coteford(clock):
    school = Staffed("coteford", name="Coteford Junior School")
    store_policy(school.school, "coteford-ring.toml", coteford_with(RING_LADDER))
    for person in (school.head, school.deputy, school.dsl, school.office):
        person.email = f"{person.full_name.split()[0].lower()}@coteford.example"
        person.save()
    return school


def inside(school, clock):
    """A pair inside the home since 10:00 on a visit to 11:30: the alert is due at 10:25."""
    visit = scheduled_visit(school, [school.officer, school.teacher], minutes=90)
    clock.move_to(local(9, 40))
    recording.record_event(visit, "left_school", by=school.officer)
    clock.move_to(local(10, 0))
    recording.record_event(visit, "arrived", by=school.officer, location="Outside the house")
    recording.record_event(visit, "entered", by=school.officer)
    return visit


@pytest.fixture
def rung(coteford, wired, calls, clock):
    """The alert at its second step (10:30), which rings the headteacher and the deputy; the
    calls placed."""
    inside(coteford, clock)
    clock.move_to(local(10, 25))
    watchdog_loop.poll()
    clock.move_to(local(10, 30))
    assert watchdog_loop.poll()["advanced"] == 1
    assert delivery.run_once(channel=Channel.VOICE)["sent"] == 2
    return Alert.objects.get()


def call_to(calls, person):
    [call] = [c for c in calls.placed() if c["to"] == "+44" + "".join(person.mobile.split())[1:]]
    return call


def action_of(calls, person):
    return twiml_of(call_to(calls, person))[1][0]


def voice_to(alert):
    return set(Message.objects.filter(alert_id=alert.pk, channel=Channel.VOICE).values_list("recipient__full_name", flat=True))


# ----------------------------------------------------------------------------- the policy

def test_ring_is_checked_like_the_other_fields_of_a_step_and_defaults_to_off():
    bad = coteford_with(RING_LADDER.replace("ring = true, clause = \"C 2.4\"", "ring = \"yes\", clause = \"C 2.4\""))
    with pytest.raises(PolicyError, match=r"escalation.ladder.*step 2: ring: expected true or false"):
        Policy.from_toml(bad, source="bad.toml")
    ladder = Policy.from_toml(coteford_with(RING_LADDER), source="ok.toml").value("escalation.ladder")
    assert [s["ring"] for s in ladder] == [False, True, False, True]
    # The presets follow the written policies, none of which asks for a phone call.
    for name in ("coteford", "potton", "priory", "st-hughs", "willows"):
        assert not any(step["ring"] for step in load_policy(name).value("escalation.ladder")), name


def test_where_a_ladder_rings_people_the_policy_page_gaps_and_simulator_say_so():
    ladder = Policy.from_toml(coteford_with(RING_LADDER), source="ok.toml").value("escalation.ladder")
    assert "ring them by phone" in _step(2, ladder[1]) and "ring them by phone" not in _step(1, ladder[0])
    words = describe("escalation.ladder", ladder).split(" → ")
    assert "rung by phone" in words[1] and "rung by phone" not in words[0]


# ----------------------------------------------------------------------------- the call

def test_a_ring_step_phones_its_people_naming_the_staff_never_the_pupil(coteford, rung, calls):
    alert = rung
    assert voice_to(alert) == {"Hana Head", "Dev Deputy"}  # step 1 (the office) had no call
    assert Message.objects.filter(alert_id=alert.pk, channel=Channel.VOICE, idempotency_key=f"alert:{alert.pk}:step:0").count() == 0
    words, actions = twiml_of(call_to(calls, coteford.head))
    assert words.startswith("Doorstep alert from Coteford Junior School. Ali Attendance and Tess Teacher have not "
                            "checked in on a home visit. Press 1 to take this alert on.")
    pupil = coteford.pupil
    for detail in (pupil.first_name, pupil.last_name, pupil.address_line1, pupil.postcode):
        assert detail not in call_to(calls, coteford.head)["twiml"]
    assert len(set(actions)) == 1 and actions[0] != action_of(calls, coteford.deputy)  # a token per call
    step = AuditEntry.objects.filter(action="alert.step", object_id=str(alert.pk)).order_by("at", "id").last()
    assert step.data["ring"] is True


def test_pressing_1_takes_the_alert_on_stops_the_escalation_and_the_next_caller_hears_who(coteford, rung, calls,
                                                                                         client, clock):
    alert = rung
    answer = press(client, action_of(calls, coteford.head), "1")
    assert answer.status_code == 200 and answer["Content-Type"].startswith("text/xml")
    assert said(answer) == "You have taken this alert on. Open Doorstep for the details."
    alert.refresh_from_db()
    assert (alert.state, alert.owner) == ("acknowledged", coteford.head)
    entry = AuditEntry.objects.get(action="alert.acknowledged", object_id=str(alert.pk))
    assert entry.summary.endswith("took it on by phone call") and entry.actor_name == "Hana Head"
    # The escalation has stopped: nobody else is told or rung, however long it is left.
    clock.move_to(local(11, 30))
    assert watchdog_loop.poll()["advanced"] == 0
    assert AlertStep.objects.filter(alert=alert).count() == 2
    assert voice_to(alert) == {"Hana Head", "Dev Deputy"}
    # The deputy presses 1 on their own call a moment later.
    answer = press(client, action_of(calls, coteford.deputy), "1")
    assert said(answer) == "Hana Head has already taken this alert on."
    alert.refresh_from_db()
    assert alert.owner == coteford.head
    assert AuditEntry.objects.filter(action="alert.acknowledged").count() == 1
    # The head pressing again hears that it is already theirs.
    assert said(press(client, action_of(calls, coteford.head), "1")).startswith("You have already taken this alert on.")


def test_everyone_already_told_hears_who_took_it_on_and_the_board_shows_the_owner(coteford, rung, calls, client):
    alert = rung
    press(client, action_of(calls, coteford.head), "1")
    notes = Message.objects.filter(kind="alert.taken_on")
    told = {(m.recipient.full_name, m.channel) for m in notes}
    # The office (step 1) and the deputy (step 2), in Doorstep and by text; not the head herself,
    # not the staff on the visit, no email.
    assert told == {("Olu Office", "in_app"), ("Olu Office", "sms"), ("Dev Deputy", "in_app"), ("Dev Deputy", "sms")}
    assert {m.body for m in notes} == {"Hana Head has taken the alert on by phone call. The office board has the details."}
    delivery.run_once(channel=Channel.SMS)
    assert all(m.status == "sent" for m in notes.filter(channel="sms"))
    # Taking it on again (a retry) tells nobody twice.
    alerting._tell_taken_on(alert, coteford.head, "by phone call")
    assert notes.count() == 4
    client.force_login(coteford.office.user)
    board = re.sub(r"\s+", " ", client.get(reverse("alerts:board")).content.decode())
    assert "taken on by Hana Head" in board


def test_taking_it_on_from_the_board_cancels_calls_not_yet_placed_and_tells_those_rung(coteford, wired, calls, clock):
    inside(coteford, clock)
    clock.move_to(local(10, 25))
    watchdog_loop.poll()
    clock.move_to(local(10, 30))
    watchdog_loop.poll()  # the calls to the head and deputy are written, not yet placed
    alert = Alert.objects.get()
    alerting.acknowledge(alert, by=coteford.office)
    assert set(Message.objects.filter(channel=Channel.VOICE).values_list("status", flat=True)) == {"cancelled"}
    assert delivery.run_once(channel=Channel.VOICE)["sent"] == 0 and calls.placed() == []
    assert {m.recipient.full_name for m in Message.objects.filter(kind="alert.taken_on", channel="in_app")} == {
        "Hana Head", "Dev Deputy"}
    entry = AuditEntry.objects.get(action="alert.acknowledged")
    assert entry.summary.endswith("took it on")


def test_another_key_repeats_the_question_once_then_says_goodbye(coteford, rung, calls, client):
    action = action_of(calls, coteford.head)
    answer = press(client, action, "7")
    assert said(answer).startswith("You pressed 7. Doorstep alert from Coteford Junior School.")
    again = re.search(r'action="([^"]+)"', answer.content.decode()).group(1).replace("&amp;", "&")
    assert again == action + "?again=1"
    assert said(press(client, again, "")).startswith("Nothing was pressed, so the alert is not taken on.")
    assert Alert.objects.get().state == "open"
    assert said(press(client, again, "1")) == "You have taken this alert on. Open Doorstep for the details."


def test_a_call_back_without_twilios_signature_is_refused_and_audited(coteford, rung, calls, client):
    action = action_of(calls, coteford.head)
    assert press(client, action, "1", signature="").status_code == 403
    assert press(client, action, "1", token="not-the-auth-token").status_code == 403
    # A signature for another address (another person's call) does not open this one.
    other = action_of(calls, coteford.deputy)
    forged = twilio_signature(other, {"Digits": "1"})
    assert client.post(action.removeprefix("https://doorstep.school.example"), {"Digits": "1"},
                       HTTP_X_TWILIO_SIGNATURE=forged).status_code == 403
    assert Alert.objects.get().state == "open"
    refused = AuditEntry.objects.filter(action="hooks.call_answer_refused")
    assert refused.count() == 3 and all(e.school_id == coteford.school.pk for e in refused)
    assert not any(action.rsplit("/", 2)[-2] in (e.summary + str(e.data)) for e in refused)  # no token kept
    # A signed call-back for a call Doorstep never made is told so, and changes nothing.
    assert said(press(client, "https://doorstep.school.example/hooks/voice/twilio/made-up/", "1")).startswith(
        "This call is no longer needed.")


def test_a_phone_call_outage_holds_back_no_text_or_email_of_the_same_step(coteford, wired, calls, texts, smtp, clock):
    calls.down = True  # Twilio's Calls API answers 500 to everything
    inside(coteford, clock)
    clock.move_to(local(10, 25))
    watchdog_loop.poll()
    delivery.run_once()
    clock.move_to(local(10, 30))
    watchdog_loop.poll()
    alert = Alert.objects.get()
    counts = delivery.run_once()  # every channel, in turn
    step = Message.objects.filter(idempotency_key=f"alert:{alert.pk}:step:1")
    assert {(m.recipient.full_name, m.channel, m.status) for m in step.exclude(channel="in_app")} == {
        ("Hana Head", "sms", "sent"), ("Hana Head", "email", "sent"), ("Hana Head", "voice", "pending"),
        ("Dev Deputy", "sms", "sent"), ("Dev Deputy", "email", "sent"), ("Dev Deputy", "voice", "pending"),
    }
    assert counts["retry"] == 2 and all("HTTP 500" in m.last_error for m in step.filter(channel="voice"))


def test_calls_the_phone_service_has_not_taken_are_named_on_the_board_within_a_minute(coteford, wired, calls, clock,
                                                                                       client):
    calls.down = True
    inside(coteford, clock)
    clock.move_to(local(10, 25))
    watchdog_loop.poll()
    clock.move_to(local(10, 30))
    watchdog_loop.poll()
    delivery.run_once()
    client.force_login(coteford.office.user)
    assert 'id="delivery-delayed-voice"' not in client.get(reverse("alerts:live")).content.decode()
    clock.move_to(local(10, 31))
    page = client.get(reverse("alerts:live")).content.decode()
    assert 'id="delivery-delayed-voice"' in page and "Phone calls are not going out" in page
    assert "phone-call service has not taken them" in page and "Hana Head" in page and "Dev Deputy" in page


def test_a_policy_without_ring_makes_no_calls_all_the_way_up_the_ladder(wired, calls, clock):
    school = Staffed("coteford", name="Coteford Junior School")
    inside(school, clock)
    for minute in (25, 30, 40, 50):
        clock.move_to(local(10, minute))
        watchdog_loop.poll()
    delivery.run_once()
    assert Alert.objects.get().step == 3
    assert not Message.objects.filter(channel=Channel.VOICE).exists() and calls.requests == []


def test_the_last_step_tells_and_rings_everyone_who_can_help_but_never_the_staff_on_the_visit(coteford, wired,
                                                                                               calls, clock):
    visit = inside(coteford, clock)
    for minute in (25, 30, 40, 50):
        clock.move_to(local(10, minute))
        watchdog_loop.poll()
    alert = Alert.objects.get()
    assert alert.step == 3
    helpers = set(StaffMember.objects.filter(school=coteford.school, active=True, roles__role__in=HELPERS)
                  .exclude(assignments__visit=visit).values_list("full_name", flat=True))
    assert helpers == {"Hana Head", "Dev Deputy", "Dani Safeguarding", "Olu Office"}
    last = Message.objects.filter(idempotency_key=f"alert:{alert.pk}:step:3")
    assert set(last.filter(channel="in_app").values_list("recipient__full_name", flat=True)) == helpers
    assert set(last.filter(channel="voice").values_list("recipient__full_name", flat=True)) == helpers
    delivery.run_once(channel=Channel.VOICE)
    on_visit = {"+44" + "".join(p.mobile.split())[1:] for p in (coteford.officer, coteford.teacher)}
    assert not on_visit & {c["to"] for c in calls.placed()}


def test_someone_rung_who_may_not_take_alerts_on_is_told_who_can_and_nothing_changes(wired, calls, client, clock):
    school = Staffed("coteford", name="Coteford Junior School")
    store_policy(school.school, "coteford-family.toml", coteford_with(RING_LADDER.replace(
        'notify = ["office"], acknowledge_within_minutes = 5,', 'notify = ["family_support"], acknowledge_within_minutes = 5, ring = true,')))
    inside(school, clock)
    clock.move_to(local(10, 25))
    watchdog_loop.poll()
    delivery.run_once(channel=Channel.VOICE)
    answer = press(client, action_of(calls, school.family), "1")
    assert said(answer).startswith("You cannot take this alert on by phone. The office, the headteacher")
    assert Alert.objects.get().state == "open"
    assert not AuditEntry.objects.filter(action="alert.acknowledged").exists()


def test_a_school_that_rings_without_a_twilio_account_sees_each_call_fail_on_the_board(coteford, settings, client,
                                                                                       clock):
    settings.DOORSTEP_SMS_PROVIDERS = ["notify"]  # a school in use, whose calls have nowhere to go
    settings.TWILIO_ACCOUNT_SID = settings.TWILIO_AUTH_TOKEN = ""
    inside(coteford, clock)
    clock.move_to(local(10, 25))
    watchdog_loop.poll()
    clock.move_to(local(10, 30))
    watchdog_loop.poll()
    assert delivery.run_once(channel=Channel.VOICE)["failed"] == 2
    client.force_login(coteford.office.user)
    board = re.sub(r"\s+", " ", client.get(reverse("alerts:board")).content.decode())
    assert "could not be delivered" in board
    assert "Hana Head (Phone call, 10:30)" in board and "Dev Deputy (Phone call, 10:30)" in board
