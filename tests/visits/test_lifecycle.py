"""The visit from proposal to scheduling, through visits.services: the one place a visit
changes state, which runs the school's policy and writes the audit trail."""
import datetime
import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections
from django.utils import timezone

from audit.models import AuditEntry
from visits import services
from visits.models import Override, Visit

from tests.factories import (
    HouseholdNoteFactory, SchoolFactory, SchoolPolicyFactory, Staffed, VisitFactory, at,
    compliant_staff, lone_working_ra, next_school_day,
)

pytestmark = pytest.mark.django_db


def blocking_rules(refused):
    return {f.rule: f.clause for f in refused.findings if f.severity == "block"}


def sign_list_for(school, visit):
    visit_list = services.create_visit_list(school.office, title="This week's visits", visits=[visit])
    services.sign_visit_list(school.head, visit_list)
    return visit_list


# ----------------------------------------------------------------------------- the whole flow

def test_a_coteford_visit_goes_from_proposal_through_approval_and_the_signed_list_to_scheduled(coteford):
    visit = services.propose(coteford.officer, **coteford.visit_kwargs())
    assert visit.state == Visit.State.PROPOSED
    assert [a.staff for a in visit.assignments.order_by("-lead")] == [coteford.officer, coteford.teacher]
    assert visit.assignments.get(lead=True).staff == coteford.officer

    services.approve(coteford.deputy, visit, note="Go in pairs as planned.")
    assert visit.state == Visit.State.APPROVED
    assert visit.approved_by == coteford.deputy and visit.approved_at is not None
    assert visit.policy_version == coteford.school.current_policy()

    # C 3.3: the headteacher signs the list before any visit on it happens.
    with pytest.raises(services.Refused) as refused:
        services.schedule(coteford.officer, visit, appointment_agreed=True, written_confirmation=True)
    assert blocking_rules(refused.value) == {"approval.visit_list_signed": "C 3.3"}

    sign_list_for(coteford, visit)
    services.schedule(coteford.officer, visit, appointment_agreed=True, written_confirmation=True,
                      agreed_with=coteford.contact, notes="Knock at the side door.")
    visit.refresh_from_db()
    assert visit.state == Visit.State.SCHEDULED
    assert visit.appointment_agreed and visit.written_confirmation
    assert visit.appointment_agreed_with == coteford.contact
    assert visit.appointment_notes == "Knock at the side door."
    actions = list(AuditEntry.objects.filter(object_type="visits.visit", object_id=str(visit.pk))
                   .order_by("at", "id").values_list("action", flat=True))
    assert actions == ["visit.proposed", "visit.approved", "visit.scheduled"]


def test_scheduling_without_an_appointment_is_refused_where_the_policy_requires_one(coteford):
    visit = services.propose(coteford.officer, **coteford.visit_kwargs())
    services.approve(coteford.head, visit)
    sign_list_for(coteford, visit)
    with pytest.raises(services.Refused) as refused:
        services.schedule(coteford.officer, visit, appointment_agreed=False, written_confirmation=False)
    assert blocking_rules(refused.value) == {"appointment.agreed": "C 2.6"}
    visit.refresh_from_db()
    assert visit.state == Visit.State.APPROVED and not visit.appointment_agreed


def test_evaluate_visit_reads_the_plan_from_the_database(coteford):
    visit = services.propose(coteford.officer, **coteford.visit_kwargs(staff=[coteford.officer]))
    plan = services.visit_plan(visit)
    assert plan["purpose"] == "attendance"
    assert plan["starts_at"].endswith("T10:00") and plan["ends_at"].endswith("T10:45")
    assert plan["staff"][0]["name"] == "Ali Attendance"
    assert plan["staff"][0]["dbs"]["level"] == "enhanced"
    assert plan["approvals"] == [] and plan["visit_list_signed_by_headteacher"] is False
    assert plan["risk_assessment"]["home_visit_done_on"] is not None
    assert plan["risk_assessment"]["new_risk_since"] is False
    evaluation = services.evaluate_visit(visit)
    assert evaluation.policy == "coteford" and not evaluation.allowed


def test_times_in_the_plan_are_london_wall_clock_times_in_summer_and_winter(coteford):
    summer = services.propose(coteford.officer, **coteford.visit_kwargs(
        starts_at=at(datetime.date(2031, 7, 1), 9, 30), ends_at=at(datetime.date(2031, 7, 1), 10, 15)))
    winter = services.propose(coteford.officer, **coteford.visit_kwargs(
        starts_at=at(datetime.date(2031, 12, 2), 9, 30), ends_at=at(datetime.date(2031, 12, 2), 10, 15)))
    assert services.visit_plan(summer)["starts_at"] == "2031-07-01T09:30"
    assert services.visit_plan(winter)["starts_at"] == "2031-12-02T09:30"


# ----------------------------------------------------------------------------- refusals name clauses

def test_coteford_refuses_to_approve_a_lone_visit_citing_c_2_10(coteford):
    visit = services.propose(coteford.officer, **coteford.visit_kwargs(staff=[coteford.officer]))
    with pytest.raises(services.Refused) as refused:
        services.approve(coteford.head, visit)
    assert blocking_rules(refused.value) == {"staffing.minimum": "C 2.10"}
    assert "C 2.10" in refused.value.message
    visit.refresh_from_db()
    assert visit.state == Visit.State.PROPOSED and visit.approved_by is None


def test_a_coteford_headteacher_cannot_authorise_a_lone_visit_because_the_policy_never_allows_one(coteford):
    visit = services.propose(coteford.officer, **coteford.visit_kwargs(staff=[coteford.officer]))
    with pytest.raises(services.NotAllowed, match="C 2.10"):
        services.authorise_lone_visit(coteford.head, visit, reason="Known family")
    assert not Override.objects.exists()


def test_potton_allows_a_lone_visit_once_the_headteacher_authorises_it_and_a_lone_working_ra_exists(potton):
    visit = services.propose(potton.officer, **potton.visit_kwargs(staff=[potton.officer]))
    with pytest.raises(services.Refused) as refused:
        services.approve(potton.head, visit)
    assert blocking_rules(refused.value) == {"staffing.minimum": "P §4¶1"}

    services.authorise_lone_visit(potton.head, visit, reason="Ali knows the family well; no risks are recorded.")
    services.approve(potton.head, visit)
    assert visit.state == Visit.State.APPROVED

    with pytest.raises(services.Refused) as refused:
        services.schedule(potton.officer, visit, appointment_agreed=True, written_confirmation=True)
    assert blocking_rules(refused.value) == {"risk_assessment.lone_working": "P §4¶2"}

    lone_working_ra(potton.officer, author=potton.head)
    services.schedule(potton.officer, visit, appointment_agreed=True, written_confirmation=True)
    assert visit.state == Visit.State.SCHEDULED


def test_authorising_a_lone_visit_needs_a_reason(potton):
    visit = services.propose(potton.officer, **potton.visit_kwargs(staff=[potton.officer]))
    with pytest.raises(ValidationError) as error:
        services.authorise_lone_visit(potton.head, visit, reason="  ")
    assert "reason" in error.value.message_dict
    assert not Override.objects.exists()


def test_a_potton_visit_out_of_hours_goes_ahead_only_with_the_headteachers_recorded_override(potton):
    day = next_school_day()
    visit = services.propose(potton.officer, **potton.visit_kwargs(
        starts_at=at(day, 17, 30), ends_at=at(day, 18, 0), responsible_contact=potton.deputy))
    with pytest.raises(services.Refused) as refused:
        services.approve(potton.head, visit)
    assert blocking_rules(refused.value) == {"hours.outside_school_hours": "P §3¶5"}

    services.override(potton.head, visit, rule="hours.outside_school_hours",
                      reason="Both parents work until 17:00; there is no reasonable alternative.")
    services.approve(potton.head, visit)
    assert visit.state == Visit.State.APPROVED
    entry = AuditEntry.objects.get(action="visit.override")
    assert entry.data["rule"] == "hours.outside_school_hours" and "no reasonable alternative" in entry.reason


def test_a_rule_the_policy_does_not_let_the_headteacher_override_cannot_be_overridden(potton):
    visit = services.propose(potton.officer, **potton.visit_kwargs(purpose="child_protection"))
    with pytest.raises(services.NotAllowed, match="does not let a headteacher override"):
        services.override(potton.head, visit, rule="staffing.dsl", reason="The DSL is away")


def test_potton_refuses_a_child_protection_visit_without_the_dsl_citing_p_8_2(potton):
    visit = services.propose(potton.officer, **potton.visit_kwargs(purpose="child_protection"))
    with pytest.raises(services.Refused) as refused:
        services.approve(potton.head, visit)
    assert blocking_rules(refused.value) == {"staffing.dsl": "P §8¶2"}


def test_a_new_household_risk_makes_the_assessment_stale_and_blocks_scheduling_until_it_is_reviewed(potton):
    visit = services.propose(potton.officer, **potton.visit_kwargs())
    services.approve(potton.head, visit)
    HouseholdNoteFactory(pupil=potton.pupil, kind="risk", text="Father threatened the attendance officer.",
                         dangerous=True)
    assert services.visit_plan(visit)["risk_assessment"]["new_risk_since"] is True
    with pytest.raises(services.Refused) as refused:
        services.schedule(potton.officer, visit, appointment_agreed=True, written_confirmation=True)
    assert blocking_rules(refused.value) == {"risk_assessment.new_risk": "P §4¶4"}

    potton.home_ra.mark_reviewed()
    services.schedule(potton.officer, visit, appointment_agreed=True, written_confirmation=True)
    assert visit.state == Visit.State.SCHEDULED


def test_dangerous_animals_in_the_household_reach_the_plan_and_are_a_warning(potton):
    HouseholdNoteFactory(pupil=potton.pupil, kind="animals", text="Large dog, aggressive to strangers.", dangerous=True,
                         recorded_at=timezone.now() - datetime.timedelta(days=10))
    visit = services.propose(potton.officer, **potton.visit_kwargs())
    assert services.visit_plan(visit)["household"] == {"dangerous_animals": True}
    findings = {f.rule: f.severity for f in services.evaluate_visit(visit).findings}
    assert findings["doorstep.dangerous_animals"] == "warn"


# ----------------------------------------------------------------------------- reasons and legal moves

@pytest.mark.parametrize("move", ["decline", "withdraw"])
def test_declining_or_withdrawing_a_proposal_needs_a_reason(coteford, move):
    visit = services.propose(coteford.officer, **coteford.visit_kwargs())
    actor = coteford.head if move == "decline" else coteford.officer
    with pytest.raises(ValidationError) as error:
        getattr(services, move)(actor, visit, reason="   ")
    assert "reason" in error.value.message_dict
    visit.refresh_from_db()
    assert visit.state == Visit.State.PROPOSED
    getattr(services, move)(actor, visit, reason="The family has moved out of the area.")
    assert visit.state == {"decline": "declined", "withdraw": "withdrawn"}[move]
    assert visit.closed_reason == "The family has moved out of the area."


def test_cancelling_an_approved_visit_needs_a_reason(coteford):
    visit = services.propose(coteford.officer, **coteford.visit_kwargs())
    services.approve(coteford.head, visit)
    with pytest.raises(ValidationError):
        services.cancel(coteford.office, visit, reason="")
    services.cancel(coteford.office, visit, reason="The pupil is back in school.")
    assert visit.state == Visit.State.CANCELLED


def test_withdrawing_a_scheduled_visit_cancels_it(potton):
    visit = services.propose(potton.officer, **potton.visit_kwargs())
    services.approve(potton.head, visit)
    services.schedule(potton.officer, visit, appointment_agreed=True, written_confirmation=True)
    services.withdraw(potton.officer, visit, reason="The parent came into school instead.")
    assert visit.state == Visit.State.CANCELLED
    assert AuditEntry.objects.filter(action="visit.cancelled", object_id=str(visit.pk)).count() == 1


def test_a_proposed_visit_cannot_be_scheduled_before_it_is_approved(coteford):
    visit = services.propose(coteford.officer, **coteford.visit_kwargs())
    with pytest.raises(services.NotAllowed, match="must be approved first"):
        services.schedule(coteford.officer, visit, appointment_agreed=True, written_confirmation=True)


def test_a_proposed_visit_is_withdrawn_not_cancelled(coteford):
    visit = services.propose(coteford.officer, **coteford.visit_kwargs())
    with pytest.raises(services.NotAllowed, match="withdraw it instead"):
        services.cancel(coteford.officer, visit, reason="No longer needed")


def test_a_declined_visit_cannot_then_be_approved_and_the_message_says_who_declined_it(coteford):
    visit = services.propose(coteford.officer, **coteford.visit_kwargs())
    services.decline(coteford.head, visit, reason="Try a meeting in school first.")
    with pytest.raises(services.NotAllowed, match="already declined by Hana Head"):
        services.approve(coteford.deputy, visit)


def test_approving_twice_says_who_approved_it_first(coteford):
    visit = services.propose(coteford.officer, **coteford.visit_kwargs())
    services.approve(coteford.head, visit)
    with pytest.raises(services.NotAllowed, match="already approved by Hana Head"):
        services.approve(coteford.deputy, visit)


@pytest.mark.parametrize("state", ["cancelled", "withdrawn", "declined"])
def test_a_closed_visit_cannot_move_again(coteford, state):
    visit = VisitFactory(school=coteford.school, pupil=coteford.pupil, state=state, staff=[coteford.officer])
    for call in (lambda: services.approve(coteford.head, visit),
                 lambda: services.cancel(coteford.head, visit, reason="x"),
                 lambda: services.withdraw(coteford.officer, visit, reason="x")):
        with pytest.raises(services.NotAllowed, match="already"):
            call()


# ----------------------------------------------------------------------------- proposals are checked

def test_a_proposal_is_checked_field_by_field_with_messages_naming_the_field(coteford):
    other = SchoolFactory()
    stranger = compliant_staff(other)
    day = next_school_day()
    with pytest.raises(ValidationError) as error:
        services.propose(coteford.officer, pupil=coteford.pupil, purpose="tea", reason=" ",
                         starts_at=at(day, 11), ends_at=at(day, 10), staff=[stranger])
    assert set(error.value.message_dict) == {"purpose", "reason", "ends_at", "staff"}
    with pytest.raises(ValidationError) as error:
        services.propose(coteford.officer, **coteford.visit_kwargs(staff=[]))
    assert "at least one" in error.value.message_dict["staff"][0]
    assert not Visit.objects.exists()


def test_nobody_can_propose_a_visit_to_another_schools_pupil(coteford, potton):
    with pytest.raises(ValidationError) as error:
        services.propose(coteford.officer, **coteford.visit_kwargs(pupil=potton.pupil))
    assert "pupil" in error.value.message_dict


def test_the_same_person_listed_twice_goes_once(coteford):
    visit = services.propose(coteford.officer, **coteford.visit_kwargs(
        staff=[coteford.officer, coteford.teacher, coteford.officer]))
    assert visit.assignments.count() == 2


# ----------------------------------------------------------------------------- policy versions

def test_a_visit_keeps_the_policy_version_it_was_approved_under_after_the_school_uploads_a_new_one(coteford):
    visit = services.propose(coteford.officer, **coteford.visit_kwargs())
    services.approve(coteford.head, visit)
    first = coteford.school.current_policy()
    # The school switches to a policy that would refuse this visit's approver.
    second = SchoolPolicyFactory(school=coteford.school, preset="potton")
    assert coteford.school.current_policy() == second and second.version == first.version + 1

    visit.refresh_from_db()
    assert visit.policy_version == first
    assert services.evaluate_visit(visit).policy == "coteford"
    sign_list_for(coteford, visit)
    services.schedule(coteford.officer, visit, appointment_agreed=True, written_confirmation=True)
    assert AuditEntry.objects.get(action="visit.scheduled").data["policy_version"] == first.version

    later = services.propose(coteford.officer, **coteford.visit_kwargs())
    assert services.evaluate_visit(later).policy == "potton"


def test_a_school_without_a_policy_cannot_approve_visits_and_is_told_why():
    school = SchoolFactory(policy=False)
    head = compliant_staff(school, "headteacher")
    visit = VisitFactory(school=school)
    with pytest.raises(services.NotAllowed, match="no home-visit policy"):
        services.approve(head, visit)


# ----------------------------------------------------------------------------- visit lists

def test_a_signed_visit_list_cannot_take_more_visits(coteford):
    first = services.propose(coteford.officer, **coteford.visit_kwargs())
    second = services.propose(coteford.officer, **coteford.visit_kwargs())
    visit_list = services.create_visit_list(coteford.office, title="Week 1", visits=[first])
    services.sign_visit_list(coteford.head, visit_list)
    assert visit_list.signed_by == coteford.head and visit_list.signed_at is not None
    with pytest.raises(ValidationError, match="signed by Hana Head"):
        services.add_to_visit_list(coteford.office, visit_list, second)
    second.refresh_from_db()
    assert second.visit_list is None


def test_a_visit_list_is_signed_once(coteford):
    visit = services.propose(coteford.officer, **coteford.visit_kwargs())
    visit_list = services.create_visit_list(coteford.office, title="Week 1", visits=[visit])
    services.sign_visit_list(coteford.head, visit_list)
    with pytest.raises(services.NotAllowed, match="already"):
        services.sign_visit_list(coteford.head, visit_list)


def test_a_visit_goes_on_one_list_only(coteford):
    visit = services.propose(coteford.officer, **coteford.visit_kwargs())
    services.create_visit_list(coteford.office, title="Week 1", visits=[visit])
    with pytest.raises(ValidationError, match="already on the list"):
        services.create_visit_list(coteford.office, title="Week 2", visits=[visit])


def test_the_signature_on_the_list_reaches_the_plan_only_when_a_headteacher_signed_it(coteford):
    visit = services.propose(coteford.officer, **coteford.visit_kwargs())
    visit_list = services.create_visit_list(coteford.office, title="Week 1", visits=[visit])
    visit.refresh_from_db()
    assert services.visit_plan(visit)["visit_list_signed_by_headteacher"] is False
    services.sign_visit_list(coteford.head, visit_list)
    assert services.visit_plan(visit)["visit_list_signed_by_headteacher"] is True


# ----------------------------------------------------------------------------- two at once

def test_when_another_approval_lands_first_the_second_is_told_who_approved_it(coteford, monkeypatch):
    """Simulates the race: between this approver reading the visit and writing it, another
    process approves it. The conditional UPDATE then hits no row and nothing is written."""
    visit = services.propose(coteford.officer, **coteford.visit_kwargs())
    real_evaluate = services.evaluate_visit

    def evaluate_while_someone_else_approves(v, *args, **kwargs):
        Visit.objects.filter(pk=v.pk).update(state=Visit.State.APPROVED, approved_by=coteford.head,
                                              approved_at=timezone.now())
        return real_evaluate(v, *args, **kwargs)

    monkeypatch.setattr(services, "evaluate_visit", evaluate_while_someone_else_approves)
    with pytest.raises(services.NotAllowed, match="already approved by Hana Head"):
        services.approve(coteford.deputy, visit)
    # The refusal rolled back everything done in its transaction, the simulated rival included.
    assert not AuditEntry.objects.filter(action="visit.approved").exists()


@pytest.mark.django_db(transaction=True)
def test_two_headteachers_approving_at_the_same_moment_only_one_succeeds():
    if connection.vendor == "sqlite" and connection.settings_dict["NAME"] in ("", ":memory:") or \
            "mode=memory" in str(connection.settings_dict.get("TEST", {}).get("NAME") or connection.settings_dict["NAME"]):
        pytest.skip("an in-memory SQLite database cannot be shared by two connections; the race is simulated above")
    school = Staffed("coteford")
    visit = services.propose(school.officer, **school.visit_kwargs())
    barrier = threading.Barrier(2)
    results = []

    def approve(actor):
        try:
            barrier.wait(timeout=10)
            services.approve(actor, Visit.objects.get(pk=visit.pk))
            results.append(("ok", actor.full_name))
        except services.NotAllowed as exc:
            results.append(("refused", str(exc)))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=approve, args=(a,)) for a in (school.head, school.deputy)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(r[0] for r in results) == ["ok", "refused"]
    winner = next(name for outcome, name in results if outcome == "ok")
    assert f"already approved by {winner}" in next(msg for outcome, msg in results if outcome == "refused")
    assert AuditEntry.objects.filter(action="visit.approved").count() == 1
