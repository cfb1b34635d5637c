"""The report's and agreements' words: a visit whose pupil has no attendance marks in the school
year so far says so, instead of '—: 0 sessions missed of 0 (0 authorised, 0 unauthorised)'; the
attendance agreed with a family reads '100%', not '100.0%'."""
import html

import pytest
from django.urls import reverse

from notify.models import Message
from reports import services
from reports.models import Letter

from tests.records.test_agreements import agreement, old_visit
from tests.records_support import ended_visit, marks, report_data

pytestmark = pytest.mark.django_db


def test_a_report_without_attendance_marks_says_none_are_recorded(coteford, client):
    visit = ended_visit(coteford)
    report = services.submit_report(coteford.officer, visit, report_data())
    client.force_login(coteford.deputy.user)
    page = html.unescape(client.get(reverse("reports:report", args=[visit.pk])).content.decode())
    assert f"No attendance marks recorded from {report.attendance_from:%-d %b %Y} to {report.attendance_to:%-d %b %Y}." in page
    assert "0 sessions missed of 0" not in page and "—:" not in page


@pytest.mark.parametrize("typed, said", [("100", "100%"), ("92.5", "92.5%"), ("90.0", "90%")])
def test_the_attendance_agreed_is_written_as_people_write_it(coteford, typed, said):
    """'at least 100%', not 'at least 100.0%', on the letter's page and the agreement's review."""
    visit = old_visit(coteford)
    a = agreement(coteford, visit, min_percent=typed)
    assert a.describe_check().startswith(f"attendance of at least {said} from ")
    marks(coteford.pupil, a.window_from, "OOOOOOOOOO")
    services.review_due_agreements()
    a.refresh_from_db()
    assert a.outcome.endswith(f"against {said} agreed.")


def test_sending_the_letter_settles_the_message_that_asked_for_it(coteford, client):
    """The heads' 'A reminder letter is waiting for you' is read once the letter is sent: left
    unread, it went on asking for a letter already gone."""
    a = agreement(coteford, old_visit(coteford))
    marks(coteford.pupil, a.window_from, "OOOOOOOOOO")
    services.review_due_agreements()
    letter = Letter.objects.get()
    waiting = Message.objects.filter(kind="letter.draft", channel="in_app", read_at__isnull=True)
    assert waiting.filter(recipient=coteford.head).exists()
    services.send_letter(coteford.head, letter)
    assert not waiting.exists()
    client.force_login(coteford.head.user)
    assert "A reminder letter is waiting for you" not in client.get(reverse("notify:inbox")).content.decode()
