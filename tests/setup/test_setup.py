"""From an empty installation to a school (docs/setup.md): the first administrator sets up the
trust, a school and its headteacher's invitation on Doorstep's pages; the school's set-up
checklist names what is missing with where to do it, and turns green as it is done; a school
set up so cannot propose visits until the safety-critical items are done; the demo's schools
(made without the set-up pages) are not held back; nobody sees another school's set-up."""
import datetime
import json
import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from accounts.invitations import find
from accounts.models import Invitation
from audit.actions import Action
from audit.models import AuditEntry
from mis.models import SyncRun
from notify.models import Channel, Message
from people.models import StaffMember, Training
from people.services import set_pins
from policies.services import store_policy
from safety.readiness.models import Drill
from safety.watchdog import beat
from schools.models import School, SchoolClosure, Trust
from setup import services
from setup.models import SchoolSetup
from tests.factories import (
    ContactFactory, DbsCheckFactory, PupilFactory, StaffFactory, TrustFactory, compliant_staff, preset_text, TrainingFactory,
)
from visits import gates
from visits import services as visit_services
from visits.models import Visit

pytestmark = pytest.mark.django_db

User = get_user_model()
SCHOOL = {"name": "Brookside Primary School", "urn": "123456", "address": "1 Brook Lane\nBedford MK40 1AA",
          "phone": "01632 960000", "email": "office@brookside.example"}


@pytest.fixture
def first_admin():
    return User.objects.create_superuser("admin", "admin@example.org", "a-long-admin-password")


@pytest.fixture
def school_in_setup(first_admin):
    """A trust and a school made on the set-up pages, with its headteacher invited."""
    trust = services.create_trust(first_admin, name="Brook Trust")
    school = services.add_school(first_admin, trust, SCHOOL)
    head, _ = services.add_headteacher(first_admin, school, full_name="Helen Head", email="helen@brookside.example",
                                       mobile="")
    return school, head


def _page(client, name, *args):
    response = client.get(reverse(name, args=args))
    return response, response.content.decode()


def test_empty_installation_first_admin_sets_up_trust_school_and_invites_head(client, first_admin):
    assert not School.objects.exists() and not Trust.objects.exists()
    client.force_login(first_admin)
    # Signed in with nothing set up, the administrator is led to the set-up page.
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == reverse("setup:start")
    response, html = _page(client, "setup:start")
    assert "Set up the trust" in html

    response = client.post(reverse("setup:start"), {"name": "Brook Trust", "kind": "trust"})
    assert response.status_code == 302 and response["Location"] == reverse("setup:school_add")
    trust = Trust.objects.get(name="Brook Trust")
    assert list(trust.admins.all()) == [first_admin]

    # Bad input: a clear error per answer, nothing written.
    response = client.post(reverse("setup:school_add"), {**SCHOOL, "urn": "12", "phone": ""})
    assert response.status_code == 400
    html = response.content.decode()
    assert "six-figure number" in html and "office&#x27;s phone number" in html
    assert not School.objects.exists()

    response = client.post(reverse("setup:school_add"), SCHOOL)
    school = School.objects.get(name=SCHOOL["name"])
    assert response["Location"] == reverse("setup:school", args=[school.pk])
    assert school.trust == trust and school.urn == "123456" and SchoolSetup.objects.filter(school=school).exists()

    response = client.post(reverse("setup:school", args=[school.pk]),
                           {"what": "head", "full_name": "Helen Head", "email": "Helen@Brookside.example",
                            "mobile": "07700 900456"})
    assert response.status_code == 302
    head = StaffMember.objects.get(school=school)
    assert head.role_names == ["headteacher"] and head.email == "helen@brookside.example"
    # The invitation email is in the outbox, with its one-time link, and names no pupil.
    email = Message.objects.get(recipient=head, channel=Channel.EMAIL, kind="staff.invitation")
    assert email.to_address in ("", "helen@brookside.example")
    token = re.fullmatch(r"/accounts/invitation/([^/]+)/", email.link).group(1)
    assert find(token) == Invitation.objects.get(staff=head)
    response, html = _page(client, "setup:start")
    assert "Helen Head (invited, not signed in yet)" in html

    # Changing the school's details, audited with what changed.
    client.post(reverse("setup:school", args=[school.pk]), {"what": "school", **SCHOOL, "phone": "01632 960001"})
    school.refresh_from_db()
    assert school.phone == "01632 960001"
    actions = list(AuditEntry.objects.filter(actor=first_admin).values_list("action", flat=True))
    for action in (Action.TRUST_CREATED, Action.SCHOOL_ADDED, Action.HEADTEACHER_ADDED, Action.STAFF_INVITED,
                   Action.SCHOOL_CHANGED):
        assert action.value in actions
    changed = AuditEntry.objects.get(action=Action.SCHOOL_CHANGED.value)
    assert changed.data["changes"] == {"phone": ["01632 960000", "01632 960001"]}


def test_a_head_whose_email_is_taken_is_not_added_and_nothing_is_sent(first_admin, school_in_setup):
    school, head = school_in_setup
    with pytest.raises(Exception, match="already has the email"):
        services.add_headteacher(first_admin, school, full_name="Other", email="helen@brookside.example", mobile="")
    assert StaffMember.objects.filter(school=school).count() == 1
    assert Invitation.objects.count() == 1


def _items(client):
    response, html = _page(client, "setup:checklist")
    assert response.status_code == 200
    return {i.key: i for i in response.context["items"]}, html


def test_the_checklist_names_each_missing_item_with_its_link_and_turns_green(client, settings, school_in_setup):
    school, head = school_in_setup
    client.force_login(head.user)
    items, html = _items(client)
    assert not any(i.done for i in items.values())
    assert "Visits cannot be proposed yet" in html
    links = {"policy": reverse("policies:show"), "staff": reverse("people:register"),
             "alerts": reverse("people:register"), "pupils": reverse("pupils:import"),
             "term_dates": reverse("term_dates"), "messages": reverse("readiness:panel") + "#drill",
             "pins": reverse("checkins:pins"), "watchdog": reverse("readiness:panel")}
    for key, link in links.items():
        assert items[key].missing, key
        assert f'href="{link}"' in html, key
    assert "No home-visit policy has been adopted" in html
    assert "it has never run" in html
    # The home page points the head to it.
    assert reverse("setup:checklist") in client.get("/").content.decode()

    store_policy(school, "coteford", preset_text("coteford"))
    assert _items(client)[0]["policy"].done

    teacher = compliant_staff(school, "teacher", full_name="Tom Teacher")
    no_dbs = StaffFactory(school=school, roles=["family_support"], full_name="Fay Family")
    staff_item = _items(client)[0]["staff"]
    assert not staff_item.done
    assert staff_item.missing == ["No DBS check recorded for Fay Family and Helen Head.",
                                  "No training recorded for Fay Family and Helen Head."]
    DbsCheckFactory(staff=head)
    TrainingFactory(staff=head, course=Training.Course.HOME_VISITING)
    assert _items(client)[0]["staff"].missing == ["No DBS check recorded for Fay Family.",
                                                  "No training recorded for Fay Family."]
    no_dbs.active = False
    no_dbs.save()
    assert _items(client)[0]["staff"].done

    assert "Nobody on the staff register works in the school office" in _items(client)[0]["alerts"].missing[0]
    office = StaffFactory(school=school, roles=["office"], full_name="Olive Office", mobile="", email="")
    alerts = _items(client)[0]["alerts"]
    assert not alerts.done and alerts.missing == [
        "Nobody in the school office (Olive Office) has a mobile or an email address on record, so an alert "
        "reaches them only when Doorstep is open.",
        "Olive Office gets alerts but has no mobile or email on record."]
    office.mobile = "07700 900321"
    office.save()
    assert _items(client)[0]["alerts"].done

    pupil = PupilFactory(school=school, contacts=0)
    pupils = _items(client)[0]["pupils"]
    assert pupils.missing == ["1 pupil on the roll has no contact (parent or carer) on record."]
    assert pupils.link == reverse("pupils:index")  # the import page only while the roll is empty
    ContactFactory(pupil=pupil)
    assert _items(client)[0]["pupils"].done

    today = timezone.localdate()
    SchoolClosure.objects.create(school=school, first_day=today - datetime.timedelta(days=30),
                                 last_day=today - datetime.timedelta(days=29), label="Past")
    assert not _items(client)[0]["term_dates"].done  # only dates ahead count
    SchoolClosure.objects.create(school=school, first_day=today + datetime.timedelta(days=20),
                                 last_day=today + datetime.timedelta(days=24), label="Half-term")
    assert _items(client)[0]["term_dates"].done

    # A test alarm whose text only went to the log does not count; one that reached both does.
    settings.EMAIL_HOST, settings.EMAIL_BACKEND = "mail.example.org", "django.core.mail.backends.smtp.EmailBackend"
    drill = Drill.objects.create(school=school, started_by=teacher, started_at=timezone.now())
    for channel, provider in ((Channel.SMS, "console"), (Channel.EMAIL, "smtp")):
        Message.objects.create(school=school, recipient=teacher, channel=channel, kind="drill", subject="TEST",
                               body="TEST", idempotency_key=drill.idempotency_key, status=Message.Status.SENT,
                               provider=provider, sent_at=timezone.now())
    messages_item = _items(client)[0]["messages"]
    assert not messages_item.done and "only went to the log" in messages_item.missing[0]
    Message.objects.filter(channel=Channel.SMS).update(provider="twilio")
    assert _items(client)[0]["messages"].done

    set_pins(teacher, safe_pin="2468", duress_pin="1357", by=teacher)
    assert _items(client)[0]["pins"].done

    beat("test-host:1")
    items, html = _items(client)
    assert all(i.done for i in items.values()), [k for k, i in items.items() if not i.done]
    assert "Visits can be proposed." in html


def test_proposing_is_refused_until_the_safety_critical_items_are_done(client, first_admin, school_in_setup):
    school, head = school_in_setup
    teacher = compliant_staff(school, "teacher", full_name="Tom Teacher")
    pupil = PupilFactory(school=school)
    client.force_login(teacher.user)
    response, html = _page(client, "visits:propose")
    assert "Visits cannot be proposed yet" in html
    for words, link in (("No home-visit policy has been adopted", reverse("policies:show")),
                        ("Nobody on the staff register works in the school office", reverse("people:register")),
                        ("watchdog that alerts the office", reverse("readiness:panel"))):
        assert words in html and f'href="{link}"' in html
    start = timezone.now() + datetime.timedelta(days=7)
    plan = dict(pupil=pupil, purpose="attendance", reason="Attendance has fallen.", starts_at=start,
                ends_at=start + datetime.timedelta(hours=1), staff=[teacher])
    with pytest.raises(gates.NotReadyToPropose) as refused:
        visit_services.propose(teacher, **plan)
    assert len(refused.value.missing) == 3
    response = client.post(reverse("visits:propose"), {"pupil": pupil.pk})
    assert response.status_code == 409 and not Visit.objects.exists()

    # The API is refused the same way (the gate is in the service).
    store_policy(school, "coteford", preset_text("coteford"))
    StaffFactory(school=school, roles=["office"], full_name="Olive Office", email="")
    with pytest.raises(gates.NotReadyToPropose) as refused:
        visit_services.propose(teacher, **plan)
    assert [m.link for m in refused.value.missing] == [reverse("readiness:panel")]

    beat("test-host:1")
    assert gates.missing_before_proposing(school) == []
    visit = visit_services.propose(teacher, **plan)
    assert visit.state == Visit.State.PROPOSED
    response, html = _page(client, "visits:propose")
    assert "Visits cannot be proposed yet" not in html and 'id="propose-form"' in html

    # A watchdog that stops later stops proposals again: the gate is asked each time.
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("setup.services.watchdog_is_stale", lambda now=None: True)
        with pytest.raises(gates.NotReadyToPropose):
            visit_services.propose(teacher, **plan)


def test_schools_not_set_up_on_these_pages_are_not_held_back(client, coteford):
    """The demo's and older installations' schools (no set-up row), with no watchdog heartbeat:
    visits are proposed at once, as before."""
    assert not SchoolSetup.objects.exists()
    assert gates.missing_before_proposing(coteford.school) == []
    visit = visit_services.propose(coteford.officer, **coteford.visit_kwargs())
    assert visit.state == Visit.State.PROPOSED
    client.force_login(coteford.officer.user)
    assert 'id="propose-form"' in client.get(reverse("visits:propose")).content.decode()
    client.force_login(coteford.head.user)
    response, html = _page(client, "setup:checklist")
    assert response.status_code == 200 and "Visits cannot be proposed yet" not in html
    assert reverse("setup:checklist") not in client.get("/").content.decode()


def test_a_head_sees_only_their_own_schools_checklist(client, first_admin, school_in_setup):
    school_a, head_a = school_in_setup
    school_b = services.add_school(first_admin, Trust.objects.get(), {**SCHOOL, "name": "Other School", "urn": ""})
    StaffFactory(school=school_b, roles=["office"], full_name="Bea Bee-Office")
    PupilFactory(school=school_b)
    client.force_login(head_a.user)
    items, html = _items(client)
    assert "Other School" not in html and "Bea Bee-Office" not in html
    assert items["pupils"].missing == ["No pupils are on the roll yet: import them from the school's MIS."]
    # Trust pages are not theirs at all.
    assert client.get(reverse("setup:start")).status_code == 403
    assert client.get(reverse("setup:school", args=[school_b.pk])).status_code == 404


def test_a_trust_admin_manages_only_their_own_trusts_schools(client, first_admin, school_in_setup):
    school_a, _ = school_in_setup
    other_admin = User.objects.create_user("other-admin", password="a-long-admin-password")
    other = TrustFactory(name="Other Trust")
    other.admins.add(other_admin)
    client.force_login(other_admin)
    assert client.get("/").status_code == 302  # to the set-up page: they have no school role
    html = client.get(reverse("setup:start")).content.decode()
    assert school_a.name not in html
    assert client.get(reverse("setup:school", args=[school_a.pk])).status_code == 404
    response = client.post(reverse("setup:school", args=[school_a.pk]),
                           {"what": "head", "full_name": "Intruder", "email": "x@example.org", "mobile": ""})
    assert response.status_code == 404
    assert StaffMember.objects.filter(school=school_a).count() == 1
    # Only the installation's administrator makes trusts.
    response = client.post(reverse("setup:start"), {"name": "A Third Trust", "kind": "trust"})
    assert response.status_code == 403 and not Trust.objects.filter(name="A Third Trust").exists()
    # Adding a school goes to their own trust, never another's.
    client.post(reverse("setup:school_add"), {**SCHOOL, "name": "Their School", "urn": "", "trust": school_a.trust_id})
    assert School.objects.get(name="Their School").trust == other


@pytest.mark.parametrize("role, status", [("headteacher", 200), ("business_manager", 200), ("teacher", 403),
                                          ("office", 403), ("deputy_headteacher", 403)])
def test_who_sees_the_checklist(client, school_in_setup, role, status):
    school, _ = school_in_setup
    person = StaffFactory(school=school, roles=[role])
    client.force_login(person.user)
    assert client.get(reverse("setup:checklist")).status_code == status


def test_someone_with_no_school_and_no_trust_is_not_let_in(client):
    user = User.objects.create_user("nobody", password="a-long-password-1")
    client.force_login(user)
    assert client.get(reverse("setup:start")).status_code == 403
    assert client.get(reverse("setup:school_add")).status_code == 403
    assert client.get("/").status_code == 403


def test_the_pupils_item_shows_a_failed_mis_sync_with_its_page(client, school_in_setup):
    school, head = school_in_setup
    PupilFactory(school=school)
    SyncRun.objects.create(school=school, started=timezone.now() - datetime.timedelta(minutes=5),
                           finished=timezone.now(), ok=False, error="Wonde did not accept the school's token.")
    client.force_login(head.user)
    items, html = _items(client)
    assert not items["pupils"].done
    assert "failed: Wonde did not accept the school's token." in items["pupils"].missing[0]
    assert f'href="{reverse("mis:wonde")}"' in html
    SyncRun.objects.create(school=school, started=timezone.now(), finished=timezone.now(), ok=True)
    items, _ = _items(client)
    assert items["pupils"].done and "Last synced from the MIS" in items["pupils"].detail


def test_the_demo_proposes_at_once_and_its_trust_admin_reaches_the_set_up_page(client):
    """`make run` / `doorstep load_demo`: no watchdog heartbeat needed, nothing held back."""
    call_command("load_demo", stdout=StringIO())
    assert not SchoolSetup.objects.exists()
    officer = StaffMember.objects.get(user__username="attendance")
    for school in School.objects.all():
        assert gates.missing_before_proposing(school) == []
    client.force_login(officer.user)
    assert 'id="propose-form"' in client.get(reverse("visits:propose")).content.decode()
    client.force_login(User.objects.get(username="trust"))
    assert client.get("/")["Location"] == reverse("setup:start")
    html = client.get(reverse("setup:start")).content.decode()
    assert "Coteford Junior School" in html and "Potton Primary School" in html


def test_an_administrator_of_two_trusts_must_choose_one_of_theirs(client, first_admin):
    services.create_trust(first_admin, name="First Trust")
    second = services.create_trust(first_admin, name="Second Trust")
    foreign = TrustFactory(name="Someone Else's Trust")
    client.force_login(first_admin)
    for trust_id in ("", str(foreign.pk)):
        response = client.post(reverse("setup:school_add"), {**SCHOOL, "trust": trust_id})
        assert response.status_code == 400
        assert "Choose which of your trusts" in response.content.decode()
    assert not School.objects.exists()
    client.post(reverse("setup:school_add"), {**SCHOOL, "trust": str(second.pk)})
    assert School.objects.get().trust == second


def test_the_api_refuses_a_proposal_the_same_way(client, school_in_setup):
    school, head = school_in_setup
    teacher = compliant_staff(school, "teacher", full_name="Tom Teacher")
    pupil = PupilFactory(school=school)
    client.force_login(teacher.user)
    start = timezone.localtime() + datetime.timedelta(days=7)
    response = client.post("/api/visits", json.dumps({
        "pupil_id": pupil.pk, "purpose": "attendance", "reason": "Attendance has fallen.",
        "starts_at": start.isoformat(), "ends_at": (start + datetime.timedelta(hours=1)).isoformat(),
        "staff_ids": [teacher.pk]}), content_type="application/json")
    assert response.status_code == 403
    detail = response.json()["detail"]
    assert detail.startswith("Visits cannot be proposed yet:") and "watchdog" in detail
    assert not Visit.objects.exists()
