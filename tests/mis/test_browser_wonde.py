"""The Wonde page in Chromium: the business manager connects the school, syncs, and sees a
failure said plainly; screenshots at phone and desk size (test-artifacts/*-wonde-*.png)."""
import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from pupils.models import Pupil
from pupils.upn import make_upn
from tests.browser_support import DESKTOP, PHONE, shoot, signed_in_page
from tests.factories import Staffed
from tests.mis.fake_wonde import make_student

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning"),
]


@pytest.mark.parametrize("size, viewport", [("phone", PHONE), ("desktop", DESKTOP)])
def test_connect_sync_and_see_a_failure(browser, live_server, fake_wonde, size, viewport, settings):
    # The task worker's part runs as the request commits (in production, `doorstep start`'s worker).
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    world = Staffed("coteford", name=f"Wonde {size} School")
    dob = datetime.date(timezone.localdate().year - 9, 3, 1)
    fake_wonde.page_size = 2
    for n in (1, 2, 3):
        fake_wonde.add_student("A77", make_student(n, make_upn(f"9370000{n:05d}"), dob=dob))
    page = signed_in_page(browser, live_server, world.sbm.user.username, viewport)
    page.goto(live_server.url + reverse("mis:wonde"))
    page.get_by_label("Wonde school id").fill("A77")
    page.get_by_label("Wonde token").fill(fake_wonde.token)
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Saved the school's Wonde connection").wait_for()
    assert fake_wonde.token not in page.content()
    page.get_by_role("button", name="Sync now").click()
    page.get_by_text("Synced from Wonde").wait_for()
    assert "3 students read: 3 new" in page.inner_text("#last-counts")
    assert Pupil.objects.filter(school=world.school, on_roll=True, mis_id__startswith="B").count() == 3
    shoot(page, f"{size}-wonde-synced")
    fake_wonde.script = [401]
    page.get_by_role("button", name="Sync now").click()
    alert = page.locator("#sync-error")
    alert.wait_for()
    assert "refused the school's token" in alert.inner_text()
    assert "nothing was changed" in alert.inner_text()
    shoot(page, f"{size}-wonde-failed")
