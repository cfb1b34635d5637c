"""The report page in words: a visit whose pupil has no attendance marks in the school year so
far says so, instead of '—: 0 sessions missed of 0 (0 authorised, 0 unauthorised)'."""
import html

import pytest
from django.urls import reverse

from reports import services

from tests.records_support import ended_visit, report_data

pytestmark = pytest.mark.django_db


def test_a_report_without_attendance_marks_says_none_are_recorded(coteford, client):
    visit = ended_visit(coteford)
    report = services.submit_report(coteford.officer, visit, report_data())
    client.force_login(coteford.deputy.user)
    page = html.unescape(client.get(reverse("reports:report", args=[visit.pk])).content.decode())
    assert f"No attendance marks recorded from {report.attendance_from:%-d %b %Y} to {report.attendance_to:%-d %b %Y}." in page
    assert "0 sessions missed of 0" not in page and "—:" not in page
