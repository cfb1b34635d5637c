"""The staff pages in Chromium at a phone's and a desk's size (screenshots in test-artifacts/):
the register with its buttons, adding a person (errors by the field), a refused CSV file with
its lines named, a person's page, the leaver page refusing while visits are ahead, and the
invitation page a new member of staff opens. Nothing may need sideways scrolling."""
import pytest
from django.urls import reverse

from accounts.invitations import invite
from people.models import StaffMember, StaffRole
from visits import services as visit_services

from tests.browser_support import DESKTOP, PHONE, shoot, signed_in_page
from tests.factories import Staffed
from playwright.sync_api import expect

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning"),
]

BAD_CSV = b"name,email,mobile,roles\nNia Newhead,nia@school.example,07700 900111,Teacher\nBob Bad,not-an-email,123,Caretaker\n"


def fits(page, viewport):
    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= viewport["width"], f"{page.url} is {width}px wide at {viewport['width']}px"


@pytest.mark.parametrize("size,viewport", [("phone", PHONE), ("desk", DESKTOP)])
def test_staff_pages_at_a_phone_and_a_desk(browser, live_server, tmp_path, size, viewport):
    school = Staffed("coteford", name="Coteford Junior School")
    visit = visit_services.propose(school.officer, **school.visit_kwargs())
    page = signed_in_page(browser, live_server, school.head.user.username, viewport)

    page.goto(live_server.url + reverse("people:register"))
    expect(page.get_by_role("link", name="Add a member of staff")).to_be_visible()
    fits(page, viewport)
    shoot(page, f"staff-register-{size}")

    page.get_by_role("link", name="Add a member of staff").click()
    page.get_by_label("Full name").fill("Zed Zee")
    page.get_by_label("Email address").fill("zed@school.example")
    page.get_by_label("Mobile number").fill("0123")
    page.get_by_label("Teacher", exact=True).check()
    page.get_by_role("button", name="Add and send the invitation").click()
    assert "not a UK mobile number" in page.locator("#field-mobile").inner_text()
    fits(page, viewport)
    shoot(page, f"staff-add-error-{size}")

    bad = tmp_path / "staff.csv"
    bad.write_bytes(BAD_CSV)
    page.goto(live_server.url + reverse("accounts:staff_import"))
    page.get_by_label("CSV file").set_input_files(str(bad))
    page.get_by_role("button", name="Check and add everyone").click()
    assert "nothing was added" in page.locator("#problems").inner_text()
    assert not StaffMember.objects.filter(email="nia@school.example").exists()
    fits(page, viewport)
    shoot(page, f"staff-import-refused-{size}")

    page.goto(live_server.url + reverse("people:staff_detail", args=[school.teacher.pk]))
    expect(page.get_by_role("link", name="Mark as having left")).to_be_visible()
    fits(page, viewport)
    shoot(page, f"staff-detail-{size}")

    page.get_by_role("link", name="Mark as having left").click()
    assert page.get_by_role("link", name=str(visit.pupil), exact=False).count() == 1
    fits(page, viewport)
    shoot(page, f"staff-leave-refused-{size}")

    page.goto(live_server.url + reverse("people:staff_row_add", args=[school.teacher.pk, "dbs"]))
    fits(page, viewport)
    shoot(page, f"staff-dbs-add-{size}")

    newcomer = StaffMember.objects.create(school=school.school, full_name="Nia Newhead", email="nia.new@school.example")
    StaffRole.objects.create(staff=newcomer, role="headteacher")
    invitation = invite(newcomer, by=school.head)
    stranger = browser.new_context(viewport=viewport, locale="en-GB").new_page()
    stranger.goto(live_server.url + f"/accounts/invitation/{invitation.raw_token}/")
    expect(stranger.get_by_role("heading", name="Welcome to Doorstep, Nia Newhead")).to_be_visible()
    fits(stranger, viewport)
    shoot(stranger, f"staff-invitation-{size}")
