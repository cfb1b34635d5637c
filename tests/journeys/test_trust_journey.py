"""The trust administrator's jobs, in Chromium at a desk (1366x900).

Robert Kaye runs Doorstep for Riverside Learning Trust (Coteford and Potton); another trust's
school shares the installation. The jobs, each finished:

1. Signs in (password, then the code from the app) and lands where the work is: the set-up of
   the trust's schools, each with its headteacher, not a page telling them to ask one; the
   header names them (not their username).
2. Sees only the trust's own schools; another trust's school is not listed, and its address
   says it is not found.
3. Adds a school: a five-figure URN is refused with what a URN is and nothing added; with the
   right URN the school is added (audited).
4. Invites its headteacher: on the staff register with an invitation (audited), and the trust's
   list of schools shows them as invited, not signed in yet.
"""
import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from accounts.models import Invitation
from audit.models import AuditEntry
from people.models import StaffMember
from schools.models import School

from tests.factories import SchoolFactory, Staffed, TrustFactory, UserFactory
from tests.journeys.support import main, shoot_both, signed_in_at, morning_clock

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning"),
]


def the_trust():
    trust = TrustFactory(name="Riverside Learning Trust")
    for staffed in (Staffed("coteford", name="Coteford Junior School"), Staffed("potton", name="Potton Primary School")):
        staffed.school.trust = trust
        staffed.school.save(update_fields=["trust"])
    admin = UserFactory(username="trust", first_name="Robert", last_name="Kaye")
    trust.admins.add(admin)
    elsewhere = SchoolFactory(name="Hillside Academy", trust=TrustFactory(name="Northgate Schools Trust"))
    return trust, admin, elsewhere


def test_the_trust_administrator_lands_on_the_set_up_adds_a_school_and_invites_its_head(browser, live_server):
    with morning_clock():
        walk(browser, live_server)


def walk(browser, live_server):
    trust, admin, elsewhere = the_trust()
    url = live_server.url

    # 1. Signing in lands on the trust's schools.
    page = signed_in_at(browser, live_server, admin.username, reverse("setup:start"))
    expect(page.get_by_role("heading", name="Set up Doorstep")).to_be_visible()
    expect(page.locator("header")).to_contain_text("Robert Kaye")
    schools = page.locator("#schools")
    expect(schools).to_contain_text("Coteford Junior School")
    expect(schools).to_contain_text("Hana Head")
    expect(schools).to_contain_text("Potton Primary School")
    # 2. Only this trust's schools.
    expect(main(page)).not_to_contain_text("Hillside Academy")
    shoot_both(page, "trust-start")

    # 3. A school, refused once for its URN, then added.
    page.get_by_role("link", name="Add a school").click()
    page.get_by_label("School name").fill("Brook Lane Primary School")
    page.get_by_label("URN").fill("13579")
    page.get_by_label("Address").fill("Brook Lane, Riverside, RV2 4BL")
    page.get_by_label("Office phone").fill("01632 960123")
    page.get_by_role("button", name="Add the school").click()
    expect(main(page)).to_contain_text("A URN is the six-figure number the DfE gives the school")
    assert not School.objects.filter(name="Brook Lane Primary School").exists()
    page.get_by_label("URN").fill("135792")
    page.get_by_role("button", name="Add the school").click()
    expect(page.get_by_text("Brook Lane Primary School is added. Now invite its headteacher.")).to_be_visible()
    school = School.objects.get(name="Brook Lane Primary School")
    assert school.trust == trust and school.urn == "135792"

    # 4. Its headteacher, invited.
    page.get_by_label("Headteacher's name").fill("Nadia Osei")
    page.get_by_label("Their email address").fill("n.osei@brooklane.example")
    page.get_by_label("Their mobile").fill("07700 900311")
    page.get_by_role("button", name="Add and invite the headteacher").click()
    expect(page.get_by_text("Nadia Osei is on the staff register and has been sent an invitation")).to_be_visible()
    expect(page.locator("#headteacher")).to_contain_text("invited, not signed in yet")
    shoot_both(page, "trust-school")
    head = StaffMember.objects.get(school=school, full_name="Nadia Osei")
    assert head.has_role("headteacher") and Invitation.objects.filter(staff=head).exists()
    assert AuditEntry.objects.filter(actor=admin, school=school).count() >= 2

    page.get_by_role("link", name="All the trust's schools").click()
    row = page.locator("#schools tr", has_text="Brook Lane Primary School")
    expect(row).to_contain_text("Nadia Osei (invited, not signed in yet)")

    # 2, again: another trust's school is not found at its address.
    page.goto(url + reverse("setup:school", args=[elsewhere.pk]))
    expect(main(page)).to_contain_text(re.compile("not found|No such school", re.I))
    expect(main(page)).not_to_contain_text("Hillside Academy")
    shoot_both(page, "trust-elsewhere")
    page.context.close()  # nothing of this person's left open, reading the database, into the next test
