"""The permission matrix: the written document agrees with the code, every page and API
operation is in it, and the code enforces what it says (docs/security.md, "Who may see what")."""
import datetime
import re
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.core.management import call_command
from django.template import Context, Template
from django.utils import timezone

from people.models import StaffMember
from doorstep import permission_places
from people.permissions import ROLE_MATRIX, can
from tests.factories import PupilFactory, SchoolFactory, StaffFactory, Staffed, TrustFactory, UserFactory, VisitFactory
from visits.models import Visit

pytestmark = pytest.mark.django_db

DOC = Path(settings.BASE_DIR) / "docs" / "permissions.md"


def test_the_written_matrix_is_exactly_what_the_code_enforces():
    assert DOC.read_text(encoding="utf-8") == permission_places.render(), (
        "docs/permissions.md is out of date: run `doorstep permissions_doc`")


def test_permissions_doc_check_fails_when_the_document_is_edited_by_hand(tmp_path):
    from django.core.management.base import CommandError

    out = tmp_path / "permissions.md"
    call_command("permissions_doc", output=str(out))
    call_command("permissions_doc", output=str(out), check=True)
    out.write_text(out.read_text().replace("| ✓ |", "|  |", 1))
    with pytest.raises(CommandError, match="does not match the code"):
        call_command("permissions_doc", output=str(out), check=True)


def test_every_action_has_a_row_saying_what_it_allows_and_where():
    assert set(permission_places.PLACES) == set(ROLE_MATRIX)


def test_every_page_outside_the_admin_is_in_the_matrix_or_listed_as_open():
    covered = {p for _, places in permission_places.PLACES.values() for p in places} | set(permission_places.OPEN)
    pages = {name for name, path in permission_places.page_paths().items() if not path.startswith("/api/")}
    pages |= {name for name in permission_places.page_paths() if name in permission_places.OPEN}
    missing = pages - covered
    assert not missing, f"pages with no row in doorstep/permission_places.py: {sorted(missing)}"


def test_every_api_operation_is_in_the_matrix():
    covered = {p for _, places in permission_places.PLACES.values() for p in places}
    missing = set(permission_places.api_operations()) - covered
    assert not missing, f"API operations with no row in doorstep/permission_places.py: {sorted(missing)}"


def test_no_row_names_a_page_or_operation_that_does_not_exist():
    known = set(permission_places.page_paths()) | set(permission_places.api_operations())
    named = {p for _, places in permission_places.PLACES.values() for p in places} | set(permission_places.OPEN)
    assert named - known == set()


def test_every_action_the_code_asks_about_is_in_the_matrix():
    """Grep the apps for can(..., "x.y") / require(..., "x.y") / {% can me "x.y" %}: an action
    the matrix does not know would raise KeyError at the worst moment."""
    root = Path(settings.BASE_DIR)
    pattern = re.compile(r"""(?:\bcan|require|_require|_school_ids|staff_at|_alert_for|_alert|board_staff)\([^)]*?["']([a-z_]+\.[a-z_]+)["']"""
                         r"""|\{% can \w+ ["']([a-z_]+\.[a-z_]+)["']""")
    asked = set()
    for path in root.glob("*/**/*"):
        if path.suffix not in {".py", ".html"} or any(part in {".venv", "tests", "node_modules", "bench"} for part in path.parts):
            continue
        for match in pattern.finditer(path.read_text(encoding="utf-8", errors="ignore")):
            asked.add(match.group(1) or match.group(2))
    assert asked, "the search found nothing: the pattern is broken"
    assert asked - set(ROLE_MATRIX) == set()


# ------------------------------------------------------------- can() == has_perm == {% can %}

CAN_TAG = Template('{% load doorstep_tags %}{% can me action obj as ok %}{{ ok }}')


def _tag(staff, action, obj):
    return CAN_TAG.render(Context({"me": staff, "action": action, "obj": obj})) == "True"


def test_can_django_has_perm_and_the_template_tag_agree_for_every_role_and_action():
    s = Staffed("coteford")
    other = SchoolFactory()
    visit = VisitFactory(school=s.school, pupil=s.pupil, staff=[s.officer, s.teacher], state=Visit.State.SCHEDULED,
                         starts_at=timezone.now() + datetime.timedelta(hours=1),
                         ends_at=timezone.now() + datetime.timedelta(hours=2))
    foreign = VisitFactory(school=other)
    from people.models import StaffMember

    people = list(StaffMember.objects.filter(school=s.school).prefetch_related("roles").select_related("user"))
    assert len(people) >= 8  # one in every role, and the visit's proposer
    for staff in people:
        for action in ROLE_MATRIX:
            for obj in (None, visit, foreign):
                expected = can(staff, action, obj)
                assert staff.user.has_perm(f"doorstep.{action}", obj) == expected, (staff, action, obj)
                assert _tag(staff, action, obj) == expected, (staff, action, obj)
            assert can(staff, action, foreign) is False, f"{action} allowed on another school's visit"


def test_every_role_is_refused_every_action_on_another_schools_record():
    a, b = Staffed("coteford"), SchoolFactory()
    pupil_b = PupilFactory(school=b)
    for staff in [a.head, a.dsl, a.office, a.officer]:
        assert not any(can(staff, action, pupil_b) for action in ROLE_MATRIX)


def test_an_unknown_action_is_an_error_not_a_silent_no():
    with pytest.raises(KeyError, match="unknown action"):
        can(Staffed().head, "visit.teleport")


def test_a_user_without_a_staff_record_may_do_nothing():
    user = UserFactory()
    assert not any(user.has_perm(f"doorstep.{action}") for action in ROLE_MATRIX)
    assert not any(can(None, action) for action in ROLE_MATRIX)


# ------------------------------------------- the promises of docs/security.md, "Who may see what"

def test_office_staff_see_the_board_and_the_police_card_but_not_safeguarding_concerns():
    s = Staffed()
    assert can(s.office, "board.view") and can(s.office, "alert.police_card")
    assert not can(s.office, "concern.view", s.pupil)


def test_the_dsl_sees_concerns_and_teachers_do_not():
    s = Staffed()
    assert can(s.dsl, "concern.view", s.pupil)
    assert not can(s.teacher, "concern.view", s.pupil)
    assert not can(s.family, "concern.view", s.pupil)


class TestBriefingIsForStaffOnTheVisitWhileItIsRelevant:
    @pytest.fixture
    def world(self):
        s = Staffed()
        day = datetime.date(2026, 11, 24)
        starts = timezone.make_aware(datetime.datetime.combine(day, datetime.time(10)))
        visit = VisitFactory(school=s.school, pupil=s.pupil, staff=[s.officer], state=Visit.State.SCHEDULED,
                             starts_at=starts, ends_at=starts + datetime.timedelta(minutes=45))
        return s, visit, starts

    def test_staff_on_the_visit_see_it_on_the_day(self, world):
        s, visit, starts = world
        with time_machine.travel(starts - datetime.timedelta(hours=2), tick=False):
            assert can(s.officer, "briefing.view", visit)

    def test_staff_not_on_the_visit_never_do_whatever_their_role(self, world):
        s, visit, starts = world
        with time_machine.travel(starts - datetime.timedelta(hours=2), tick=False):
            assert not can(s.teacher, "briefing.view", visit)
            assert not can(s.head, "briefing.view", visit)

    def test_not_the_day_before(self, world):
        s, visit, starts = world
        with time_machine.travel(starts - datetime.timedelta(days=1), tick=False):
            assert not can(s.officer, "briefing.view", visit)

    def test_not_the_day_after_unless_it_is_still_under_way(self, world):
        s, visit, starts = world
        with time_machine.travel(starts + datetime.timedelta(days=1), tick=False):
            assert not can(s.officer, "briefing.view", visit)
            Visit.objects.filter(pk=visit.pk).update(state=Visit.State.UNDER_WAY)
            visit.refresh_from_db()
            assert can(s.officer, "briefing.view", visit)

    def test_not_once_the_report_is_submitted(self):
        from reports.services import submit_report
        from tests.records_support import ended_visit, report_data

        s = Staffed()
        visit = ended_visit(s, day=timezone.localdate(), hour=0)  # ended earlier today
        assert can(s.officer, "briefing.view", visit)
        submit_report(s.officer, visit, report_data())
        visit.refresh_from_db()
        assert not can(s.officer, "briefing.view", visit)


# ------------------------------------------------------------- trust administrators

@pytest.fixture
def trust_admin(client):
    trust = TrustFactory()
    school = SchoolFactory(trust=trust)
    elsewhere = SchoolFactory()
    user = UserFactory(is_staff=True)
    trust.admins.add(user)
    client.force_login(user)
    return client, user, school, elsewhere


def test_a_trust_admin_manages_their_schools_and_staff_in_the_admin(trust_admin):
    client, user, school, elsewhere = trust_admin
    StaffFactory(school=school, full_name="Mine Staff")
    StaffFactory(school=elsewhere, full_name="Other Staff")
    index = client.get("/admin/")
    assert index.status_code == 200
    assert b"/admin/schools/school/" in index.content and b"/admin/people/staffmember/" in index.content
    page = client.get("/admin/people/staffmember/")
    assert page.status_code == 200
    assert b"Mine Staff" in page.content and b"Other Staff" not in page.content
    assert elsewhere.name.encode() not in page.content  # not even as a filter choice
    assert client.get(f"/admin/schools/school/{school.pk}/change/").status_code == 200
    assert client.get(f"/admin/schools/school/{elsewhere.pk}/change/").status_code in (302, 403, 404)


@pytest.mark.parametrize("url", ["/admin/pupils/pupil/", "/admin/visits/visit/", "/admin/risk/riskassessment/",
                                 "/admin/audit/auditentry/", "/admin/visits/visitlist/", "/admin/visits/override/"])
def test_a_trust_admin_cannot_open_pupil_records_in_the_admin(trust_admin, url):
    client, user, school, _ = trust_admin
    PupilFactory(school=school, first_name="Secret", last_name="Child")
    response = client.get(url)
    assert response.status_code == 403
    assert b"Secret" not in client.get("/admin/").content


def test_a_trust_admin_given_model_permissions_by_mistake_still_cannot_read_pupils(trust_admin):
    from django.contrib.auth.models import Permission

    client, user, school, _ = trust_admin
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="pupils"))
    pupil = PupilFactory(school=school)
    assert client.get("/admin/pupils/pupil/").status_code == 403
    assert client.get(f"/admin/pupils/pupil/{pupil.pk}/change/").status_code in (302, 403)


def test_a_trust_admin_cannot_read_pupils_on_doorsteps_own_pages_either(trust_admin):
    client, user, school, _ = trust_admin
    pupil = PupilFactory(school=school)
    assert client.get(f"/pupils/{pupil.pk}/").status_code in (302, 403, 404)
    assert not any(user.has_perm(f"doorstep.{action}") for action in ROLE_MATRIX)


def test_the_demo_trust_login_is_a_trust_admin_not_a_superuser(client, monkeypatch):
    from io import StringIO

    from django.contrib.auth import get_user_model

    from doorstep.management.commands import load_demo

    monkeypatch.setattr(load_demo, "SCHOOLS", [])  # the trust and its admin only: the schools take seconds
    call_command("load_demo", stdout=StringIO())
    user = get_user_model().objects.get(username="trust")
    assert user.is_staff and not user.is_superuser
    assert user.administered_trusts.count() == 1
    client.force_login(user)
    assert client.get("/admin/schools/school/").status_code == 200
    assert client.get("/admin/pupils/pupil/").status_code == 403


# ----------------------------------------------------------------- administrators hold no school role

def admin_staff_form(school, user_pk, role):
    """The admin's add-staff form, filled in as a person would (one role row)."""
    data = {"school": school.pk, "user": user_pk, "full_name": "Trust Admin", "job_title": "", "mobile": "",
            "email": "", "appearance": "", "active": "on"}
    for prefix, rows in (("roles", [{"role": role}]), ("dbs_checks", []), ("training", []), ("vehicles", [])):
        data.update({f"{prefix}-TOTAL_FORMS": len(rows), f"{prefix}-INITIAL_FORMS": 0,
                     f"{prefix}-MIN_NUM_FORMS": 0, f"{prefix}-MAX_NUM_FORMS": 1000})
        for i, row in enumerate(rows):
            data.update({f"{prefix}-{i}-{k}": v for k, v in row.items()})
    return data


def test_a_trust_admin_cannot_put_their_own_account_on_a_staff_register(trust_admin):
    client, user, school, _ = trust_admin
    page = client.get("/admin/people/staffmember/add/").content.decode()
    accounts = re.search(r'<select name="user".*?</select>', page, re.S).group(0)
    assert f'value="{user.pk}"' not in accounts and user.username not in accounts  # not even offered
    response = client.post("/admin/people/staffmember/add/", admin_staff_form(school, user.pk, "dsl"))
    assert response.status_code == 200  # the form again, with the error
    assert not StaffMember.objects.filter(user=user).exists()
    assert client.get("/pupils/").status_code in (302, 403, 404)


def test_no_path_puts_an_administrator_on_a_register_nor_makes_staff_an_administrator(trust_admin):
    from django.core.exceptions import ValidationError
    from django.db import transaction

    client, user, school, _ = trust_admin
    with pytest.raises(ValidationError, match="cannot be on a school's staff register"):
        StaffFactory(school=school, user=user, roles=["dsl"])
    teacher = StaffFactory(school=school, roles=["teacher"])
    with pytest.raises(ValidationError), transaction.atomic():
        school.trust.admins.add(teacher.user)
    with pytest.raises(ValidationError), transaction.atomic():
        teacher.user.administered_trusts.add(school.trust)
    assert not school.trust.admins.filter(pk=teacher.user.pk).exists()


def test_a_trust_admin_cannot_re_point_a_staff_record_at_their_own_account(trust_admin):
    client, user, school, _ = trust_admin
    dsl = StaffFactory(school=school, roles=["dsl"], full_name="Dana Lead")
    page = client.get(f"/admin/people/staffmember/{dsl.pk}/change/").content.decode()
    assert 'name="user"' not in page  # shown, not editable
    data = admin_staff_form(school, user.pk, "dsl")
    data.update({"full_name": "Dana Lead", "roles-TOTAL_FORMS": 0})
    client.post(f"/admin/people/staffmember/{dsl.pk}/change/", data)
    dsl.refresh_from_db()
    assert dsl.user_id != user.pk


def test_every_staff_register_change_in_the_admin_is_in_the_schools_audit_trail(trust_admin):
    from audit.models import AuditEntry

    client, user, school, _ = trust_admin
    response = client.post("/admin/people/staffmember/add/", admin_staff_form(school, "", "headteacher"))
    assert response.status_code == 302
    added = StaffMember.objects.get(full_name="Trust Admin")
    entries = AuditEntry.objects.filter(school=school, actor=user).order_by("id")
    assert [e.action for e in entries] == ["staff.added", "staff.staffrole_added"]
    assert entries[1].summary == "Staff role added for Trust Admin in the admin: Headteacher"
    assert all(e.object_id == str(added.pk) for e in entries)
