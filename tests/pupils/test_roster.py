"""pupils.roster: the one apply layer the CSV import and the Wonde sync write pupils through."""
import datetime

import pytest
from django.utils import timezone

from audit.models import AuditEntry
from pupils.models import Contact, Pupil
from pupils.roster import ContactRecord, PupilRecord, RosterRefused, apply, check, year_code
from pupils.upn import make_upn
from tests.factories import PupilFactory, SchoolFactory

pytestmark = pytest.mark.django_db


def rec(n: int, **kw) -> PupilRecord:
    base = dict(mis_id=f"M{n}", upn=make_upn(f"8231000{n:05d}"), first_name=f"Ada{n}", last_name="Lovelace",
                date_of_birth=timezone.localdate() - datetime.timedelta(days=3650), year_group="Year 5",
                address_line1=f"{n} Mill Lane", postcode="ab1 2cd", line=n + 1,
                contacts=[ContactRecord(name=f"Parent {n}", relationship="Mother", phone="07700900123")])
    base.update(kw)
    return PupilRecord(**base)


def test_apply_adds_then_a_second_apply_changes_nothing():
    school = SchoolFactory()
    counts = apply(school, [rec(1), rec(2)], by=None, source="test", complete=True)
    assert (counts.added, counts.contacts_added) == (2, 2)
    again = apply(school, [rec(1), rec(2)], by=None, source="test", complete=True)
    assert (again.added, again.updated, again.unchanged, again.left, again.contacts_added,
            again.contacts_updated, again.contacts_removed) == (0, 0, 2, 0, 0, 0, 0)
    p = Pupil.objects.get(school=school, mis_id="M1")
    assert (p.year_group, p.postcode) == ("5", "AB1 2CD")
    assert AuditEntry.objects.filter(school=school, action="pupils.imported").count() == 2


def test_missing_pupils_are_marked_left_and_named_ones_too_never_deleted():
    school = SchoolFactory()
    apply(school, [rec(1), rec(2), rec(3)], by=None, source="test", complete=True)
    counts = apply(school, [rec(1)], by=None, source="test", complete=False, left=["M3"])
    assert counts.left == 1 and counts.unchanged == 1
    assert Pupil.objects.get(mis_id="M2").on_roll
    counts = apply(school, [rec(1)], by=None, source="test", complete=True)
    assert counts.left == 1
    assert Pupil.objects.filter(school=school).count() == 3
    assert set(Pupil.objects.filter(school=school, on_roll=False).values_list("mis_id", flat=True)) == {"M2", "M3"}
    assert Pupil.objects.get(mis_id="M2").left_on == timezone.localdate()


def test_bad_records_write_nothing_and_each_is_named():
    school = SchoolFactory()
    bad = rec(2, upn="A123", year_group="Year 99")
    with pytest.raises(RosterRefused) as refused:
        apply(school, [rec(1), bad, rec(3, upn=rec(1).upn)], by=None, source="test", complete=True)
    assert {(p.line, p.column) for p in refused.value.problems} == {(3, "upn"), (3, "year_group"), (4, "upn")}
    assert not Pupil.objects.filter(school=school).exists()


def test_matching_never_crosses_schools():
    a, b = SchoolFactory(), SchoolFactory()
    other = PupilFactory(school=b, upn=rec(1).upn, first_name="Other")
    apply(a, [rec(1)], by=None, source="test", complete=True)
    other.refresh_from_db()
    assert other.first_name == "Other" and other.on_roll
    assert Pupil.objects.filter(school=a, upn=rec(1).upn).count() == 1


def test_year_codes():
    assert [year_code(t) for t in ["Year 7", "Y7", "7", "Reception", "N", "Year 14", "Yr 10"]] == [
        "7", "7", "7", "R", "N", None, "10"]
    assert check(SchoolFactory(), [rec(1)]) == []


def test_contacts_matched_updated_and_removed():
    school = SchoolFactory()
    r = rec(1, contacts=[ContactRecord(name="Pat", relationship="Father", mis_id="C1"),
                         ContactRecord(name="Sam", relationship="Aunt")])
    apply(school, [r], by=None, source="test", complete=True)
    r2 = rec(1, contacts=[ContactRecord(name="Pat", relationship="Father", mis_id="C1", phone="07700900999")])
    counts = apply(school, [r2], by=None, source="test", complete=True)
    assert (counts.contacts_updated, counts.contacts_removed, counts.updated) == (1, 1, 0)
    assert list(Contact.objects.filter(pupil__school=school).values_list("name", "phone")) == [("Pat", "07700900999")]
