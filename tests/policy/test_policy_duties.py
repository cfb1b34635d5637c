"""Duties the written policies place around a visit (docs/plan-format.md, "Rules"): who writes the
risk assessment (C 2.5, P §4¶4), St Hugh's safe word on the lone-working assessment
(H summary, Before), telling the people the policy names when an appointment is changed or
cancelled (C 3.6), and the full report owed after a danger alarm (Pr 2.5)."""
import datetime

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from safety import alerting, recording
from safety.alerts.models import Alert
from audit.models import AuditEntry
from safety.checkins.models import Watch
from notify.models import Message
from policy_engine import evaluate, load_policy
from reports import services as reports
from reports.models import Concern, VisitReport
from risk.models import RiskAssessment
from visits import services
from visits.models import Visit

from tests.factories import PASSWORD, Staffed, VisitFactory, at, home_visit_ra, lone_working_ra, next_school_day
from tests.records_support import ended_visit, report_data

pytestmark = pytest.mark.django_db


def blocking(refused):
    return {f.rule: f.clause for f in refused.findings if f.severity == "block"}


def plan_for(written_by_roles, *, staff=2, safe_word=False):
    """A plan for a visit a week from today, compliant but for what the test changes."""
    day = timezone.localdate() + datetime.timedelta(days=7)
    while day.weekday() >= 5:
        day += datetime.timedelta(days=1)
    before = (day - datetime.timedelta(days=3)).isoformat()
    person = {"name": "Sam Ali", "roles": ["attendance_officer"], "trained_home_visitor": True,
              "mobile": "07700 900123",
              "dbs": {"level": "enhanced", "barred_list_checked": True,
                      "issued_on": (day - datetime.timedelta(days=400)).isoformat()}}
    return {
        "purpose": "attendance",
        "starts_at": f"{day.isoformat()}T10:00", "ends_at": f"{day.isoformat()}T10:45",
        "staff": [dict(person, name=f"Person {i}") for i in range(staff)],
        "approvals": [{"role": "headteacher", "on": before}],
        "visit_list_signed_by_headteacher": True,
        "risk_assessment": {"home_visit_done_on": before, "lone_working_done_on": before,
                            "home_visit_written_by": {"name": "Ali Attendance", "roles": written_by_roles},
                            "lone_working_safe_word_recorded": safe_word},
        "appointment": {"agreed_with_parent": True, "written_confirmation": True},
    }


# ----------------------------------------------------------------------------- who writes the assessment

@pytest.mark.parametrize("preset, writer, clause", [("coteford", "business_manager", "C 2.5"),
                                                     ("potton", "headteacher", "P §4¶4")])
def test_an_assessment_written_by_someone_the_policy_does_not_name_does_not_count(preset, writer, clause):
    policy = load_policy(preset)
    wrong = evaluate(policy, plan_for(["attendance_officer"]))
    found = {f.rule: f for f in wrong.findings}
    assert not wrong.allowed
    assert found["risk_assessment.author"].severity == "block"
    assert found["risk_assessment.author"].clause == clause
    assert "Ali Attendance" in found["risk_assessment.author"].message
    right = evaluate(policy, plan_for([writer]))
    assert "risk_assessment.author" not in {f.rule for f in right.findings}


def test_a_policy_that_names_no_writer_accepts_an_assessment_by_anyone():
    result = evaluate(load_policy("willows"), plan_for(["attendance_officer"]))
    assert "risk_assessment.author" not in {f.rule for f in result.findings}


def test_coteford_will_not_schedule_a_visit_on_an_assessment_the_attendance_officer_wrote(coteford):
    visit = services.propose(coteford.officer, **coteford.visit_kwargs())
    services.approve(coteford.head, visit)
    visit_list = services.create_visit_list(coteford.office, title="This week", visits=[visit])
    services.sign_visit_list(coteford.head, visit_list)
    # A newer assessment of the same home, written by the officer, replaces the business manager's.
    home_visit_ra(coteford.pupil, author=coteford.officer, reviewed_at=timezone.now())
    with pytest.raises(services.Refused) as refused:
        services.schedule(coteford.officer, visit, appointment_agreed=True, written_confirmation=True)
    assert blocking(refused.value) == {"risk_assessment.author": "C 2.5"}
    assert "C 2.5" in refused.value.message
    visit.refresh_from_db()
    assert visit.state == Visit.State.APPROVED

    home_visit_ra(coteford.pupil, author=coteford.sbm, reviewed_at=timezone.now() + datetime.timedelta(seconds=1))
    services.schedule(coteford.officer, visit, appointment_agreed=True, written_confirmation=True)
    assert visit.state == Visit.State.SCHEDULED


def _hazards(**extra):
    data = {
        "hazards-TOTAL_FORMS": "1", "hazards-INITIAL_FORMS": "0", "hazards-MIN_NUM_FORMS": "1",
        "hazards-MAX_NUM_FORMS": "1000", "hazards-0-hazard": "Dog not shut away",
        "hazards-0-people_at_risk": "Visiting staff", "hazards-0-severity": "3", "hazards-0-likelihood": "2",
        "hazards-0-controls": "Ask for the dog to be shut in another room",
    }
    data.update(extra)
    return data


def test_the_form_offers_only_the_business_manager_as_the_writer_at_coteford(coteford, client):
    client.login(username=coteford.head.user.username, password=PASSWORD)
    page = client.get("/risk/new/?kind=home_visit").content.decode()
    assert "written by the school business manager (C 2.5)" in page
    offered = page.split('name="author"')[1].split("</select>")[0]
    assert coteford.sbm.full_name in offered
    assert coteford.head.full_name not in offered and coteford.officer.full_name not in offered

    before = RiskAssessment.objects.count()
    post = _hazards(kind="home_visit", pupil=coteford.pupil.pk, assessed_on=timezone.localdate().isoformat())
    refused = client.post("/risk/new/", dict(post, author=coteford.head.pk))
    assert refused.status_code == 200 and "Only the school business manager" in refused.content.decode()
    # The headteacher at the keyboard, choosing nobody, is not taken as the writer either.
    refused = client.post("/risk/new/", post)
    assert "Only the school business manager" in refused.content.decode()
    assert RiskAssessment.objects.count() == before

    saved = client.post("/risk/new/", dict(post, author=coteford.sbm.pk))
    assert saved.status_code == 302
    assert RiskAssessment.objects.order_by("-pk").first().author == coteford.sbm


def test_the_assessment_page_says_when_it_does_not_count(potton, client):
    ra = home_visit_ra(potton.pupil, author=potton.sbm)
    client.login(username=potton.head.user.username, password=PASSWORD)
    page = client.get(f"/risk/{ra.pk}/").content.decode()
    assert "Does not count" in page and "P §4¶4" in page
    good = client.get(f"/risk/{potton.home_ra.pk}/").content.decode()
    assert "Does not count" not in good


# ----------------------------------------------------------------------------- St Hugh's safe word

def test_st_hughs_wants_the_safe_word_on_the_lone_working_assessment_before_a_lone_visit():
    policy = load_policy("st-hughs")
    without = evaluate(policy, plan_for([], staff=1, safe_word=False))
    found = {f.rule: f for f in without.findings}
    assert not without.allowed
    assert found["risk_assessment.safe_word"].clause == "H summary, Before"
    assert found["risk_assessment.safe_word"].severity == "block"
    assert evaluate(policy, plan_for([], staff=1, safe_word=True)).allowed
    # A pair needs no lone-working assessment, so no safe word on one.
    assert evaluate(policy, plan_for([], staff=2, safe_word=False)).allowed
    # Other policies do not ask for it.
    assert "risk_assessment.safe_word" not in {
        f.rule for f in evaluate(load_policy("potton"), plan_for(["headteacher"], staff=1)).findings}


def test_a_st_hughs_lone_visit_is_scheduled_only_once_the_safe_word_is_recorded():
    hughs = Staffed("st-hughs", name="St Hugh's Test School")
    visit = services.propose(hughs.officer, **hughs.visit_kwargs(staff=[hughs.officer]))
    services.approve(hughs.head, visit)
    lone_working_ra(hughs.officer, author=hughs.head, safe_word_recorded=False)
    with pytest.raises(services.Refused) as refused:
        services.schedule(hughs.officer, visit, appointment_agreed=True, written_confirmation=True)
    assert blocking(refused.value) == {"risk_assessment.safe_word": "H summary, Before"}
    assert services.visit_plan(visit)["risk_assessment"]["lone_working_safe_word_recorded"] is False

    lone_working_ra(hughs.officer, author=hughs.head, safe_word_recorded=True,
                    reviewed_at=timezone.now() + datetime.timedelta(seconds=1))
    services.schedule(hughs.officer, visit, appointment_agreed=True, written_confirmation=True)
    assert visit.state == Visit.State.SCHEDULED


# ----------------------------------------------------------------------------- a full report after danger

def _visit_day_clock():
    """A clock at 09:50 on a school day a week or more from now, standing still until moved."""
    return time_machine.travel(at(next_school_day(), 9, 50), tick=False)


def _moved(clock, minutes):
    clock.shift(datetime.timedelta(minutes=minutes))


@pytest.fixture
def priory():
    return Staffed("priory", name="Priory Junior School")


def test_a_priory_visit_with_a_panic_that_ended_well_still_owes_a_full_report_that_reaches_the_head(priory, client):
    with _visit_day_clock() as clock:
        day = timezone.localdate()
        visit = VisitFactory(school=priory.school, pupil=priory.pupil, staff=[priory.officer], state=Visit.State.SCHEDULED,
                             starts_at=at(day, 10), ends_at=at(day, 10, 45), proposed_by=priory.officer,
                             approved_by=priory.head, approved_at=timezone.now(),
                             policy_version=priory.school.current_policy())
        _moved(clock, 10)
        recording.record_event(visit, "arrived", by=priory.officer)
        _moved(clock, 12)
        recording.record_event(visit, "panic", by=priory.officer)
        _moved(clock, 3)
        alarm = Alert.objects.get(visit=visit, kind="panic")
        alerting.resolve(alarm, by=priory.office, reason="staff_safe")
        _moved(clock, 20)
        recording.record_event(visit, "left_home", by=priory.officer)
        visit.refresh_from_db()
        if visit.state == Visit.State.UNDER_WAY:
            recording.record_event(visit, "back_safe", by=priory.officer)
            visit.refresh_from_db()
        assert visit.state == Visit.State.COMPLETED

        # Owed (Pr 2.5), though the visit ended as planned: it shows on the officer's list.
        assert reports.report_required(visit)
        assert [v for v, _, _ in reports.reports_owed(priory.officer)] == [visit]

        client.login(username=priory.officer.user.username, password=PASSWORD)
        form = client.get(f"/reports/visit/{visit.pk}/").content.decode()
        assert "An alarm was raised on this visit: the panic button was pressed" in form and "Pr 2.5" in form

        # A report that does not say what happened is refused, citing the clause.
        with pytest.raises(ValidationError) as refused:
            reports.submit_report(priory.officer, visit, report_data())
        assert "incident" in refused.value.message_dict
        assert "Pr 2.5" in refused.value.message_dict["incident"][0]
        assert "panic button" in refused.value.message_dict["incident"][0]
        assert not VisitReport.objects.filter(visit=visit).exists()

        before = set(Message.objects.values_list("pk", flat=True))
        reports.submit_report(priory.officer, visit, report_data(
            incident="The father shouted and blocked the door; I pressed panic and left when he calmed down."))
        incident = Concern.objects.get(visit=visit)
        assert incident.kind == Concern.Kind.INCIDENT and incident.sent_to == [priory.head.full_name]
        told = Message.objects.exclude(pk__in=before).filter(recipient=priory.head)
        assert told.exists()
        for message in told:
            assert priory.pupil.first_name not in message.subject + message.body
            assert priory.pupil.address_line1 not in message.subject + message.body


def test_a_priory_visit_abandoned_after_the_code_word_owes_a_report_saying_what_happened(priory):
    with _visit_day_clock() as clock:
        day = timezone.localdate()
        visit = VisitFactory(school=priory.school, pupil=priory.pupil, staff=[priory.officer], state=Visit.State.SCHEDULED,
                             starts_at=at(day, 10), ends_at=at(day, 10, 45), proposed_by=priory.officer,
                             approved_by=priory.head, approved_at=timezone.now(),
                             policy_version=priory.school.current_policy())
        _moved(clock, 10)
        recording.record_event(visit, "arrived", by=priory.officer)
        _moved(clock, 5)
        recording.record_event(visit, "code_word", by=priory.office, via="office_call")
        _moved(clock, 2)
        recording.abandon(visit, "felt_unsafe", by=priory.officer, note="Man at the door was aggressive.")
        alerting.resolve(Alert.objects.get(visit=visit, kind="code_word"), by=priory.office,
                               reason="staff_safe")
        _moved(clock, 15)
        recording.record_event(visit, "left_home", by=priory.officer)
        visit.refresh_from_db()
        if visit.state == Visit.State.UNDER_WAY:
            recording.record_event(visit, "back_safe", by=priory.officer)
            visit.refresh_from_db()
        assert visit.state == Visit.State.ABANDONED
        with pytest.raises(ValidationError) as refused:
            reports.submit_report(priory.officer, visit, report_data(people_present=""))
        assert "code word" in refused.value.message_dict["incident"][0]


def test_without_an_alarm_priory_owes_no_report_and_other_policies_need_no_incident_account(priory, coteford):
    assert not reports.report_required(ended_visit(priory, staff=[priory.officer]))
    plain = ended_visit(coteford)
    assert reports.danger_report_rule(plain) is None
    reports.submit_report(coteford.officer, plain, report_data())
    assert not Concern.objects.filter(visit=plain).exists()


# ----------------------------------------------------------------------------- a changed or cancelled appointment

def scheduled(school, **kwargs):
    """A visit scheduled through the services, as a school would (Coteford's list signed first)."""
    visit = services.propose(school.officer, **school.visit_kwargs(**kwargs))
    services.approve(school.head, visit)
    if school.school.current_policy().load().value("approval.visit_list_signed_by_headteacher"):
        visit_list = services.create_visit_list(school.office, title="This week", visits=[visit])
        services.sign_visit_list(school.head, visit_list)
    services.schedule(school.officer, visit, appointment_agreed=True, written_confirmation=True)
    return visit


def told_entry(visit):
    # On the visit's own trail, where its page's history shows it.
    return AuditEntry.objects.get(action="visit.appointment_told", object_type="visits.visit", object_id=str(visit.pk))


def messages_to(person, kind):
    return Message.objects.filter(recipient=person, kind=kind)


def assert_no_pupil_details(school, messages):
    for message in messages:
        text = message.subject + message.body + message.link
        assert school.pupil.first_name not in text and school.pupil.last_name not in text
        assert school.pupil.address_line1 not in text and school.pupil.postcode not in text


def test_cancelling_a_coteford_appointment_tells_the_headteacher(coteford):
    visit = scheduled(coteford)
    services.cancel(coteford.office, visit, reason="Mum rang: Ava's gran is in hospital; they will call back.")
    told = messages_to(coteford.head, "visit.appointment_cancelled")
    assert told.exists()
    first = told.first()
    assert "C 3.6" in first.body and "Olu Office cancelled" in first.body
    assert f"{timezone.localtime(visit.starts_at):%-d %B at %H:%M}" in first.body
    assert first.link == f"/visits/{visit.pk}/"
    assert_no_pupil_details(coteford, told)
    # Only the people the policy names: Coteford names the headteacher, not the deputy or the office.
    assert not Message.objects.filter(kind="visit.appointment_cancelled").exclude(recipient=coteford.head).exists()
    entry = told_entry(visit)
    assert entry.data["told"] == [coteford.head.full_name] and entry.data["clause"] == "C 3.6"


def test_withdrawing_a_scheduled_potton_visit_tells_the_office(potton):
    visit = scheduled(potton)
    services.withdraw(potton.officer, visit, reason="The parent came into school instead.")
    assert visit.state == Visit.State.CANCELLED
    told = messages_to(potton.office, "visit.appointment_cancelled")
    assert told.exists() and "P §4¶8" in told.first().body
    assert not messages_to(potton.head, "visit.appointment_cancelled").exists()


def test_cancelling_before_any_appointment_was_made_tells_nobody(coteford):
    visit = services.propose(coteford.officer, **coteford.visit_kwargs())
    services.approve(coteford.head, visit)
    services.cancel(coteford.office, visit, reason="The pupil is back in school.")
    assert not Message.objects.filter(kind="visit.appointment_cancelled").exists()


def test_when_nobody_holds_the_role_the_cancellation_stands_and_the_audit_trail_says_nobody_was_told(coteford):
    visit = scheduled(coteford)
    coteford.head.active = False
    coteford.head.save(update_fields=["active"])
    services.cancel(coteford.office, visit, reason="The family has moved away.")
    assert visit.state == Visit.State.CANCELLED
    entry = told_entry(visit)
    assert entry.data["told"] == [] and "Nobody was told" in entry.summary and "C 3.6" in entry.summary


def test_moving_a_coteford_appointment_tells_the_headteacher_and_moves_the_watch(coteford):
    visit = scheduled(coteford)
    old = visit.starts_at
    new_start = old + datetime.timedelta(days=1, hours=3)
    services.change_appointment(coteford.office, visit, starts_at=new_start,
                                ends_at=new_start + datetime.timedelta(minutes=45),
                                reason="Dad works mornings this week; he asked for the afternoon.")
    visit.refresh_from_db()
    assert visit.state == Visit.State.SCHEDULED and visit.starts_at == new_start
    told = messages_to(coteford.head, "visit.appointment_changed")
    assert told.exists()
    body = told.first().body
    assert "C 3.6" in body and f"{timezone.localtime(old):%-d %B at %H:%M}" in body
    assert f"{timezone.localtime(new_start):%-d %B at %H:%M}" in body
    assert_no_pupil_details(coteford, told)
    entry = AuditEntry.objects.get(action="visit.appointment_changed", object_id=str(visit.pk))
    assert entry.reason.startswith("Dad works mornings")
    # The visit is watched from its new start, not the old one.
    assert Watch.objects.get(visit=visit).due_at == new_start


def test_an_appointment_cannot_be_moved_to_a_time_the_policy_does_not_allow(potton):
    visit = scheduled(potton)
    evening = timezone.make_aware(datetime.datetime.combine(timezone.localtime(visit.starts_at).date(),
                                                            datetime.time(17, 30)))
    with pytest.raises(services.Refused) as refused:
        services.change_appointment(potton.officer, visit, starts_at=evening,
                                    ends_at=evening + datetime.timedelta(minutes=30), reason="Mum finishes work late.")
    assert "hours.outside_school_hours" in blocking(refused.value)
    visit.refresh_from_db()
    assert visit.starts_at != evening
    assert not Message.objects.filter(kind="visit.appointment_changed").exists()


def test_the_office_moves_an_appointment_from_the_visit_page(coteford, client):
    visit = scheduled(coteford)
    client.login(username=coteford.office.user.username, password=PASSWORD)
    page = client.get(f"/visits/{visit.pk}/").content.decode()
    assert "Change the appointment" in page
    later = timezone.localtime(visit.starts_at) + datetime.timedelta(hours=2)
    response = client.post(f"/visits/{visit.pk}/change-appointment/", {
        "change_appointment-date": later.date().isoformat(), "change_appointment-start_time": later.strftime("%H:%M"),
        "change_appointment-end_time": (later + datetime.timedelta(minutes=45)).strftime("%H:%M"),
        "change_appointment-reason": "The parent asked for later in the day.",
    }, follow=True)
    assert "Appointment moved" in response.content.decode()
    visit.refresh_from_db()
    assert visit.starts_at == later
    assert messages_to(coteford.head, "visit.appointment_changed").exists()


def test_the_safe_word_itself_is_recorded_and_the_office_listens_for_it_on_the_code_word_page():
    from django.test import Client

    from risk.models import RiskAssessment

    from tests.factories import Staffed

    hughs = Staffed("st-hughs", name="St Hugh's Catholic Primary School")
    head = Client()
    head.force_login(hughs.head.user)
    response = head.post("/risk/new/?kind=lone_working", {
        "kind": "lone_working", "staff": hughs.officer.pk, "author": hughs.head.pk,
        "assessed_on": timezone.localdate().isoformat(), "summary": "Visiting alone", "safe_word": " bluebell ",
        "hazards-TOTAL_FORMS": 1, "hazards-INITIAL_FORMS": 0, "hazards-MIN_NUM_FORMS": 1, "hazards-MAX_NUM_FORMS": 1000,
        "hazards-0-hazard": "Working alone", "hazards-0-people_at_risk": "Ali", "hazards-0-severity": 2,
        "hazards-0-likelihood": 2, "hazards-0-controls": "Office calls at the start"})
    assert response.status_code == 302, response.content.decode()[-2000:]
    ra = RiskAssessment.objects.get(kind="lone_working", staff=hughs.officer, safe_word="bluebell")
    assert ra.has_safe_word  # what the rule (H summary, Before) reads
    assert services.visit_plan(VisitFactory(school=hughs.school, pupil=hughs.pupil, staff=[hughs.officer],
                                            proposed_by=hughs.officer))["risk_assessment"]["lone_working_safe_word_recorded"]
    visit = VisitFactory(school=hughs.school, pupil=hughs.pupil, staff=[hughs.officer], state="under_way",
                         proposed_by=hughs.officer)
    office = Client()
    office.force_login(hughs.office.user)
    page = office.get(f"/board/visits/{visit.pk}/code-word/").content.decode()
    assert "safe word <strong>“bluebell”</strong>" in page
