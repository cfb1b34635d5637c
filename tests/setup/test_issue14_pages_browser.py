"""Issue 14's later pages in Chromium, as the head and business manager use them: handing a
leaver's visits over (one refused with its clause), the checklist's invitations, the pupils
import's column matching (one refusal), trying the policy draft on a typed plan, and the Wonde
sync panel following a background sync. Screenshots at phone and desk size (test-artifacts/)."""
import datetime
import re
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.invitations import invite
from accounts.models import Invitation
from mis.models import SyncRun, WondeConnection
from policies import drafts
from tests.browser_support import DESKTOP, PHONE, shoot, signed_in_page
from tests.factories import StaffFactory, Staffed, next_school_day
from visits import services
from visits.models import VisitStaff

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning"),
]
SIMS = (Path(__file__).resolve().parents[2] / "docs" / "examples" / "pupils-sims.csv").read_text()


def no_sideways_scroll(page):
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), page.url


@pytest.mark.parametrize("size, viewport", [("phone", PHONE), ("desktop", DESKTOP)])
def test_the_head_hands_over_invites_maps_columns_tries_the_draft_and_follows_a_sync(
        browser, live_server, tmp_path, size, viewport):
    school = Staffed("coteford", name=f"Brookside {size}")
    url = live_server.url
    visit = services.propose(school.officer, **school.visit_kwargs())
    newcomer = StaffFactory(school=school.school, roles=["teacher"], full_name="Nel Newcomer",
                            trained_home_visitor=True, email="nel@brookside.example")
    page = signed_in_page(browser, live_server, school.head.user.username, viewport)

    # 1. A leaver's visit: Nel (no DBS check) is refused with the clause; Fran takes it.
    page.goto(url + reverse("people:staff_detail", args=[school.teacher.pk]))
    page.get_by_role("link", name="Hand over their visits").click()
    page.get_by_label("Who goes instead of Tess Teacher").select_option(str(newcomer.pk))
    page.get_by_role("button", name="Give the visit to them").click()
    problem = page.locator(f"#problem-{visit.pk}")
    problem.wait_for()
    assert "Nel Newcomer has no DBS check on record" in problem.inner_text() and "C 5.1" in problem.inner_text()
    no_sideways_scroll(page)
    shoot(page, f"{size}-leaver-refused")
    page.get_by_label("Who goes instead of Tess Teacher").select_option(str(school.family.pk))
    page.get_by_role("button", name="Give the visit to them").click()
    page.locator("#nothing-left").wait_for()
    assert VisitStaff.objects.filter(visit=visit, staff=school.family).exists()
    shoot(page, f"{size}-leaver-handed-over")

    # 2. The checklist's invitations: one open, one that ran out, sent again from there.
    invite(newcomer, by=school.head)
    late = invite(school.office, by=school.head)
    Invitation.objects.filter(pk=late.pk).update(expires_at=timezone.now() - datetime.timedelta(days=2))
    page.goto(url + reverse("setup:checklist"))
    table = page.locator("#invitations")
    assert "Not accepted yet" in table.inner_text() and "Ran out" in table.inner_text()
    shoot(page, f"{size}-checklist-invitations")
    page.locator(f"#invitation-{school.office.pk}").get_by_role("button").click()
    page.get_by_text("Emailed Olu Office a new invitation").wait_for()
    no_sideways_scroll(page)

    # 3. The pupils import: a file with its own headings, matched column by column.
    own = tmp_path / "export.csv"
    own.write_text(SIMS.replace("Legal Surname", "Family name").replace("DOB", "Birth date")
                   .replace("Year,", "NC Year,", 1))
    page.goto(url + reverse("pupils:import"))
    page.get_by_label("CSV file exported from your MIS").set_input_files(str(own))
    page.get_by_role("button", name="Check the file").click()
    page.locator("#import-columns").wait_for()
    page.get_by_label("Last name", exact=True).select_option("Family name")
    page.get_by_label("Date of birth", exact=True).select_option("Birth date")
    page.get_by_role("button", name="Save the columns and check the file").click()
    page.locator("#column-errors").wait_for()
    assert "Choose the column that holds the year group" in page.inner_text("#column-errors")
    shoot(page, f"{size}-import-columns-refused")
    page.get_by_label("Year group", exact=True).select_option("NC Year")
    page.get_by_role("button", name="Save the columns and check the file").click()
    page.get_by_text("export.csv is ready to import").wait_for()
    shoot(page, f"{size}-import-columns-saved")

    # 4. The policy draft, tried on a lone visit typed in: current (Coteford) and draft (Potton).
    drafts.start_draft(school.head, school.school, "potton")
    page.goto(url + reverse("policy_draft:review"))
    form = page.locator("#try-form")
    form.get_by_label("Pupil", exact=True).select_option(str(school.pupil.pk))
    form.get_by_label("Purpose").select_option("attendance")
    form.get_by_label("Date", exact=True).fill(next_school_day().isoformat())
    form.get_by_label("Start time").fill("10:00")
    form.get_by_label("End time").fill("10:45")
    form.get_by_label(re.compile("Ali Attendance")).check()
    form.get_by_role("button", name="Try this plan").click()
    page.locator("#try-draft").wait_for()
    assert "C " in page.inner_text("#try-now") and "P " in page.inner_text("#try-draft")
    page.locator("#try").scroll_into_view_if_needed()
    shoot(page, f"{size}-policy-try-plan")
    no_sideways_scroll(page)

    # 5. Wonde: a sync asked for shows as requested, then the panel picks up its end by itself.
    now = timezone.now()
    WondeConnection.objects.create(school=school.school, wonde_school_id="A1", token_encrypted="x", token_hint="1234",
                                   changed_at=now)
    run = SyncRun.objects.create(school=school.school, status="requested", started=now, by_name="Hana Head")
    page.goto(url + reverse("mis:wonde"))
    assert "Sync requested" in page.inner_text("#sync-status")
    shoot(page, f"{size}-wonde-requested")
    SyncRun.objects.filter(pk=run.pk).update(status="finished", ok=True, finished=timezone.now(),
                                             counts={"students": 4, "added": 4})
    page.locator("#last-counts").wait_for(timeout=15_000)
    assert "4 students read: 4 new" in page.inner_text("#last-counts")
    shoot(page, f"{size}-wonde-finished")
