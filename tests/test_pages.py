"""The server-rendered pages: each renders for the roles that may use it, refuses the rest,
keeps every school's records to itself, and changes nothing when a form is wrong."""
import datetime

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils.html import escape
from django.utils import timezone

from audit.models import AuditEntry
from people.models import ROLES, Training, Vehicle
from pupils.models import HouseholdNote
from risk.models import Hazard
from people.access import SESSION_KEY
from people.permissions import ROLE_MATRIX
from visits import services
from visits.models import Visit, VisitList

from tests.pages_support import PASSWORD, at, make_person, make_pupil, make_school, next_school_day

pytestmark = pytest.mark.django_db


@pytest.fixture
def school():
    return make_school()


@pytest.fixture
def head(school):
    return make_person(school, "head", "headteacher")


@pytest.fixture
def office(school):
    return make_person(school, "office", "office", vetted=False)


@pytest.fixture
def teacher(school):
    return make_person(school, "teacher", "attendance_officer")


@pytest.fixture
def colleague(school):
    return make_person(school, "colleague", "teacher")


@pytest.fixture
def sbm(school):
    return make_person(school, "sbm", "business_manager", vetted=False)


@pytest.fixture
def pupil(school, sbm):
    return make_pupil(school, author=sbm)


@pytest.fixture
def elsewhere():
    other = make_school("Potton Primary School", "potton")
    return {"school": other, "head": make_person(other, "otherhead", "headteacher"), "pupil": make_pupil(other, "Zed", "Other")}


def signed_in(staff):
    client = Client()
    client.login(username=staff.user.username, password=PASSWORD)
    return client


@pytest.fixture
def proposed(teacher, colleague, pupil):
    day = next_school_day()
    return services.propose(
        teacher, pupil=pupil, purpose="attendance", reason="Persistent absence, no contact from home.",
        starts_at=at(day, 10), ends_at=at(day, 10, 45), staff=[teacher, colleague],
    )


def propose_data(pupil, staff, **overrides):
    day = next_school_day()
    data = {
        "pupil": pupil.pk, "purpose": "attendance", "reason": "Absent for two weeks with no contact.",
        "date": day.isoformat(), "start_time": "10:00", "end_time": "10:45",
        "staff": [s.pk for s in staff],
    }
    data.update(overrides)
    return data


# ---------------------------------------------------------------- who may open what

PAGES = [("visits:propose", "visit.propose"), ("visits:approvals", "visit.approve"),
         ("visits:list_create", "visitlist.create"), ("pupils:index", "pupil.view"),
         ("people:register", "staff.view_register"), ("policies:show", "policy.view")]


@pytest.mark.parametrize("role", ROLES)
def test_each_page_opens_exactly_for_the_roles_the_permission_table_allows(school, role):
    client = signed_in(make_person(school, "someone", role))
    for name, action in PAGES:
        expected = 200 if role in ROLE_MATRIX[action] else 403
        assert client.get(reverse(name)).status_code == expected, (name, role)


# ---------------------------------------------------------------- signing in

def test_the_sign_in_page_renders_without_signing_in(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b"Sign in to Doorstep" in response.content
    assert b'for="id_username"' in response.content


@pytest.mark.parametrize("name", [
    "home", "visits:index", "visits:propose", "visits:approvals", "visits:lists", "visits:list_create",
    "pupils:index", "people:register", "policies:show",
])
def test_every_page_asks_a_stranger_to_sign_in(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_a_signed_in_user_with_no_staff_record_is_told_why_there_is_nothing(client, school):
    User.objects.create_user("nobody", password=PASSWORD)
    client.login(username="nobody", password=PASSWORD)
    response = client.get(reverse("home"))
    assert response.status_code == 403
    assert b"not on the staff register" in response.content
    assert client.get(reverse("visits:index")).status_code == 403


def test_a_post_without_the_csrf_token_is_refused(head, proposed):
    client = Client(enforce_csrf_checks=True)
    client.login(username="head", password=PASSWORD)
    response = client.post(reverse("visits:approve", args=[proposed.pk]))
    assert response.status_code == 403
    proposed.refresh_from_db()
    assert proposed.state == Visit.State.PROPOSED


# ---------------------------------------------------------------- home

def test_the_headteacher_sees_approvals_waiting_and_lists_to_sign(head, office, proposed):
    VisitList.objects.create(school=head.school, title="Week 48 visits", created_by=office, created_at=timezone.now())
    response = signed_in(head).get(reverse("home"))
    assert response.status_code == 200
    text = response.content.decode()
    assert "Waiting for your approval" in text and "Ava Brown" in text
    assert "Week 48 visits" in text
    assert reverse("visits:approvals") in text


def test_visiting_staff_see_their_upcoming_visits_and_no_approvals(teacher, proposed):
    response = signed_in(teacher).get(reverse("home"))
    text = response.content.decode()
    assert "My upcoming visits" in text and "Ava Brown" in text
    assert "Waiting for your approval" not in text
    assert reverse("visits:approvals") not in text


def test_the_office_sees_todays_visits(office, teacher, colleague, pupil):
    visit = services.propose(
        teacher, pupil=pupil, purpose="attendance", reason="Check on the family.",
        starts_at=timezone.now() + datetime.timedelta(minutes=30),
        ends_at=timezone.now() + datetime.timedelta(minutes=75), staff=[teacher, colleague],
    )
    Visit.objects.filter(pk=visit.pk).update(state=Visit.State.SCHEDULED)
    if timezone.localtime(visit.starts_at).date() != timezone.localdate():
        pytest.skip("too close to midnight for a visit later today")
    text = signed_in(office).get(reverse("home")).content.decode()
    assert "Today&#x27;s visits" in text or "Today's visits" in text
    assert "Ava Brown" in text
    assert "Propose a visit" not in text  # the office does not propose visits


def test_someone_on_two_schools_can_switch_between_them(school, head, elsewhere):
    second = make_person(elsewhere["school"], "head-two", "teacher", user=head.user)
    client = signed_in(head)
    text = client.get(reverse("home")).content.decode()
    assert "Switch school" in text and "Potton Primary School" in text
    response = client.post(reverse("switch_school"), {"school": elsewhere["school"].pk})
    assert response.status_code == 302
    assert client.session[SESSION_KEY] == second.school_id
    assert b"Potton Primary School" in client.get(reverse("home")).content
    # ... and they now see that school's pupils, not the first school's.
    assert client.get(reverse("pupils:detail", args=[elsewhere["pupil"].pk])).status_code == 200


def test_switching_to_a_school_you_are_not_on_is_refused(head, elsewhere):
    response = signed_in(head).post(reverse("switch_school"), {"school": elsewhere["school"].pk})
    assert response.status_code == 403


# ---------------------------------------------------------------- proposing

def test_visiting_staff_can_open_the_proposal_form(teacher, pupil):
    response = signed_in(teacher).get(reverse("visits:propose") + f"?pupil={pupil.pk}")
    assert response.status_code == 200
    text = response.content.decode()
    assert "What the policy says about this plan" in text
    assert 'hx-post="%s"' % reverse("visits:propose_check") in text
    assert '<label for="id_reason"' in text


@pytest.mark.parametrize("person", ["office", "sbm"])
def test_people_who_do_not_propose_visits_are_refused_the_form(request, person):
    staff = request.getfixturevalue(person)
    assert signed_in(staff).get(reverse("visits:propose")).status_code == 403


def test_proposing_a_visit_saves_it_and_shows_what_the_policy_says(teacher, colleague, pupil):
    client = signed_in(teacher)
    response = client.post(reverse("visits:propose"), propose_data(pupil, [teacher, colleague]))
    assert response.status_code == 302
    visit = Visit.objects.get()
    assert visit.state == Visit.State.PROPOSED
    assert set(visit.staff.all()) == {teacher, colleague}
    detail = client.get(response["Location"])
    assert detail.status_code == 200
    assert b"What the policy says" in detail.content
    assert b'class="clause"' in detail.content


def test_a_wrong_proposal_explains_each_problem_and_saves_nothing(teacher, pupil):
    response = signed_in(teacher).post(
        reverse("visits:propose"), propose_data(pupil, [teacher], start_time="11:00", end_time="10:00", reason=""),
    )
    assert response.status_code == 400
    text = response.content.decode()
    assert "There is a problem" in text
    assert "The end time must be after the start time." in text
    assert "This field is required." in text
    assert 'aria-invalid="true"' in text
    assert Visit.objects.count() == 0
    assert AuditEntry.objects.count() == 0


def test_a_visit_in_the_past_is_refused(teacher, pupil):
    yesterday = (timezone.localdate() - datetime.timedelta(days=1)).isoformat()
    response = signed_in(teacher).post(reverse("visits:propose"), propose_data(pupil, [teacher], date=yesterday))
    assert response.status_code == 400
    assert b"The visit must start in the future" in response.content
    assert Visit.objects.count() == 0


def test_another_schools_pupil_cannot_be_chosen(teacher, elsewhere):
    response = signed_in(teacher).post(reverse("visits:propose"), propose_data(elsewhere["pupil"], [teacher]))
    assert response.status_code == 400
    assert b"Select a valid choice" in response.content
    assert b"Zed Other" not in response.content
    assert Visit.objects.count() == 0


def test_the_live_check_shows_the_policy_findings_with_their_clauses_and_saves_nothing(teacher, pupil):
    response = signed_in(teacher).post(
        reverse("visits:propose_check"), propose_data(pupil, [teacher]), HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "C 2.10" in text  # Coteford: always two staff
    assert "<html" not in text  # a fragment for htmx to swap in
    assert Visit.objects.count() == 0
    assert AuditEntry.objects.count() == 0


def test_the_live_check_says_what_is_missing_before_it_can_check(teacher, pupil):
    response = signed_in(teacher).post(reverse("visits:propose_check"), {"pupil": pupil.pk}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert b"To check the plan, fill in" in response.content
    assert b"Purpose" in response.content


# ---------------------------------------------------------------- a visit and its actions

def test_the_visit_page_shows_findings_state_and_history(teacher, proposed):
    response = signed_in(teacher).get(reverse("visits:detail", args=[proposed.pk]))
    assert response.status_code == 200
    text = response.content.decode()
    assert "Proposed" in text
    assert 'class="clause"' in text
    assert "History" in text and "Teacher Example" in text
    assert "Approve this visit" not in text


def test_office_staff_get_no_approve_button_and_their_approval_is_refused(office, proposed):
    client = signed_in(office)
    response = client.get(reverse("visits:detail", args=[proposed.pk]))
    assert response.status_code == 200
    assert b"Approve this visit" not in response.content
    assert b"Decline" not in response.content
    assert client.post(reverse("visits:approve", args=[proposed.pk])).status_code == 403
    assert client.get(reverse("visits:approvals")).status_code == 403
    proposed.refresh_from_db()
    assert proposed.state == Visit.State.PROPOSED
    assert proposed.approved_by is None


def test_visiting_staff_cannot_reach_the_approvals_inbox(teacher):
    assert signed_in(teacher).get(reverse("visits:approvals")).status_code == 403


def test_the_inbox_shows_each_proposal_with_its_findings_and_clauses(head, proposed):
    response = signed_in(head).get(reverse("visits:approvals"))
    assert response.status_code == 200
    text = response.content.decode()
    assert "Ava Brown" in text and "Persistent absence" in text
    assert 'class="clause"' in text
    assert ">Approve</button>" in text
    assert "Decline with a reason" in text


def test_the_headteacher_approves_from_the_inbox(head, proposed):
    response = signed_in(head).post(
        reverse("visits:approve", args=[proposed.pk]), {"next": reverse("visits:approvals")},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("visits:approvals")
    proposed.refresh_from_db()
    assert proposed.state == Visit.State.APPROVED
    assert proposed.approved_by == head


def test_the_next_address_cannot_send_you_off_site(head, proposed):
    response = signed_in(head).post(reverse("visits:approve", args=[proposed.pk]), {"next": "https://evil.example/"})
    assert response["Location"] == reverse("visits:detail", args=[proposed.pk])


def test_declining_needs_a_reason_and_an_empty_one_changes_nothing(head, proposed):
    client = signed_in(head)
    response = client.post(reverse("visits:decline", args=[proposed.pk]), {"decline-reason": "  "})
    assert response.status_code == 400
    assert b"Give a reason" in response.content
    proposed.refresh_from_db()
    assert proposed.state == Visit.State.PROPOSED

    client.post(reverse("visits:decline", args=[proposed.pk]), {"decline-reason": "A phone call first."})
    proposed.refresh_from_db()
    assert proposed.state == Visit.State.DECLINED
    assert "phone call" in proposed.closed_reason
    assert b"A phone call first." in client.get(reverse("visits:detail", args=[proposed.pk])).content


def test_a_lone_visit_is_refused_approval_under_a_two_person_policy(head, teacher, pupil):
    day = next_school_day()
    visit = services.propose(
        teacher, pupil=pupil, purpose="attendance", reason="Absent.", starts_at=at(day, 10), ends_at=at(day, 11),
        staff=[teacher],
    )
    response = signed_in(head).post(reverse("visits:approve", args=[visit.pk]))
    assert response.status_code == 409
    assert b"C 2.10" in response.content
    visit.refresh_from_db()
    assert visit.state == Visit.State.PROPOSED


def test_the_proposer_withdraws_with_a_reason(teacher, proposed):
    client = signed_in(teacher)
    assert b"Withdraw this visit" in client.get(reverse("visits:detail", args=[proposed.pk])).content
    client.post(reverse("visits:withdraw", args=[proposed.pk]), {"withdraw-reason": "Parent came into school."})
    proposed.refresh_from_db()
    assert proposed.state == Visit.State.WITHDRAWN


def test_visiting_staff_not_on_a_visit_cannot_withdraw_it(school, proposed):
    stranger = make_person(school, "stranger", "family_support")
    client = signed_in(stranger)
    assert b"Withdraw this visit" not in client.get(reverse("visits:detail", args=[proposed.pk])).content
    assert client.post(reverse("visits:withdraw", args=[proposed.pk]), {"withdraw-reason": "x"}).status_code == 403


def test_the_list_is_compiled_signed_and_the_appointment_recorded(head, office, teacher, proposed):
    services.approve(head, proposed)
    office_client = signed_in(office)
    form = office_client.get(reverse("visits:list_create"))
    assert form.status_code == 200 and b"Ava Brown" in form.content
    empty = office_client.post(reverse("visits:list_create"), {"title": "Week 48"})
    assert empty.status_code == 400 and b"Choose at least one approved visit." in empty.content
    assert VisitList.objects.count() == 0
    response = office_client.post(reverse("visits:list_create"), {"title": "Week 48", "visits": [proposed.pk]})
    visit_list = VisitList.objects.get()
    assert response["Location"] == reverse("visits:list_detail", args=[visit_list.pk])

    # Only the headteacher signs.
    assert b"Sign this visit list" not in office_client.get(response["Location"]).content
    assert office_client.post(reverse("visits:list_sign", args=[visit_list.pk])).status_code == 403
    head_client = signed_in(head)
    page = head_client.get(response["Location"]).content.decode()
    assert "Sign this visit list" in page and "12 Mill Lane" in page and "Dana Brown" in page
    head_client.post(reverse("visits:list_sign", args=[visit_list.pk]))
    visit_list.refresh_from_db()
    assert visit_list.signed_by == head

    # The appointment: a form error first, then the real thing.
    teacher_client = signed_in(teacher)
    contact = proposed.pupil.contacts.get()
    bad = teacher_client.post(reverse("visits:schedule", args=[proposed.pk]), {"schedule-agreed_with": contact.pk})
    assert bad.status_code == 400
    proposed.refresh_from_db()
    assert proposed.state == Visit.State.APPROVED
    teacher_client.post(reverse("visits:schedule", args=[proposed.pk]), {
        "schedule-appointment_agreed": "on", "schedule-written_confirmation": "on", "schedule-agreed_with": contact.pk,
    })
    proposed.refresh_from_db()
    assert proposed.state == Visit.State.SCHEDULED
    assert proposed.appointment_agreed and proposed.written_confirmation
    assert proposed.appointment_agreed_with == contact


# ---------------------------------------------------------------- other schools

def test_nobody_sees_another_schools_records(head, elsewhere):
    other_visit = services.propose(
        elsewhere["head"], pupil=elsewhere["pupil"], purpose="attendance", reason="Absent.",
        starts_at=at(next_school_day(), 10), ends_at=at(next_school_day(), 11), staff=[elsewhere["head"]],
    )
    other_list = VisitList.objects.create(
        school=elsewhere["school"], title="Theirs", created_by=elsewhere["head"], created_at=timezone.now(),
    )
    client = signed_in(head)
    assert client.get(reverse("pupils:detail", args=[elsewhere["pupil"].pk])).status_code == 404
    assert client.get(reverse("visits:detail", args=[other_visit.pk])).status_code == 404
    assert client.post(reverse("visits:approve", args=[other_visit.pk])).status_code == 404
    assert client.get(reverse("visits:list_detail", args=[other_list.pk])).status_code == 404
    assert client.post(reverse("visits:list_sign", args=[other_list.pk])).status_code == 404
    assert client.get(reverse("people:staff_detail", args=[elsewhere["head"].pk])).status_code == 404
    assert b"Other, Zed" not in client.get(reverse("pupils:index") + "?q=Zed").content
    assert b"Theirs" not in client.get(reverse("visits:lists")).content
    other_visit.refresh_from_db()
    assert other_visit.state == Visit.State.PROPOSED


# ---------------------------------------------------------------- pupils

def test_the_pupil_list_searches_by_name_class_and_postcode(teacher, pupil, school):
    make_pupil(school, "Ben", "Carter")
    client = signed_in(teacher)
    everyone = client.get(reverse("pupils:index")).content.decode()
    assert "Brown, Ava" in everyone and "Carter, Ben" in everyone
    found = client.get(reverse("pupils:index"), {"q": "carter"}).content.decode()
    assert "Carter, Ben" in found and "Brown, Ava" not in found


def test_the_pupil_page_shows_the_home_the_risks_and_attendance(teacher, pupil, sbm):
    from attendance.models import AttendanceMark

    pupil.send, pupil.medical, pupil.medical_notes = True, True, "Asthma: inhaler in bag."
    pupil.save()
    ra = pupil.risk_assessments.get()
    Hazard.objects.create(assessment=ra, hazard="Steep steps", severity=2, likelihood=2, controls="Take care")
    HouseholdNote.objects.create(
        pupil=pupil, kind=HouseholdNote.Kind.ANIMALS, text="Large dog, not always shut away.", dangerous=True,
        recorded_at=timezone.now() + datetime.timedelta(seconds=1),
    )
    HouseholdNote.objects.create(pupil=pupil, kind=HouseholdNote.Kind.CULTURAL, text="Shoes off at the door.",
                                 recorded_at=timezone.now())
    today = timezone.localdate()
    for n in range(10):
        day = today - datetime.timedelta(days=n + 1)
        AttendanceMark.objects.create(pupil=pupil, date=day, session="AM", code="/" if n < 7 else "O")
    response = signed_in(teacher).get(reverse("pupils:detail", args=[pupil.pk]))
    assert response.status_code == 200
    text = response.content.decode()
    for expected in ["Ava Brown", "Year 4", "4B", "12 Mill Lane", "UB10 0AA", "SEND", "Asthma", "Dana Brown",
                     "Risks at this home", "Large dog", "Shoes off", "Steep steps", "low",
                     "Out of date: a new risk was recorded since", "70.0%", "Missed, unauthorised"]:
        assert expected in text, expected
    assert "Below the policy&#x27;s referral threshold of 90" in text or "referral threshold of 90" in text


def test_staff_with_no_role_see_no_pupils(school, pupil):
    nobody = make_person(school, "newstarter", vetted=False)
    client = signed_in(nobody)
    assert client.get(reverse("pupils:detail", args=[pupil.pk])).status_code == 403
    assert client.get(reverse("pupils:index")).status_code == 403


# ---------------------------------------------------------------- staff register

def test_the_register_flags_dbs_rechecks_and_insurance(sbm, teacher, colleague, head):
    today = timezone.localdate()
    recheck = teacher.dbs_checks.get()
    recheck.issued_on = today.replace(year=today.year - 3) + datetime.timedelta(days=10)  # due in ten days
    recheck.save()
    Vehicle.objects.create(staff=teacher, make="Ford", model="Focus", colour="blue", registration="AB12 CDE",
                           insurance_expires_on=today - datetime.timedelta(days=1))
    Vehicle.objects.create(staff=colleague, make="Kia", model="Picanto", colour="red", registration="CD34 EFG",
                           insurance_expires_on=today + datetime.timedelta(days=200))
    Training.objects.create(staff=teacher, course=Training.Course.HOME_VISITING, completed_on=today)
    response = signed_in(sbm).get(reverse("people:register"))
    assert response.status_code == 200
    text = response.content.decode()
    assert "Needs attention" in text
    assert "DBS recheck due" in text
    assert "Car insurance expired" in text
    assert "AB12 CDE" in text and "07700 900123" in text and "Home visiting" in text
    assert "Attendance officer" in text and "Headteacher" in text
    assert "Kia Picanto" not in text.split("Needs attention")[1].split("</section>")[0]


@pytest.mark.parametrize("person", ["teacher", "colleague"])
def test_visiting_staff_do_not_see_the_register(request, person):
    staff = request.getfixturevalue(person)
    assert signed_in(staff).get(reverse("people:register")).status_code == 403
    assert signed_in(staff).get(reverse("people:staff_detail", args=[staff.pk])).status_code == 403


def test_the_office_sees_the_register(office):
    assert signed_in(office).get(reverse("people:register")).status_code == 200


# ---------------------------------------------------------------- the policy

def test_the_policy_page_lists_every_rule_with_its_clause(teacher, school):
    response = signed_in(teacher).get(reverse("policies:show"))
    assert response.status_code == 200
    text = response.content.decode()
    policy = school.current_policy().load()
    rules = policy.rules()
    assert rules
    for rule in rules:
        # Each setting by what it means, never by its key in the policy file.
        assert escape(rule["description"]) in text
        assert f">{rule['key']}<" not in text
    assert "C 2.10" in text
    if any(r["clause"] == "default" for r in rules):
        assert "policy silent" in text


def test_the_live_check_says_when_the_school_is_closed_that_day(teacher, pupil):
    from schools.models import SchoolClosure

    day = next_school_day()
    SchoolClosure.objects.create(school=pupil.school, first_day=day, last_day=day, label="INSET day")
    response = signed_in(teacher).post(
        reverse("visits:propose_check"), propose_data(pupil, [teacher], date=day.isoformat()), HTTP_HX_REQUEST="true")
    assert "The school is closed that day: <strong>INSET day" in response.content.decode()
    other_day = day + datetime.timedelta(days=7)
    response = signed_in(teacher).post(
        reverse("visits:propose_check"), propose_data(pupil, [teacher], date=other_day.isoformat()), HTTP_HX_REQUEST="true")
    assert "The school is closed" not in response.content.decode()
