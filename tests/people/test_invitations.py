"""Invitations (accounts/invitations.py; docs/security.md, "Invitations and leavers"): a
one-time link by email that expires, stored hashed, sets a password and, for roles that need
it, enrols two-factor sign-in in the same visit."""
import datetime
import re

import pytest
import time_machine
from django.contrib.auth.hashers import make_password
from django.test import Client
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.invitations import hash_invitation_token, invite
from accounts.models import Invitation
from audit.models import AuditEntry
from core.errors import NotAllowed
from notify.models import Channel, Message
from people.models import StaffMember, StaffRole

from tests.factories import PASSWORD, Staffed, TrustFactory, UserFactory, _hashed_password

pytestmark = pytest.mark.django_db
NEW_PASSWORD = "a long walk to Coteford"


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    _hashed_password()
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def school():
    return Staffed("coteford")


def new_head(school, email="nia.new@school.example"):
    staff = StaffMember.objects.create(school=school.school, full_name="Nia Newhead", email=email,
                                       mobile="07700 900555")
    StaffRole.objects.create(staff=staff, role="headteacher")
    return staff


def link_in_email(staff):
    message = Message.objects.filter(recipient=staff, kind="staff.invitation").latest("id")
    assert message.channel == Channel.EMAIL and message.to_address == staff.email
    match = re.search(r"/accounts/invitation/([^/]+)/", message.link)
    assert match, message.link
    return message, match.group(0)


def test_head_accepts_and_enrols_two_factor_in_the_same_visit(school):
    staff = new_head(school)
    invitation = invite(staff, by=school.sbm)
    message, link = link_in_email(staff)
    assert "Nia Newhead" in message.body and school.pupil.last_name not in message.body
    # Only the hash is kept.
    assert invitation.token_hash == hash_invitation_token(invitation.raw_token)
    assert not Invitation.objects.filter(token_hash=invitation.raw_token).exists()
    staff.refresh_from_db()
    assert staff.user is not None and not staff.user.has_usable_password()

    client = Client()
    page = client.get(link)
    assert page.status_code == 200 and "Choose a password" in page.content.decode()
    weak = client.post(link, {"new_password1": "password", "new_password2": "password"})
    assert weak.status_code == 200 and "too common" in weak.content.decode()
    staff.user.refresh_from_db()
    assert not staff.user.has_usable_password()

    done = client.post(link, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done.status_code == 302 and "/accounts/two-factor/enrol/" in done["Location"]
    # Half signed in: every other page sends them to enrol.
    assert "/accounts/two-factor/enrol/" in client.get("/visits/")["Location"]
    client.get(done["Location"])
    device = TOTPDevice.objects.get(user=staff.user, confirmed=False)
    code = TOTP(device.bin_key, device.step, device.t0, device.digits).token()
    enrolled = client.post("/accounts/two-factor/enrol/", {"code": f"{code:06d}", "next": "/"})
    assert enrolled.status_code == 200 and "backup" in enrolled.content.decode().lower()
    assert client.get("/visits/").status_code == 200
    # The link works once.
    again = Client().get(link)
    assert again.status_code == 410 and "already been used" in again.content.decode()
    actions = list(AuditEntry.objects.filter(object_id=str(staff.pk)).values_list("action", flat=True))
    assert "staff.invited" in actions and "staff.invitation_accepted" in actions
    assert Client().login(username="nia.new@school.example", password=NEW_PASSWORD)


def test_teacher_needs_no_second_factor(school):
    staff = StaffMember.objects.create(school=school.school, full_name="Tom Newteacher", email="tom@school.example")
    StaffRole.objects.create(staff=staff, role="teacher")
    invite(staff, by=school.head)
    _, link = link_in_email(staff)
    client = Client()
    done = client.post(link, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done.status_code == 302 and done["Location"] == "/"
    assert client.get("/visits/").status_code == 200


def test_expired_link_says_so_and_sends_a_new_one_once(school):
    staff = new_head(school)
    invitation = invite(staff, by=school.head)
    _, link = link_in_email(staff)
    with time_machine.travel(timezone.now() + datetime.timedelta(days=8)):
        client = Client()
        page = client.get(link)
        assert page.status_code == 410 and "has expired" in page.content.decode()
        refused = client.post(link, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
        assert refused.status_code == 410
        staff.refresh_from_db()
        assert not staff.user.has_usable_password()
        asked = client.post(link, {"ask": "renew"})
        assert "A new link is on its way" in asked.content.decode()
        _, new_link = link_in_email(staff)
        assert new_link != link
        # Asking again from the old link sends nothing more.
        client.post(link, {"ask": "renew"})
        assert Message.objects.filter(recipient=staff, kind="staff.invitation").count() == 2
        assert client.post(new_link, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}).status_code == 302
    invitation.refresh_from_db()
    assert invitation.state == "replaced"


def test_reinviting_replaces_the_old_link(school):
    staff = new_head(school)
    invite(staff, by=school.head)
    _, first = link_in_email(staff)
    invite(staff, by=school.head)
    _, second = link_in_email(staff)
    page = Client().get(first)
    assert page.status_code == 410 and "replaced" in page.content.decode()
    assert Client().get(second).status_code == 200
    assert Client().get("/accounts/invitation/not-a-real-token/").status_code == 404


def test_who_may_invite(school):
    staff = new_head(school)
    for person in (school.teacher, school.office, school.deputy):
        with pytest.raises(NotAllowed):
            invite(staff, by=person)
    other = Staffed("potton", name="Other School")
    with pytest.raises(NotAllowed):
        invite(staff, by=other.head)  # another school's head
    assert not Invitation.objects.exists() and not Message.objects.filter(kind="staff.invitation").exists()
    # A trust administrator, who is not on any staff, may.
    admin = UserFactory(username="trust.admin", password=make_password(PASSWORD))
    trust = TrustFactory()
    school.school.trust = trust
    school.school.save()
    trust.admins.add(admin)
    invitation = invite(staff, by=admin)
    assert invitation.created_by == admin
    entry = AuditEntry.objects.get(action="staff.invited")
    assert entry.actor == admin
    # Not an administrator of another trust.
    outsider = UserFactory(username="other.admin")
    TrustFactory().admins.add(outsider)
    with pytest.raises(NotAllowed):
        invite(staff, by=outsider)
