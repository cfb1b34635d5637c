"""The audit trail: who did what, when and why, written in the same transaction as the change."""
import datetime

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.test import RequestFactory

from audit import services as audit
from audit.actions import Action
from audit.models import AuditEntry
from visits import services
from visits.models import Visit

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def entries_for(visit):
    return AuditEntry.objects.filter(object_type="visits.visit", object_id=str(visit.pk)).order_by("at", "id")


def test_record_names_a_staff_member_by_their_name_on_the_register_and_keeps_their_user(coteford):
    entry = audit.record(actor=coteford.head, school=None, action="visit.approved", obj=coteford.pupil,
                         summary="Approved", reason="Because")
    assert entry.actor == coteford.head.user and entry.actor_name == "Hana Head"
    assert entry.school == coteford.school  # taken from the object
    assert (entry.object_type, entry.object_id) == ("pupils.pupil", str(coteford.pupil.pk))
    assert entry.reason == "Because"


def test_record_accepts_a_user_or_nobody():
    user = UserFactory(first_name="Tara", last_name="Trust")
    assert audit.record(actor=user, school=None, action=Action.READ, obj=None, summary="s").actor_name == "Tara Trust"
    entry = audit.record(actor=None, school=None, action=Action.READ, obj=None, summary="s")
    assert entry.actor is None and entry.actor_name == "Doorstep"


def test_record_captures_the_address_the_request_came_from(coteford):
    request = RequestFactory().post("/", REMOTE_ADDR="203.0.113.7")
    request.user = AnonymousUser()
    entry = audit.record(actor=coteford.head, school=coteford.school, action=Action.READ, obj=None, summary="s", request=request)
    assert entry.ip_address == "203.0.113.7"


def test_record_stores_dates_in_its_data_as_text_and_keeps_long_summaries_to_the_column(coteford):
    entry = audit.record(actor=None, school=coteford.school, action=Action.READ, obj=None, summary="a" * 500,
                         data={"on": datetime.date(2026, 11, 23)})
    entry.refresh_from_db()
    assert entry.data == {"on": "2026-11-23"}
    assert len(entry.summary) == 300


def test_the_trail_cannot_be_edited_or_deleted(coteford):
    entry = audit.record(actor=None, school=coteford.school, action=Action.READ, obj=None, summary="s")
    entry.summary = "changed"
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        entry.delete()
    with pytest.raises(PermissionError):
        AuditEntry.objects.all().delete()


@pytest.mark.clock("2026-11-23 09:00", tick=False)
def test_every_transition_writes_one_entry_with_the_actor_the_time_and_the_reason(potton):
    visit = services.propose(potton.officer, **potton.visit_kwargs())
    services.approve(potton.head, visit, note="Take the usual route.")
    services.schedule(potton.officer, visit, appointment_agreed=True, written_confirmation=True)
    services.cancel(potton.office, visit, reason="Mum rang: the family is away this week.")

    # Each move, and (cancelling an appointment) who was told of it, as P §4¶8 asks.
    entries = list(entries_for(visit))
    assert [e.action for e in entries] == ["visit.proposed", "visit.approved", "visit.scheduled", "visit.cancelled",
                                           "visit.appointment_told"]
    assert [e.actor_name for e in entries] == ["Ali Attendance", "Hana Head", "Ali Attendance", "Olu Office", "Olu Office"]
    assert [e.actor for e in entries] == [potton.officer.user, potton.head.user, potton.officer.user, potton.office.user,
                                          potton.office.user]
    assert all(e.at == datetime.datetime(2026, 11, 23, 9, 0, tzinfo=datetime.timezone.utc) for e in entries)
    assert all(e.school == potton.school for e in entries)
    approved, cancelled = entries[1], entries[3]
    assert approved.reason == "Take the usual route."
    assert approved.data["from"] == "proposed" and approved.data["to"] == "approved"
    assert approved.data["policy"] == "potton" and approved.data["policy_version"] == 1
    assert approved.data["allowed"] is True
    assert cancelled.reason == "Mum rang: the family is away this week."
    assert "cancelled the visit for Ava Brown" in cancelled.summary


def test_the_findings_at_that_moment_are_kept_with_the_entry(coteford):
    visit = services.propose(coteford.officer, **coteford.visit_kwargs())
    services.approve(coteford.head, visit)
    approved = entries_for(visit).get(action="visit.approved")
    rules = {f["rule"]: f for f in approved.data["findings"]}
    # Approving: a list not yet signed and no appointment are warnings to be met before scheduling.
    assert rules["approval.visit_list_signed"]["severity"] == "warn"
    assert rules["approval.visit_list_signed"]["clause"] == "C 3.3"
    proposed = entries_for(visit).get(action="visit.proposed")
    assert all(f["severity"] == "warn" for f in proposed.data["findings"])


def test_nothing_is_written_when_the_policy_refuses(coteford):
    visit = services.propose(coteford.officer, **coteford.visit_kwargs(staff=[coteford.officer]))
    before = AuditEntry.objects.count()
    with pytest.raises(services.Refused):
        services.approve(coteford.head, visit)
    assert AuditEntry.objects.count() == before


def test_nothing_is_written_when_the_role_or_the_reason_is_missing(coteford):
    visit = services.propose(coteford.officer, **coteford.visit_kwargs())
    before = AuditEntry.objects.count()
    with pytest.raises(services.NotAllowed):
        services.approve(coteford.office, visit)
    with pytest.raises(ValidationError):
        services.decline(coteford.head, visit, reason="")
    assert AuditEntry.objects.count() == before


def test_if_the_audit_entry_cannot_be_written_the_change_does_not_happen_either(coteford, monkeypatch):
    visit = services.propose(coteford.officer, **coteford.visit_kwargs())

    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(services.audit, "record", broken)
    with pytest.raises(RuntimeError):
        services.approve(coteford.head, visit)
    visit.refresh_from_db()
    assert visit.state == Visit.State.PROPOSED and visit.approved_by is None


def test_overrides_and_visit_lists_are_audited_too(potton, coteford):
    visit = services.propose(potton.officer, **potton.visit_kwargs(staff=[potton.officer]))
    services.authorise_lone_visit(potton.head, visit, reason="Ali knows the family well.")
    entry = entries_for(visit).get(action="visit.override")
    assert entry.actor_name == "Hana Head" and entry.reason == "Ali knows the family well."
    assert entry.data["rule"] == "staffing.lone_visit" and entry.data["clause"] == "P §4¶1"

    other = services.propose(coteford.officer, **coteford.visit_kwargs())
    visit_list = services.create_visit_list(coteford.office, title="Week 1", visits=[other])
    services.sign_visit_list(coteford.head, visit_list)
    actions = list(AuditEntry.objects.filter(object_type="visits.visitlist", object_id=str(visit_list.pk))
                   .order_by("id").values_list("action", "actor_name"))
    assert actions == [("visitlist.created", "Olu Office"), ("visitlist.signed", "Hana Head")]
