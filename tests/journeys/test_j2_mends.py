"""What the office, teacher and family support journeys found and mended, each checked quickly
without a browser (the journeys walk them in Chromium)."""
import datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from reports.models import Agreement
from safety import recording
from safety import watchdog as watchdog_loop
from safety.checkins.models import Watch
from visits import services as visit_services
from visits.models import Visit

from tests.factories import Staffed, VisitFactory

pytestmark = pytest.mark.django_db


def test_signing_out_says_so_on_the_sign_in_page(client, coteford: Staffed) -> None:
    client.force_login(coteford.office.user)
    page = client.post(reverse("logout"), follow=True)
    assert page.request["PATH_INFO"] == reverse("login")
    assert "You have signed out." in page.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_visit_list_form_dates_each_visit_as_people_write_it(client, coteford: Staffed) -> None:
    visit = visit_services.propose(coteford.officer, **coteford.visit_kwargs())
    visit_services.approve(coteford.head, visit)
    client.force_login(coteford.office.user)
    page = client.get(reverse("visits:list_create")).content.decode()
    assert f"Ava Brown: Attendance, {timezone.localtime(visit.starts_at):%A %-d %B %Y, %H:%M}" in page


def test_an_alert_nobody_has_taken_on_says_when_its_next_step_is_due_in_words(client, coteford: Staffed) -> None:
    visit = VisitFactory(school=coteford.school, pupil=coteford.pupil, staff=[coteford.officer, coteford.teacher],
                         state=Visit.State.SCHEDULED, starts_at=timezone.now() - datetime.timedelta(minutes=30),
                         ends_at=timezone.now() + datetime.timedelta(minutes=30), proposed_by=coteford.officer)
    recording.record_event(visit, "arrived", by=coteford.officer)
    recording.record_event(visit, "entered", by=coteford.officer)
    Watch.objects.filter(visit=visit).update(alert_at=timezone.now())
    assert watchdog_loop.poll()["raised"] == 1
    client.force_login(coteford.office.user)
    board = client.get(reverse("alerts:board")).content.decode()
    # Not "the next step in now" once due: the countdown says "is due now" (and "in 4:05 min"
    # before it), with the time itself for a browser without scripts.
    assert 'data-done="is due now"' in board
    assert "the next step in <span" not in board


def test_an_agreement_states_its_percentage_as_people_write_it(coteford: Staffed) -> None:
    today = timezone.localdate()
    agreement = Agreement(school=coteford.school, pupil=coteford.pupil, text="Every day next week",
                          check_kind=Agreement.Check.MIN_PERCENT, min_percent=Decimal("95.0"),
                          window_from=today, window_to=today + datetime.timedelta(days=4))
    assert agreement.describe_check().startswith("attendance of at least 95% from ")
