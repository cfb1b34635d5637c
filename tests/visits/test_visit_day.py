"""The visit page shows what happened on the day and links to the paperwork that follows."""
import pytest
from django.urls import reverse

from safety.checkins.models import VisitEvent
from visits.models import Visit

from tests.records_support import ended_visit

pytestmark = pytest.mark.django_db


def _page(client, staff, visit):
    client.force_login(staff.user)
    response = client.get(reverse("visits:detail", args=[visit.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_an_ended_visit_lists_its_events_and_links_to_its_report(coteford, client):
    visit = ended_visit(coteford)
    VisitEvent.objects.create(visit=visit, school=visit.school, type="arrived", at=visit.starts_at,
                              recorded_at=visit.starts_at, recorded_by=coteford.officer)
    VisitEvent.objects.create(visit=visit, school=visit.school, type="check_in", at=visit.starts_at,
                              recorded_at=visit.starts_at, recorded_by=coteford.office, via="office_call")
    html = _page(client, coteford.head, visit)
    assert "On the day" in html
    assert "Arrived" in html and f"recorded by {coteford.office.full_name} from a call" in html
    assert reverse("reports:report", args=[visit.pk]) in html
    assert reverse("reports:closure_reason", args=[visit.pk]) not in html


def test_an_abandoned_visit_links_to_the_written_reason_for_the_headteacher(coteford, client):
    visit = ended_visit(coteford, state=Visit.State.ABANDONED)
    html = _page(client, coteford.head, visit)
    assert reverse("reports:closure_reason", args=[visit.pk]) in html


def test_a_proposed_visit_has_no_day_section(coteford, client):
    visit = ended_visit(coteford, state=Visit.State.PROPOSED)
    html = _page(client, coteford.head, visit)
    assert "On the day" not in html
