"""Proposals and approvals without dead ends: a blocked proposal is put right on its own page,
nobody is offered an "Approve" the policy will refuse, a refusal is said once next to what
caused it, and every block says where it is put right."""
import datetime
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from attendance.models import AttendanceMark
from audit.models import AuditEntry
from policy_engine import Policy, evaluate
from visits import services
from visits.models import Override, Visit

from tests.factories import PASSWORD, at, next_school_day

pytestmark = pytest.mark.django_db


def signed_in(staff):
    client = Client()
    client.login(username=staff.user.username, password=PASSWORD)
    return client


def plan_data(school, **overrides):
    """The proposal form, filled in for an attendance visit next week by the officer alone."""
    day = next_school_day()
    data = {
        "pupil": school.pupil.pk, "purpose": "attendance", "reason": "Absent for two weeks with no contact.",
        "date": day.isoformat(), "start_time": "10:00", "end_time": "10:45", "staff": [school.officer.pk],
    }
    data.update(overrides)
    return data


def text_of(response):
    return response.content.decode()


def approve_buttons(html, visit):
    return html.count(f'action="{reverse("visits:approve", args=[visit.pk])}"')


# ----------------------------------------------------------------------------- changing a plan

def test_the_proposer_puts_right_a_blocked_plan_and_the_history_keeps_both_versions(coteford):
    officer = signed_in(coteford.officer)
    response = officer.post(reverse("visits:propose"), plan_data(coteford))
    visit = Visit.objects.get()
    assert response["Location"] == reverse("visits:detail", args=[visit.pk])

    page = text_of(officer.get(reverse("visits:detail", args=[visit.pk])))
    assert reverse("visits:edit", args=[visit.pk]) in page

    form = officer.get(reverse("visits:edit", args=[visit.pk]))
    assert form.status_code == 200
    assert f'value="{coteford.officer.pk}"' in text_of(form) and "Absent for two weeks" in text_of(form)

    changed = plan_data(coteford, staff=[coteford.officer.pk, coteford.teacher.pk])
    del changed["pupil"]
    check = officer.post(reverse("visits:edit_check", args=[visit.pk]), changed, HTTP_HX_REQUEST="true")
    assert "The policy allows this for approval" in text_of(check)
    assert visit.assignments.count() == 1  # the live check saves nothing

    response = officer.post(reverse("visits:edit", args=[visit.pk]), changed)
    assert response["Location"] == reverse("visits:detail", args=[visit.pk])
    assert [a.staff for a in visit.assignments.order_by("-lead", "id")] == [coteford.officer, coteford.teacher]
    entry = AuditEntry.objects.get(action="visit.plan_changed")
    assert entry.data["before"]["staff"] == ["Ali Attendance"]
    assert entry.data["after"]["staff"] == ["Ali Attendance", "Tess Teacher"]
    history = text_of(officer.get(reverse("visits:detail", args=[visit.pk])))
    assert "who is going from Ali Attendance to Ali Attendance and Tess Teacher" in history

    services.approve(coteford.head, visit)
    assert visit.state == Visit.State.APPROVED


def test_a_plan_is_changed_by_its_proposer_or_the_headteacher_only_and_only_while_proposed(coteford):
    visit = services.propose(coteford.officer, **coteford.visit_kwargs())
    url = reverse("visits:edit", args=[visit.pk])
    assert signed_in(coteford.teacher).get(url).status_code == 403  # going, but did not propose it
    assert signed_in(coteford.office).get(url).status_code == 403
    assert signed_in(coteford.head).get(url).status_code == 200
    assert reverse("visits:edit", args=[visit.pk]) not in text_of(
        signed_in(coteford.teacher).get(reverse("visits:detail", args=[visit.pk])))

    services.approve(coteford.head, visit)
    response = signed_in(coteford.officer).get(url)
    assert response["Location"] == reverse("visits:detail", args=[visit.pk])
    with pytest.raises(services.NotAllowed, match="only a proposal waiting for approval"):
        services.change_plan(coteford.officer, visit, **{k: v for k, v in coteford.visit_kwargs().items() if k != "pupil"})


def test_a_lone_visit_authorisation_lapses_when_who_is_going_changes(potton):
    visit = services.propose(potton.officer, **potton.visit_kwargs(staff=[potton.officer]))
    services.authorise_lone_visit(potton.head, visit, reason="The family knows the officer well.")
    kwargs = {k: v for k, v in potton.visit_kwargs(staff=[potton.teacher]).items() if k != "pupil"}
    services.change_plan(potton.officer, visit, **kwargs)
    assert not Override.objects.filter(visit=visit).exists()
    entry = AuditEntry.objects.get(action="visit.plan_changed")
    assert "No longer applies, as the plan changed: Hana Head's authorisation of a lone visit" in entry.summary
    assert entry.data["lapsed"][0]["reason"] == "The family knows the officer well."


def test_a_bad_change_says_what_is_wrong_and_changes_nothing(coteford):
    visit = services.propose(coteford.officer, **coteford.visit_kwargs())
    data = plan_data(coteford, start_time="11:00", end_time="10:00")
    del data["pupil"]
    response = signed_in(coteford.officer).post(reverse("visits:edit", args=[visit.pk]), data)
    assert response.status_code == 400
    assert "The end time must be after the start time." in text_of(response)
    visit.refresh_from_db()
    assert timezone.localtime(visit.starts_at).hour == 10
    assert not AuditEntry.objects.filter(action="visit.plan_changed").exists()


# ----------------------------------------------------------------------------- no approve on a blocked visit

def test_the_inbox_and_the_visit_page_offer_no_approve_on_a_blocked_visit_and_say_where_to_fix_it(coteford):
    lone = services.propose(coteford.officer, **coteford.visit_kwargs(staff=[coteford.officer]))
    fine = services.propose(coteford.officer, **coteford.visit_kwargs())
    head = signed_in(coteford.head)
    inbox = text_of(head.get(reverse("visits:approvals")))
    assert approve_buttons(inbox, lone) == 0
    assert approve_buttons(inbox, fine) == 1
    assert "Not ready to approve" in inbox
    assert f'{reverse("visits:edit", args=[lone.pk])}#field-staff">Add a second member of staff' in inbox

    page = text_of(head.get(reverse("visits:detail", args=[lone.pk])))
    assert approve_buttons(page, lone) == 0 and "Approve this visit" not in page
    assert "It cannot be approved until each item marked" in page
    assert "Add a second member of staff" in page


def test_a_missing_risk_assessment_links_to_where_it_is_recorded(coteford):
    coteford.home_ra.delete()
    visit = services.propose(coteford.officer, **coteford.visit_kwargs())
    services.approve(coteford.head, visit)
    page = text_of(signed_in(coteford.sbm).get(reverse("visits:detail", args=[visit.pk])))
    assert f'{reverse("risk:new")}?kind=home_visit&amp;pupil={coteford.pupil.pk}' in page


# ----------------------------------------------------------------------------- a refusal, once

def test_a_refused_schedule_is_said_once_next_to_the_unticked_appointment_box(coteford):
    visit = services.propose(coteford.officer, **coteford.visit_kwargs())
    services.approve(coteford.head, visit)
    visit_list = services.create_visit_list(coteford.office, title="This week", visits=[visit])
    services.sign_visit_list(coteford.head, visit_list)

    response = signed_in(coteford.officer).post(reverse("visits:schedule", args=[visit.pk]), {})
    assert response.status_code == 409
    page = text_of(response)
    sentence = "does not allow staff to visit a home without an appointment agreed with the parent"
    assert page.count(sentence) == 2  # in the form's summary of problems, and at the box itself
    assert "Refused:" not in page and "- Coteford" not in page and "\n- " not in page
    box = re.search(r'<input[^>]*name="schedule-appointment_agreed"[^>]*>', page).group(0)
    assert 'aria-invalid="true"' in box
    policy_panel = page.split('id="h-policy"')[1].split("</section>")[0]
    assert sentence not in policy_panel
    visit.refresh_from_db()
    assert visit.state == Visit.State.APPROVED


# ----------------------------------------------------------------------------- what a proposal waits for

def test_proposing_a_blocked_plan_says_what_it_waits_for(coteford):
    officer = signed_in(coteford.officer)
    page = text_of(officer.post(reverse("visits:propose"), plan_data(coteford), follow=True))
    assert "It now waits for approval" not in page
    assert "cannot be approved until this is put right: enough staff go, or a lone visit is allowed" in page

    page = text_of(officer.post(reverse("visits:propose"), plan_data(
        coteford, staff=[coteford.officer.pk, coteford.teacher.pk]), follow=True))
    assert "It now waits for approval by the headteacher or deputy headteacher." in page


# ----------------------------------------------------------------------------- every block has a way out

def test_a_potton_lone_evening_visit_can_be_put_right_after_the_head_decides(potton):
    day = next_school_day()
    visit = services.propose(potton.officer, **potton.visit_kwargs(
        staff=[potton.officer], starts_at=at(day, 17), ends_at=at(day, 17, 45)))
    head = signed_in(potton.head)
    head.post(reverse("visits:authorise_lone", args=[visit.pk]), {"authorise_lone-reason": "Known family."})
    head.post(reverse("visits:override", args=[visit.pk]), {
        "override-rule": "hours.outside_school_hours", "override-reason": "The parent works until five."})
    assert Override.objects.filter(visit=visit).count() == 2

    page = text_of(head.get(reverse("visits:detail", args=[visit.pk])))
    assert "Approve this visit" not in page
    assert f'{reverse("visits:edit", args=[visit.pk])}#field-responsible_contact">Name a responsible contact' in page
    for finding in page.split('class="finding finding--')[1:]:
        if finding.startswith('block"'):
            assert "finding__fixes" in finding, "a block with no way out"

    data = plan_data(potton, staff=[potton.officer.pk], date=day.isoformat(), start_time="17:00", end_time="17:45",
                     reason=visit.reason, responsible_contact=potton.head.pk)
    del data["pupil"]
    response = signed_in(potton.officer).post(reverse("visits:edit", args=[visit.pk]), data)
    assert response.status_code == 302
    assert Override.objects.filter(visit=visit).count() == 2  # only the contact changed: the decisions stand

    page = text_of(head.get(reverse("visits:detail", args=[visit.pk])))
    assert "Approve this visit" in page
    assert "Authorisation of a lone visit" in page and "staffing.lone_visit" not in page
    head.post(reverse("visits:approve", args=[visit.pk]))
    visit.refresh_from_db()
    assert visit.state == Visit.State.APPROVED


def test_every_block_the_engine_can_raise_has_a_way_out():
    from visits import fixes
    from policy_engine.schema import RULES

    handled = set(fixes.PLAN_FIXES) | fixes.REGISTER_RULES | set(fixes.RISK_RULES) | {
        "approval.approver",  # the approval itself
        "approval.visit_list_signed", "appointment.written_confirmation",
        # Only ever notes, never blocks:
        "doorstep.dangerous_animals", "review.overdue", "vetting.dbs_recheck",
    }
    assert set(RULES) <= handled, set(RULES) - handled


# ----------------------------------------------------------------------------- purposes

def test_the_proposal_form_offers_the_policys_purposes_first(coteford):
    page = text_of(signed_in(coteford.officer).get(reverse("visits:propose")))
    named = page.split('<optgroup label="Reasons the school&#x27;s policy names">')[1].split("</optgroup>")[0]
    assert ">Attendance<" in named and "Welfare" not in named
    assert '<optgroup label="Not named in the school&#x27;s policy: it needs a second look">' in page


# ----------------------------------------------------------------------------- the signed list

def test_the_visit_list_shows_each_pupils_attendance(coteford):
    visit = services.propose(coteford.officer, **coteford.visit_kwargs())
    services.approve(coteford.head, visit)
    visit_list = services.create_visit_list(coteford.office, title="This week", visits=[visit])
    today = timezone.localdate()
    for n in range(10):
        day = today - datetime.timedelta(days=n + 1)
        AttendanceMark.objects.create(pupil=coteford.pupil, date=day, session="AM", code="/" if n < 7 else "O")
    page = text_of(signed_in(coteford.head).get(reverse("visits:list_detail", args=[visit_list.pk])))
    assert "70.0%" in page and "7 of 10 sessions" in page


# ----------------------------------------------------------------------------- words

def test_the_policy_page_names_settings_in_words_not_keys(coteford):
    page = text_of(signed_in(coteford.teacher).get(reverse("policies:show")))
    assert "staffing.lone_visit" not in page and "approval.visit_list_signed_by_headteacher" not in page
    assert "The headteacher signs the visit list before any visit on it takes place." in page


def test_one_untrained_visitor_is_named_as_one_person():
    policy = Policy.preset("potton")
    plan = {"purpose": "attendance", "starts_at": "2031-03-04T10:00", "ends_at": "2031-03-04T10:45",
            "staff": [{"name": "Rachel Dunmore", "roles": ["teacher"], "trained_home_visitor": False}]}
    messages = [f.message for f in evaluate(policy, plan).findings if f.rule == "staffing.trained_home_visitor"]
    assert messages and "none of Rachel Dunmore" not in messages[0]
    assert messages[0].endswith("Rachel Dunmore is not recorded as trained.")


def test_a_headteachers_reason_ending_in_a_full_stop_is_not_given_a_second_one():
    policy = Policy.preset("potton")
    plan = {"purpose": "attendance", "starts_at": "2031-03-04T18:00", "ends_at": "2031-03-04T18:45",
            "staff": [{"name": "A", "roles": ["teacher"]}, {"name": "B", "roles": ["teacher"]}],
            "overrides": [{"rule": "hours.outside_school_hours", "reason": "The parent works late."}]}
    message = next(f.message for f in evaluate(policy, plan).findings if f.rule == "hours.outside_school_hours")
    assert message.endswith('"The parent works late."')


def test_the_live_check_on_an_unchanged_plan_says_what_the_policy_says_about_it(coteford):
    visit = services.propose(coteford.officer, **coteford.visit_kwargs(staff=[coteford.officer]))
    data = plan_data(coteford, reason=visit.reason)
    del data["pupil"]
    check = signed_in(coteford.officer).post(reverse("visits:edit_check", args=[visit.pk]), data, HTTP_HX_REQUEST="true")
    assert check.status_code == 200 and "Blocked by the policy" in text_of(check)


# ----------------------------------------------------------------------------- closed visits

@pytest.mark.parametrize("state, said", [
    (Visit.State.COMPLETED, "This visit went ahead under the policy then in force"),
    (Visit.State.WITHDRAWN, "This visit did not go ahead, so the policy's checks no longer apply to it"),
])
def test_a_closed_visit_is_not_said_to_be_allowed_to_go_ahead(coteford, state, said):
    visit = services.propose(coteford.officer, **coteford.visit_kwargs())
    Visit.objects.filter(pk=visit.pk).update(state=state)  # how it closed is not what this page is about
    page = text_of(signed_in(coteford.head).get(reverse("visits:detail", args=[visit.pk])))
    assert said in page
    assert "The policy allows this" not in page and "Blocked by the policy" not in page
