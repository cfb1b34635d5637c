"""Agreements with families: recorded with a review date and, where it can be, a check
against attendance; the daily review marks them kept or broken; a broken one brings the
reminder letter (C 4.2), the note in the attendance record (C 4.3) and, on continued
failure, a follow-up visit proposed through the normal approval path (C 4.3, P §7¶3)."""
import datetime
import io
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from notify.models import Message
from reports import services
from reports.models import Agreement, ChronologyNote, Letter
from reports.tasks import daily_agreement_review
from visits.models import Visit

from tests.factories import PASSWORD, Staffed
from tests.records_support import ended_visit, last_weekday, marks

pytestmark = pytest.mark.django_db


def a_week(visit):
    """The school week after the visit: (Monday, Friday)."""
    monday = timezone.localdate(visit.starts_at)
    while True:
        monday += datetime.timedelta(days=1)
        if monday.weekday() == 0:
            return monday, monday + datetime.timedelta(days=4)


def agreement(school, visit, **kwargs):
    start, end = a_week(visit)
    values = dict(text="Ava attends every session next week.", review_on=end, check_kind="min_percent",
                  window_from=start, window_to=end, min_percent="100")
    values.update(kwargs)
    return services.record_agreement(school.officer, visit, **values)


def old_visit(school):
    """A visit three weeks ago, so that the week after it has passed."""
    return ended_visit(school, day=last_weekday(2, before=timezone.localdate() - datetime.timedelta(days=14)))


def test_an_agreement_kept_in_full_is_marked_kept_by_the_daily_check(coteford):
    visit = old_visit(coteford)
    a = agreement(coteford, visit)
    marks(coteford.pupil, a.window_from, "/" * 10)
    out = io.StringIO()
    call_command("review_agreements", stdout=out)
    a.refresh_from_db()
    assert a.status == "kept" and a.reviewed_by is None and "100.0%" in a.outcome
    assert "1 kept, 0 broken" in out.getvalue()
    assert not Letter.objects.exists() and not ChronologyNote.objects.exists()


def test_one_missed_session_breaks_an_every_session_agreement_and_brings_a_letter_and_a_note(coteford):
    visit = old_visit(coteford)
    a = agreement(coteford, visit)
    marks(coteford.pupil, a.window_from, "/////////O")
    services.review_due_agreements()
    a.refresh_from_db()
    assert a.status == "broken" and "90.0%" in a.outcome
    letter = Letter.objects.get()
    assert letter.status == "draft" and letter.clause == "C 4.2" and letter.addressee == coteford.contact.name
    # The staff's note of the agreement is theirs: the letter says what was agreed in its own terms.
    assert "Ava attends every session next week." not in letter.body
    assert "we agreed together that Ava would attend school every day between" in letter.body
    note = ChronologyNote.objects.get()
    assert note.kind == "attendance" and note.clause == "C 4.3"
    # The headteacher is told a letter waits, without the pupil's name.
    message = Message.objects.filter(recipient=coteford.head, kind="letter.draft").first()
    assert message is not None and "Ava" not in message.body
    assert AuditEntry.objects.filter(action="agreement.broken", object_id=str(a.pk)).exists()
    assert not Visit.objects.exclude(pk=visit.pk).exists()  # one broken agreement is not "continued failure"


def test_marks_that_are_not_possible_sessions_do_not_count_against_the_family(coteford):
    visit = old_visit(coteford)
    a = agreement(coteford, visit)
    marks(coteford.pupil, a.window_from, "////##////")  # '#' school closed: not a possible session
    services.review_due_agreements()
    a.refresh_from_db()
    assert a.status == "kept"


def test_no_unauthorised_absence_allows_an_authorised_one(coteford):
    visit = old_visit(coteford)
    a = agreement(coteford, visit, check_kind="no_unauthorised", min_percent=None)
    marks(coteford.pupil, a.window_from, "////II////")
    b = agreement(coteford, visit, check_kind="no_unauthorised", min_percent=None, text="No holidays in term.")
    services.review_due_agreements()
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.status == b.status == "kept"


def test_an_agreement_is_not_judged_before_its_review_date_nor_without_marks(coteford):
    visit = ended_visit(coteford, day=timezone.localdate() - datetime.timedelta(days=1))
    future = agreement(coteford, visit)
    old = old_visit(coteford)
    empty = agreement(coteford, old)  # no marks at all in its window
    counts = services.review_due_agreements()
    assert counts == {"kept": 0, "broken": 0, "for_a_person": 1}
    future.refresh_from_db()
    empty.refresh_from_db()
    assert future.status == empty.status == "open"


def test_a_phone_call_agreement_is_left_for_a_person_who_can_find_it_broken(coteford, client):
    visit = old_visit(coteford)
    a = agreement(coteford, visit, text="Mum calls before 9:00 on any absence.", check_kind="person",
                  window_from=None, window_to=None, min_percent=None)
    assert not a.measurable
    services.review_due_agreements()
    a.refresh_from_db()
    assert a.status == "open"
    client.login(username=coteford.office.user.username, password=PASSWORD)
    client.post(reverse("reports:agreement_review", args=[a.pk]), {"kept": "no", "outcome": "No calls on 3 absences."})
    a.refresh_from_db()
    assert a.status == "open"  # the office may not review agreements
    client.login(username=coteford.officer.user.username, password=PASSWORD)
    client.post(reverse("reports:agreement_review", args=[a.pk]), {"kept": "no", "outcome": "No calls on 3 absences."})
    a.refresh_from_db()
    assert a.status == "broken" and a.reviewed_by == coteford.officer
    assert Letter.objects.filter(agreement=a).exists()


def test_only_the_first_review_counts(coteford):
    a = agreement(coteford, old_visit(coteford), check_kind="person", window_from=None, window_to=None, min_percent=None)
    stale = Agreement.objects.get(pk=a.pk)
    services.review_agreement(a, kept=True, outcome="Called every time.", actor=coteford.officer)
    with pytest.raises(ValidationError, match="already reviewed"):
        services.review_agreement(stale, kept=False, outcome="No.", actor=coteford.head)
    assert Agreement.objects.get(pk=a.pk).status == "kept" and not Letter.objects.exists()


def test_a_second_broken_agreement_proposes_a_follow_up_visit_for_approval(coteford):
    visit = old_visit(coteford)
    first = agreement(coteford, visit)
    second = agreement(coteford, visit, text="No unauthorised absence next week.", check_kind="no_unauthorised",
                       min_percent=None)
    marks(coteford.pupil, first.window_from, "O/////////")
    daily_agreement_review.call()
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == second.status == "broken"
    follow_up = Visit.objects.exclude(pk=visit.pk).get()
    assert follow_up.state == Visit.State.PROPOSED and follow_up.pupil == coteford.pupil
    assert "C 4.3" in follow_up.reason
    assert [a.staff for a in follow_up.assignments.order_by("-lead", "pk")] == [coteford.officer, coteford.teacher]
    assert (first.follow_up_visit or second.follow_up_visit) == follow_up
    assert Letter.objects.count() == 2
    # It waits for approval like any other proposal.
    from visits import services as visit_services

    with pytest.raises(visit_services.NotAllowed):
        visit_services.approve(coteford.officer, follow_up)


def test_potton_sends_letters_and_follow_up_visits_but_makes_no_attendance_note():
    potton = Staffed("potton", name="Potton Primary School")
    visit = old_visit(potton)
    a = agreement(potton, visit)
    marks(potton.pupil, a.window_from, "OOOOO/////")
    services.review_due_agreements()
    assert Letter.objects.get().clause == "P §7¶3"
    assert not ChronologyNote.objects.exists()


def test_st_hughs_notes_a_broken_agreement_but_sends_no_letter():
    hughs = Staffed("st-hughs", name="St Hugh's Catholic Primary School")
    visit = old_visit(hughs)
    a = agreement(hughs, visit)
    marks(hughs.pupil, a.window_from, "OOOOO/////")
    services.review_due_agreements()
    assert not Letter.objects.exists()
    assert ChronologyNote.objects.get().clause == "H §5¶4"


@pytest.mark.parametrize("changes, field", [
    ({"text": " "}, "text"),
    ({"review_on": "next Tuesday"}, "review_on"),
    ({"review_on": "2001-01-01"}, "review_on"),
    ({"window_from": None}, "window_from"),
    ({"min_percent": "120"}, "min_percent"),
    ({"min_percent": "lots"}, "min_percent"),
    ({"check_kind": "vibes"}, "check_kind"),
])
def test_a_bad_agreement_is_refused_naming_the_field_and_nothing_is_saved(coteford, changes, field):
    visit = old_visit(coteford)
    with pytest.raises(ValidationError) as error:
        agreement(coteford, visit, **changes)
    assert field in error.value.message_dict
    assert not Agreement.objects.exists()


def test_a_window_ending_after_the_review_date_is_refused(coteford):
    visit = old_visit(coteford)
    start, end = a_week(visit)
    with pytest.raises(ValidationError) as error:
        agreement(coteford, visit, review_on=start, window_to=end)
    assert "window_to" in error.value.message_dict


def test_the_headteacher_approves_and_sends_the_letter_once_and_the_pdf_is_kept(coteford, client):
    visit = old_visit(coteford)
    a = agreement(coteford, visit)
    marks(coteford.pupil, a.window_from, "OOOOOOOOOO")
    services.review_due_agreements()
    letter = Letter.objects.get()
    with pytest.raises(services.NotAllowed):
        services.send_letter(coteford.deputy, letter)
    client.login(username=coteford.head.user.username, password=PASSWORD)
    page = client.get(reverse("reports:letters")).content.decode()
    assert "Draft, waiting for the headteacher" in page
    client.post(reverse("reports:letter_send", args=[letter.pk]))
    letter.refresh_from_db()
    assert letter.status == "sent" and letter.sent_by == coteford.head and bytes(letter.sent_pdf).startswith(b"%PDF")
    with pytest.raises(ValidationError, match="already been sent"):
        services.send_letter(coteford.head, letter)
    assert Decimal(a.min_percent) == Decimal("100.0")


def test_the_agreement_page_records_an_agreement(coteford, client):
    visit = old_visit(coteford)
    start, end = a_week(visit)
    client.login(username=coteford.officer.user.username, password=PASSWORD)
    url = reverse("reports:agreement_new", args=[visit.pk])
    assert client.get(url).status_code == 200
    bad = client.post(url, {"text": "x", "review_on": "", "check_kind": "person"})
    assert bad.status_code == 400 and not Agreement.objects.exists()
    client.post(url, {"text": "Calls before 9:00", "review_on": end.isoformat(), "check_kind": "person"})
    assert Agreement.objects.get().text == "Calls before 9:00"
