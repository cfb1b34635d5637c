"""Every page that shows a pupil's home, a parent's telephone number, a member of staff's
mobile or a household's risks leaves an entry in the audit trail saying who saw it, when and
from where. The sweep does not trust a list of such pages: it walks every page a person can
reach by following links, and any page showing one of those things must have written a read
entry. (Visit lists, the visit page, risk assessments, letters, referral cases and the staff
page once showed them with no entry.)"""
import re
from urllib.parse import urljoin, urlparse

import pytest
from django.test import Client

from audit.models import AuditEntry
from pupils.models import HouseholdNote
from visits import services as visit_services

from tests.factories import HouseholdNoteFactory

pytestmark = pytest.mark.django_db

# Pages that refresh by themselves for the office to watch: the board names staff and their
# mobiles so the office can ring them, every two seconds; its reads are the alerts it shows.
NOT_A_READ = ("/board/", "/today/", "/accounts/", "/api/", "/static/", "/admin/")


def secrets_of(school):
    pupil = school.pupil
    contact = pupil.contacts.first()
    return {
        "the pupil's address": pupil.address_line1,
        "the pupil's postcode": pupil.postcode,
        "a parent's telephone number": contact.phone,
        "a household note": HouseholdNote.objects.filter(pupil=pupil).first().text,
        "a member of staff's mobile": school.officer.mobile,
    }


def walk(client, start="/", limit=400):
    """(path, html) for every page reachable by links from `start`, each once."""
    seen, queue = set(), [start]
    while queue and len(seen) < limit:
        path = queue.pop(0)
        if path in seen or path.startswith(NOT_A_READ) or path.endswith((".pdf", ".csv", ".ics", ".zip")):
            continue
        seen.add(path)
        last = AuditEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        response = client.get(path)
        if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
            continue
        html = response.content.decode()
        yield path, html, list(AuditEntry.objects.filter(pk__gt=last))
        for href in re.findall(r'href="([^"#]+)', html):
            url = urlparse(urljoin(path, href.replace("&amp;", "&")))
            if not url.netloc and url.path.startswith("/"):
                queue.append(url.path + (f"?{url.query}" if url.query and "page=" not in url.query else ""))


@pytest.mark.parametrize("role", ["head", "office", "officer", "dsl", "sbm"])
def test_every_page_showing_a_home_a_phone_number_or_household_risks_writes_who_read_it(coteford, role):
    HouseholdNoteFactory(pupil=coteford.pupil, text="Large dog, kept in the kitchen when asked")
    visit = visit_services.propose(coteford.officer, **coteford.visit_kwargs())
    visit_services.approve(coteford.head, visit)
    visit_services.create_visit_list(coteford.office, title="This week's visits", visits=[visit])
    client = Client()
    client.force_login(getattr(coteford, role).user)
    secrets = secrets_of(coteford)
    unaudited, pages = [], 0
    for path, html, written in walk(client):
        pages += 1
        shown = [what for what, value in secrets.items() if value and value in html]
        reads = [e for e in written if e.action.endswith(("viewed", "_read", "printed", "exported"))]
        if shown and not reads:
            unaudited.append(f"{path} shows {', '.join(shown)}")
        for entry in reads:
            assert entry.ip_address and entry.actor_id == getattr(coteford, role).user_id
    assert pages > 10
    assert not unaudited, "\n".join(unaudited)


def signed_in(staff):
    client = Client(REMOTE_ADDR="198.51.100.9", HTTP_USER_AGENT="Office PC")
    client.force_login(staff.user)
    return client


@pytest.mark.parametrize("role", ["teacher", "office", "officer", "family"])
def test_only_those_who_keep_risk_assessments_write_household_notes(coteford, role):
    response = signed_in(getattr(coteford, role)).post(_note_url(coteford.pupil),
                                                       {"kind": "animals", "text": "Dog", "dangerous": "on"})
    assert response.status_code == 403
    assert not HouseholdNote.objects.filter(text="Dog").exists()


def test_the_business_manager_writes_a_household_note_and_the_trail_says_from_where(coteford):
    response = signed_in(coteford.sbm).post(_note_url(coteford.pupil), {"kind": "animals", "text": "Dog", "dangerous": "on"})
    assert response.status_code == 302
    entry = AuditEntry.objects.get(action="household.note")
    assert entry.ip_address == "198.51.100.9" and entry.user_agent == "Office PC"


def test_a_lone_working_assessment_about_a_colleague_is_theirs_and_the_assessment_writers_only(coteford):
    from tests.factories import lone_working_ra

    ra = lone_working_ra(coteford.officer, summary="Asthma: carries an inhaler")
    for reader in (coteford.officer, coteford.sbm, coteford.head):
        assert signed_in(reader).get(f"/risk/{ra.pk}/").status_code == 200
        assert f'href="/risk/{ra.pk}/"' in signed_in(reader).get("/risk/").content.decode()
    for other in (coteford.teacher, coteford.office, coteford.family):
        assert signed_in(other).get(f"/risk/{ra.pk}/").status_code == 404
        assert f'href="/risk/{ra.pk}/"' not in signed_in(other).get("/risk/").content.decode()


def _note_url(pupil):
    from django.urls import reverse

    return reverse("risk:note_new", args=[pupil.pk])
