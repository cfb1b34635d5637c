"""The set-up checklist's "staff invited" item: who has accepted their invitation and who has
not (with when the link runs out), and a way to send it again from there."""
import datetime

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts.invitations import invite
from accounts.models import Invitation
from setup import services
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db

User = get_user_model()


@pytest.fixture
def school_in_setup():
    admin = User.objects.create_superuser("admin", "admin@example.org", "a-long-admin-password")
    trust = services.create_trust(admin, name="Brook Trust")
    school = services.add_school(admin, trust, {"name": "Brookside Primary School", "urn": "123456",
                                                "address": "1 Brook Lane", "phone": "01632 960000",
                                                "email": "office@brookside.example"})
    head, _ = services.add_headteacher(admin, school, full_name="Helen Head", email="helen@brookside.example",
                                       mobile="")
    return school, head


def as_written(moment):
    return f"{timezone.localtime(moment):%A %-d %B %Y, %H:%M}"


def test_the_staff_item_lists_who_has_accepted_and_who_has_not_with_the_dates(client, school_in_setup):
    school, head = school_in_setup
    head_invitation = Invitation.objects.get(staff=head)
    Invitation.objects.filter(pk=head_invitation.pk).update(used_at=timezone.now())
    tess = StaffFactory(school=school, roles=["teacher"], full_name="Tess Teacher", email="tess@brookside.example")
    olu = StaffFactory(school=school, roles=["office"], full_name="Olu Office", email="olu@brookside.example")
    StaffFactory(school=school, roles=["teacher"], full_name="Nia New", email="nia@brookside.example", user=None)
    tess_invitation = invite(tess, by=head)
    olu_invitation = invite(olu, by=head)
    Invitation.objects.filter(pk=olu_invitation.pk).update(expires_at=timezone.now() - datetime.timedelta(days=1))
    olu_invitation.refresh_from_db()

    client.force_login(head.user)
    response = client.get(reverse("setup:checklist"))
    html = response.content.decode()
    item = {i.key: i for i in response.context["items"]}["staff"]
    assert [(r.staff.full_name, r.state) for r in item.invitations] == [
        ("Olu Office", "expired"), ("Nia New", "not_sent"), ("Tess Teacher", "open"), ("Helen Head", "accepted")]
    assert "Invitations: 1 of 4 accepted" in html
    assert f"Its link works until {as_written(tess_invitation.expires_at)}" in html
    assert f"Not accepted before its link ran out on {as_written(olu_invitation.expires_at)}" in html
    assert "The invitation to Olu Office ran out before it was accepted: send it again." in item.missing
    assert not item.done
    # Send again, from the checklist, and come back to it.
    mail.outbox.clear()
    back = client.post(reverse("accounts:staff_invite", args=[olu.pk]),
                       {"next": reverse("setup:checklist") + "#item-staff"})
    assert back.status_code == 302 and back.url == reverse("setup:checklist") + "#item-staff"
    olu_invitation.refresh_from_db()
    assert olu_invitation.replaced_at is not None
    latest = Invitation.objects.filter(staff=olu).order_by("-created_at", "-id").first()
    assert latest.state == "open"
    item = {i.key: i for i in client.get(reverse("setup:checklist")).context["items"]}["staff"]
    assert ("Olu Office", "open") in [(r.staff.full_name, r.state) for r in item.invitations]
    assert not any("ran out" in m for m in item.missing)


def test_no_one_else_resends_and_another_schools_people_never_show(client, school_in_setup):
    school, head = school_in_setup
    admin = User.objects.get(username="admin")
    trust = school.trust
    other = services.add_school(admin, trust, {"name": "Other School", "urn": "", "address": "2 Road",
                                               "phone": "01632 960001", "email": "office@other.example"})
    other_head, _ = services.add_headteacher(admin, other, full_name="Bea Otherhead", email="bea@other.example",
                                             mobile="")
    client.force_login(head.user)
    html = client.get(reverse("setup:checklist")).content.decode()
    assert "Helen Head" in html and "Bea Otherhead" not in html
    # Nor can this school's head send another school's invitation.
    before = Invitation.objects.filter(staff=other_head).count()
    assert client.post(reverse("accounts:staff_invite", args=[other_head.pk]),
                       {"next": reverse("setup:checklist")}).status_code == 404
    assert Invitation.objects.filter(staff=other_head).count() == before
    teacher = StaffFactory(school=school, roles=["teacher"])
    client.force_login(teacher.user)
    assert client.post(reverse("accounts:staff_invite", args=[head.pk]), {"next": "/"}).status_code == 403
    # A "next" pointing elsewhere is not followed.
    client.force_login(head.user)
    tess = StaffFactory(school=school, roles=["teacher"], email="tess@brookside.example")
    away = client.post(reverse("accounts:staff_invite", args=[tess.pk]), {"next": "https://evil.example/"})
    assert away.url == reverse("people:staff_detail", args=[tess.pk])
