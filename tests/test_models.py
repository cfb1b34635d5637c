import datetime

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from attendance.models import attendance_summary
from audit.models import AuditEntry
from people.models import StaffMember
from pupils.models import HouseholdNote, Pupil
from pupils.upn import check_letter, make_upn, upn_problem, validate_upn
from risk.models import Hazard, RiskAssessment
from schools.models import School

from tests.factories import PupilFactory, VisitFactory, at


class TestUpn:
    def test_it_accepts_a_upn_whose_check_letter_matches(self):
        # Worked by hand: digits 2..13 weighted 2..13, sum mod 23 indexes the letter table.
        body = "801200110001"
        total = sum(int(d) * w for d, w in zip(body, range(2, 14), strict=True))
        expected = "ABCDEFGHJKLMNPQRTUVWXYZ"[total % 23]
        assert check_letter(body) == expected
        assert upn_problem(expected + body) is None

    def test_it_rejects_a_wrong_check_letter_and_says_which_letter_was_expected(self):
        good = make_upn("801200110001")
        wrong = ("B" if good[0] != "B" else "C") + good[1:]
        problem = upn_problem(wrong)
        assert "check letter" in problem and good[0] in problem

    @pytest.mark.parametrize("value, words", [
        ("A12345", "13 characters"),
        ("I801200110001", "not I, O or S"),
        ("A80120011X001", "digits"),
    ])
    def test_it_explains_what_is_wrong_with_a_malformed_upn(self, value, words):
        assert words in upn_problem(value)

    def test_a_temporary_upn_ending_in_a_letter_is_valid_when_its_check_letter_matches(self):
        upn = make_upn("80120011000A")
        assert upn_problem(upn) is None

    def test_validation_error_is_raised_for_a_bad_upn(self):
        with pytest.raises(ValidationError, match="Not a valid UPN"):
            validate_upn("B000000000000")  # all-zero digits need check letter A


class TestAttendanceSummary:
    def test_sessions_that_are_not_possible_do_not_count(self):
        # 26 present and 26 unauthorised is 50 %; D marks are not possible sessions.
        result = attendance_summary(["/"] * 26 + ["U"] * 26 + ["D"] * 40)
        assert result["possible"] == 52
        assert result["percent"] == 50.0
        assert result["unauthorised"] == 26

    def test_approved_educational_activity_counts_as_attendance(self):
        result = attendance_summary(["/", "V", "I", "G"])
        assert result["attended"] == 2 and result["authorised"] == 1 and result["percent"] == 50.0

    def test_no_possible_sessions_gives_no_percentage(self):
        assert attendance_summary(["Y4", "#"])["percent"] is None


@pytest.mark.django_db
class TestRiskAssessment:
    def _setup(self):
        school = School.objects.create(name="Test School")
        author = StaffMember.objects.create(school=school, full_name="Sam Business")
        pupil = Pupil.objects.create(
            school=school, upn=make_upn("801200110001"), first_name="Ava", last_name="Test",
            date_of_birth=datetime.date(2016, 5, 1), year_group="4", address_line1="1 Test Road", postcode="AB1 2CD",
        )
        ra = RiskAssessment.objects.create(
            school=school, kind="home_visit", pupil=pupil, author=author,
            assessed_on=datetime.date(2026, 11, 1), reviewed_at=timezone.now() - datetime.timedelta(days=10),
        )
        return pupil, ra

    def test_a_risk_recorded_after_the_review_makes_the_assessment_stale_until_reviewed(self):
        pupil, ra = self._setup()
        assert not ra.is_stale
        HouseholdNote.objects.create(pupil=pupil, kind="animals", text="Large dog, not always shut away",
                                     dangerous=True, recorded_at=timezone.now() - datetime.timedelta(days=1))
        assert ra.is_stale
        ra.mark_reviewed()
        assert not ra.is_stale

    def test_a_cultural_note_is_not_a_new_risk(self):
        pupil, ra = self._setup()
        HouseholdNote.objects.create(pupil=pupil, kind="cultural", text="Remove shoes at the door", recorded_at=timezone.now())
        assert not ra.is_stale

    @pytest.mark.parametrize("severity, likelihood, level", [(1, 1, "low"), (2, 2, "low"), (1, 5, "medium"),
                                                             (2, 5, "high"), (3, 5, "very high"), (5, 5, "very high")])
    def test_hazards_are_scored_severity_times_likelihood(self, severity, likelihood, level):
        pupil, ra = self._setup()
        hazard = Hazard.objects.create(assessment=ra, hazard="Aggressive adult", severity=severity, likelihood=likelihood)
        assert hazard.score == severity * likelihood
        assert hazard.risk_level == level
        assert ra.highest_risk == level


@pytest.mark.django_db
def test_the_audit_trail_cannot_be_edited_or_deleted():
    entry = AuditEntry.objects.create(at=timezone.now(), action="visit.approve", object_type="visit",
                                      object_id="1", summary="Approved")
    entry.summary = "changed"
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        entry.delete()
    with pytest.raises(PermissionError):
        AuditEntry.objects.all().delete()
    with pytest.raises(PermissionError):
        AuditEntry.objects.update(summary="x")
    assert AuditEntry.objects.get().summary == "Approved"


@pytest.mark.django_db
def test_a_visit_is_named_by_its_local_time_as_people_write_it_also_in_summer():
    # Named on the concern page; the UTC time read an hour early in British Summer Time.
    day = datetime.date(timezone.localdate().year + 1, 7, 1)
    visit = VisitFactory(starts_at=at(day, 10), ends_at=at(day, 10, 45))
    assert str(visit) == f"Attendance visit, {day:%A} 1 July {day.year}, 10:00"


@pytest.mark.django_db
def test_a_record_saved_with_some_fields_named_is_stamped_and_one_saved_with_none_is_not_changed():
    """The office board trusts these stamps to know a name, a mobile or a year group changed."""
    pupil = PupilFactory()
    before = Pupil.objects.get(pk=pupil.pk).updated_at
    with time_machine.travel(before + datetime.timedelta(minutes=3), tick=False):
        pupil.year_group = "6"
        pupil.save(update_fields=["year_group"])
    with time_machine.travel(before + datetime.timedelta(minutes=5), tick=False):
        pupil.first_name = "Unsaved"
        pupil.save(update_fields=[])
    stored = Pupil.objects.get(pk=pupil.pk)
    assert stored.updated_at == before + datetime.timedelta(minutes=3)
    assert stored.year_group == "6" and stored.first_name != "Unsaved"
