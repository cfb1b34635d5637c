"""The business manager imports the roll in Chromium: a file with one bad line is refused
with the line named, the corrected file is previewed and imported. Screenshots at phone and
desktop size in test-artifacts/."""
from pathlib import Path

import pytest
from django.urls import reverse

from pupils.models import Pupil
from tests.browser_support import DESKTOP, PHONE, shoot, sign_in
from tests.factories import Staffed

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning"),
]
SIMS = Path(__file__).resolve().parents[2] / "docs" / "examples" / "pupils-sims.csv"


@pytest.mark.parametrize("size,viewport", [("phone", PHONE), ("desktop", DESKTOP)])
def test_a_bad_file_is_refused_then_the_good_one_previewed_and_imported(browser, live_server, tmp_path, size,
                                                                        viewport):
    school = Staffed("coteford", name="Coteford Junior School")
    page = browser.new_context(viewport=viewport, locale="en-GB", timezone_id="Europe/London").new_page()
    sign_in(page, live_server, school.sbm.user.username)
    page.goto(live_server.url + reverse("pupils:import"))
    bad = tmp_path / "roll.csv"
    bad.write_text(SIMS.read_text().replace("H820200100001", "H820200100009"))
    page.get_by_label("CSV file exported from your MIS").set_input_files(str(bad))
    page.get_by_role("button", name="Check the file").click()
    alert = page.get_by_role("alert")
    assert "line 2, column UPN: H820200100009 is not a valid UPN" in alert.inner_text()
    page.get_by_text("SIMS student list with contacts", exact=True).nth(1).click()  # the columns it reads
    shoot(page, f"pupils-import-refused-{size}")
    page.get_by_label("CSV file exported from your MIS").set_input_files(str(SIMS))
    page.get_by_role("button", name="Check the file").click()
    page.get_by_role("heading", name="pupils-sims.csv is ready to import").wait_for()
    shoot(page, f"pupils-import-preview-{size}")
    assert Pupil.objects.filter(school=school.school, first_name="Amara").count() == 0
    page.get_by_role("button", name="Import", exact=True).click()
    page.get_by_text("Imported pupils-sims.csv: 3 new").wait_for()
    shoot(page, f"pupils-import-done-{size}")
    assert Pupil.objects.filter(school=school.school, on_roll=True).count() == 3  # Ava Brown was not in the file
