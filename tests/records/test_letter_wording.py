"""The headteacher words a reminder letter before approving it: the draft never quotes the
staff's own note of the agreement, the head can rewrite it, every change is on the audit
trail, and the letter sent is exactly the one approved."""
import re

import pytest
from django.urls import reverse

from audit.models import AuditEntry
from reports import services
from reports.models import Letter

from tests.records.test_agreements import agreement, old_visit
from tests.records_support import marks

pytestmark = pytest.mark.django_db

SHORTHAND = "A in by 8.50 evry day, mum to ring b4 9 if ill (agreed w/ SA)"


@pytest.fixture
def letter(coteford):
    visit = old_visit(coteford)
    a = agreement(coteford, visit, text=SHORTHAND)
    marks(coteford.pupil, a.window_from, "OOOOOOOOOO")
    services.review_due_agreements()
    return Letter.objects.get()


def _head(client, coteford):
    client.force_login(coteford.head.user)
    return client


def test_the_draft_does_not_quote_the_staffs_shorthand_but_shows_it_to_the_head_beside_it(coteford, letter, client):
    assert SHORTHAND not in letter.body
    page = _head(client, coteford).get(reverse("reports:letter", args=[letter.pk])).content.decode()
    note = page.split('class="staff-note"')[1].split("</blockquote>")[0]
    assert "A in by 8.50 evry day" in note
    textarea = re.search(r'<textarea name="body"[^>]*>(.*?)</textarea>', page, re.S).group(1)
    assert "we agreed together that Ava would attend school every day" in textarea
    assert "A in by 8.50" not in textarea


def test_the_head_rewords_the_letter_then_approves_it_and_the_sent_letter_is_the_reworded_one(coteford, letter, client):
    c = _head(client, coteford)
    words = ("When we visited you, we agreed that Ava would be in school by 8.50 every morning.\n\n"
             "Please ring the office before 9 if Ava is ill.")
    r = c.post(reverse("reports:letter_edit", args=[letter.pk]), {"addressee": "Ms Dana Brown", "body": words})
    assert r.status_code == 302
    letter.refresh_from_db()
    assert letter.status == "draft" and letter.body == words and letter.addressee == "Ms Dana Brown"
    edit = AuditEntry.objects.get(action="letter.edited", object_id=str(letter.pk))
    assert edit.data["before"]["body"] != words and "Ava would attend school every day" in edit.data["before"]["body"]

    r = c.post(reverse("reports:letter_edit", args=[letter.pk]),
               {"addressee": "Ms Dana Brown", "body": words + "\n\nThank you.", "send": "yes"}, follow=True)
    letter.refresh_from_db()
    assert letter.status == "sent" and letter.body.endswith("Thank you.") and letter.sent_by == coteford.head
    assert "Letter approved and marked as sent" in r.content.decode()
    assert AuditEntry.objects.filter(action="letter.edited", object_id=str(letter.pk)).count() == 2
    assert AuditEntry.objects.filter(action="letter.sent", object_id=str(letter.pk)).exists()
    # Once sent, the wording is fixed.
    r = c.post(reverse("reports:letter_edit", args=[letter.pk]), {"addressee": "X", "body": "Changed"})
    assert r.status_code == 400 and "already been sent" in r.content.decode()
    letter.refresh_from_db()
    assert letter.body.endswith("Thank you.")


def test_an_empty_letter_is_refused_with_a_clear_error_and_nothing_changes(coteford, letter, client):
    before = letter.body
    r = _head(client, coteford).post(reverse("reports:letter_edit", args=[letter.pk]),
                                     {"addressee": "Ms Dana Brown", "body": "   ", "send": "yes"})
    assert r.status_code == 400
    assert "Write the letter: it cannot be sent empty." in r.content.decode()
    letter.refresh_from_db()
    assert letter.body == before and letter.status == "draft"
    assert not AuditEntry.objects.filter(action__in=["letter.edited", "letter.sent"]).exists()


def test_only_the_headteacher_may_reword_a_letter(coteford, letter, client):
    client.force_login(coteford.deputy.user)
    r = client.post(reverse("reports:letter_edit", args=[letter.pk]), {"addressee": "X", "body": "Changed"})
    assert r.status_code == 403
    letter.refresh_from_db()
    assert letter.body != "Changed"
