"""The daily referral scan at each preset's boundary, and the headteacher's decision."""
import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command

from attendance.models import AttendanceMark, ReferralCase
from attendance.services import decide, scan_school, threshold_for
from audit.models import AuditEntry

from tests.factories import PupilFactory, SchoolFactory, StaffFactory

pytestmark = pytest.mark.django_db
TODAY = datetime.date(2026, 11, 20)  # a Friday


def give_marks(pupil, attended, missed, code="N", day=TODAY):
    """`attended` present and `missed` absent sessions on school days going back from `day`."""
    codes = ["/"] * attended + [code] * missed
    marks = []
    while codes:
        if day.weekday() < 5:
            for session in ("AM", "PM"):
                if codes:
                    marks.append(AttendanceMark(pupil=pupil, date=day, session=session, code=codes.pop()))
        day -= datetime.timedelta(days=1)
    AttendanceMark.objects.bulk_create(marks)


@pytest.mark.parametrize("preset,percent,clause", [("coteford", 90, "C 4.4"), ("potton", 70, "P §7¶4")])
def test_exactly_at_the_threshold_is_not_referred_and_just_below_is(preset, percent, clause):
    school = SchoolFactory(policy=preset)
    at_line, under = PupilFactory(school=school), PupilFactory(school=school)
    # 120 sessions (60 school days, inside the three months): one session decides.
    exact = 120 * percent // 100
    give_marks(at_line, exact, 120 - exact)                   # exactly the threshold
    give_marks(under, exact - 1, 120 - exact + 1)             # one session below it
    result = scan_school(school, TODAY)
    assert (result.threshold.percent, result.threshold.clause) == (percent, clause)
    case = ReferralCase.objects.get()
    assert case.pupil == under and case.state == "open" and case.clause == clause
    assert case.threshold_percent == percent and case.possible == 120 and case.attended == exact - 1


def test_marks_outside_the_three_month_window_do_not_count():
    school = SchoolFactory(policy="coteford")
    pupil = PupilFactory(school=school)
    give_marks(pupil, 0, 40, day=datetime.date(2026, 8, 20))   # all before 21 Aug: outside
    give_marks(pupil, 20, 0)
    assert scan_school(school, TODAY).opened == 0


@pytest.mark.parametrize("preset", ["priory", "willows", "st-hughs"])
def test_presets_without_a_threshold_raise_nothing(preset):
    school = SchoolFactory(policy=preset)
    give_marks(PupilFactory(school=school), 0, 20)
    assert threshold_for(school) is None
    assert scan_school(school, TODAY).opened == 0 and not ReferralCase.objects.exists()


def test_running_the_scan_twice_on_the_same_day_changes_nothing():
    school = SchoolFactory(policy="potton")
    give_marks(PupilFactory(school=school), 10, 10)
    assert scan_school(school, TODAY).opened == 1
    audit = AuditEntry.objects.count()
    assert scan_school(school, TODAY).opened == 0
    assert ReferralCase.objects.count() == 1 and AuditEntry.objects.count() == audit


def test_each_case_opened_has_its_own_audit_entry_naming_it_and_its_pupil():
    school = SchoolFactory(policy="potton")
    pupils = [PupilFactory(school=school) for _ in range(4)]
    for pupil in pupils:
        give_marks(pupil, 10, 10)
    earlier = ReferralCase.objects.create(
        school=school, pupil=pupils[0], opened_on=TODAY - datetime.timedelta(days=7), window_start=TODAY,
        window_end=TODAY, possible=20, attended=10, authorised=0, unauthorised=10, percent=50,
        threshold_percent=70, clause="P §7¶4")
    assert scan_school(school, TODAY).opened == 3
    opened = ReferralCase.objects.exclude(pk=earlier.pk)
    assert sorted(c.pupil_id for c in opened) == sorted(p.pk for p in pupils[1:])
    entries = AuditEntry.objects.filter(action="referral.opened")
    assert sorted((e.object_id, e.data["pupil"]) for e in entries) == sorted((str(c.pk), c.pupil_id) for c in opened)
    assert all("50.0% is below the referral threshold of 70% (P §7¶4)" in e.summary for e in entries)


def test_a_case_records_the_penalty_notice_indicator():
    school = SchoolFactory(policy="coteford")
    pupil = PupilFactory(school=school)
    give_marks(pupil, 10, 10, code="G")
    scan_school(school, TODAY)
    case = ReferralCase.objects.get()
    assert case.penalty_sessions == 10 and case.penalty_indicator


def test_only_the_headteacher_decides_and_a_referral_needs_a_date_and_a_note():
    school = SchoolFactory(policy="coteford")
    head = StaffFactory(school=school, roles=["headteacher"])
    officer = StaffFactory(school=school, roles=["attendance_officer"])
    give_marks(PupilFactory(school=school), 5, 5)
    scan_school(school, TODAY)
    case = ReferralCase.objects.get()
    with pytest.raises(PermissionDenied):
        decide(case, officer, referred=True, note="x", referred_on=TODAY)
    with pytest.raises(ValidationError):
        decide(case, head, referred=True, note="", referred_on=TODAY)
    with pytest.raises(ValidationError):
        decide(case, head, referred=True, note="Emailed the LA attendance team", referred_on=None)
    decide(case, head, referred=True, note="Emailed the LA attendance team", referred_on=TODAY)
    case.refresh_from_db()
    assert case.state == "referred" and case.decided_by == head and case.referred_on == TODAY
    assert AuditEntry.objects.filter(action="referral.referred", reason="Emailed the LA attendance team").exists()
    with pytest.raises(ValidationError, match="already been decided"):
        decide(case, head, referred=False, note="changed my mind")


def test_a_decided_pupil_who_recovers_and_falls_again_gets_a_new_case():
    school = SchoolFactory(policy="potton")
    head = StaffFactory(school=school, roles=["headteacher"])
    pupil = PupilFactory(school=school)
    give_marks(pupil, 5, 5, day=TODAY - datetime.timedelta(days=60))
    scan_school(school, TODAY - datetime.timedelta(days=60))
    decide(ReferralCase.objects.get(), head, referred=False, note="Family moving; support plan agreed")
    give_marks(pupil, 40, 0, day=TODAY - datetime.timedelta(days=30))
    assert scan_school(school, TODAY - datetime.timedelta(days=30)).cleared == 1
    give_marks(pupil, 0, 40, day=TODAY)
    assert scan_school(school, TODAY).opened == 1
    assert ReferralCase.objects.filter(pupil=pupil).count() == 2


def test_the_command_scans_every_school(capsys):
    school = SchoolFactory(policy="coteford", name="Coteford Junior School")
    SchoolFactory(policy="priory", name="Priory Junior School")
    give_marks(PupilFactory(school=school), 1, 1)
    call_command("referral_scan", "--date", TODAY.isoformat())
    out = capsys.readouterr().out
    assert "Coteford Junior School: 1 pupils, 1 below 90%" in out and "1 new case" in out
    assert "Priory Junior School: the policy sets no referral threshold" in out
