"""Fixtures shared by the page tests and the browser test: a school run under a reference
policy, with people in every role and a pupil whose home has a current risk assessment."""
import datetime

from django.contrib.auth.models import User
from django.utils import timezone

from policy_engine.schema import PRESET_DIR
from people.models import DbsCheck, StaffMember, StaffRole
from policies.models import SchoolPolicy
from pupils.models import Contact, Pupil
from pupils.upn import make_upn
from risk.models import RiskAssessment
from tests.factories import ten_years_before_today
from schools.models import School

PASSWORD = "a-long-test-password"


def preset_text(name):
    return (PRESET_DIR / f"{name}.toml").read_text()


def make_school(name="Coteford Junior School", preset="coteford"):
    school = School.objects.create(name=name)
    SchoolPolicy.objects.create(school=school, version=1, source_name=preset, toml_text=preset_text(preset))
    return school


def make_person(school, username, *roles, vetted=True, user=None):
    user = user or User.objects.create_user(username, password=PASSWORD, first_name=username.title())
    staff = StaffMember.objects.create(
        school=school, user=user, full_name=f"{username.title()} Example", mobile="07700 900123",
        trained_home_visitor=vetted,
    )
    for role in roles:
        StaffRole.objects.create(staff=staff, role=role)
    if vetted:
        DbsCheck.objects.create(
            staff=staff, level=DbsCheck.Level.ENHANCED, barred_list_checked=True,
            issued_on=timezone.localdate() - datetime.timedelta(days=365),
        )
    return staff


_upn_serial = [0]


def make_pupil(school, first="Ava", last="Brown", author=None):
    _upn_serial[0] += 1
    pupil = Pupil.objects.create(
        school=school, upn=make_upn(f"8012001{_upn_serial[0]:05d}"), first_name=first, last_name=last,
        date_of_birth=ten_years_before_today(), year_group="4", class_name="4B",
        address_line1="12 Mill Lane", town="Coteford", postcode="UB10 0AA",
    )
    Contact.objects.create(pupil=pupil, name="Dana Brown", relationship="Mother", phone="07700 900456")
    if author is not None:
        RiskAssessment.objects.create(
            school=school, kind=RiskAssessment.Kind.HOME_VISIT, pupil=pupil, author=author,
            assessed_on=timezone.localdate(), reviewed_at=timezone.now(), summary="No known risks.",
        )
    return pupil


def next_school_day(days_ahead=7):
    """A weekday at least `days_ahead` days from now."""
    day = timezone.localdate() + datetime.timedelta(days=days_ahead)
    while day.weekday() >= 5:
        day += datetime.timedelta(days=1)
    return day


def at(day, hour, minute=0):
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour, minute)))
