"""factory_boy factories for Doorstep's models, shared by every test module.

    school = SchoolFactory(policy="potton")            # a school run under a preset (v1)
    head = StaffFactory(school=school, roles=["headteacher"])
    sam = compliant_staff(school, "attendance_officer") # DBS, mobile, training: nothing to block
    pupil = PupilFactory(school=school)                 # valid UPN, a parent, no RA
    home_visit_ra(pupil)                                # a current home-visit RA
    visit = VisitFactory(school=school, pupil=pupil, staff=[sam, other], proposed_by=sam)

Every factory keeps related rows in the same school unless told otherwise.
"""
import datetime

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from policy_engine.schema import PRESET_DIR
from people.models import DbsCheck, StaffMember, StaffRole, Training, Vehicle
from policies.models import SchoolPolicy
from pupils.models import Contact, HouseholdNote, Pupil
from pupils.upn import make_upn
from risk.models import Hazard, RiskAssessment
from schools.models import School, Trust
from visits.models import Override, Visit, VisitList, VisitStaff

PASSWORD = "a-long-test-password"


def preset_text(name):
    return (PRESET_DIR / f"{name}.toml").read_text()


def next_school_day(days_ahead=7, start=None):
    """A weekday at least `days_ahead` days after `start` (today)."""
    day = (start or timezone.localdate()) + datetime.timedelta(days=days_ahead)
    while day.weekday() >= 5:
        day += datetime.timedelta(days=1)
    return day


def at(day, hour, minute=0):
    """An aware datetime for a local (Europe/London) wall-clock time."""
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour, minute)))


# ----------------------------------------------------------------------------- schools

class TrustFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Trust
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Riverside Learning Trust {n}")


class SchoolPolicyFactory(factory.django.DjangoModelFactory):
    """A policy version from a preset: SchoolPolicyFactory(school=s, preset="potton")."""

    class Meta:
        model = SchoolPolicy

    class Params:
        preset = "coteford"

    school = factory.SubFactory("tests.factories.SchoolFactory", policy=False)
    version = factory.LazyAttribute(
        lambda o: (o.school.policy_versions.order_by("-version").values_list("version", flat=True).first() or 0) + 1
    )
    source_name = factory.LazyAttribute(lambda o: o.preset)
    toml_text = factory.LazyAttribute(lambda o: preset_text(o.preset))


class SchoolFactory(factory.django.DjangoModelFactory):
    """A school with version 1 of a preset policy (default coteford; `policy="potton"`, or
    `policy=False` for a school with no policy yet)."""

    class Meta:
        model = School
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Test School {n}")
    urn = factory.Sequence(lambda n: f"{100000 + n}")
    address = "1 School Lane, Testford"
    phone = "01632 960000"

    @factory.post_generation
    def policy(school, create, extracted, **kwargs):
        if not create:
            return
        preset = "coteford" if extracted is None else extracted
        if preset:
            SchoolPolicyFactory(school=school, preset=preset)


# ----------------------------------------------------------------------------- people

_HASHED = {}


def _hashed_password():
    # One hash per hasher list: some tests switch PASSWORD_HASHERS (to MD5, for speed), and a
    # hash made under one list cannot be checked under another that lacks its hasher.
    from django.conf import settings
    from django.contrib.auth.hashers import make_password

    key = tuple(settings.PASSWORD_HASHERS)
    if key not in _HASHED:
        _HASHED[key] = make_password(PASSWORD)
    return _HASHED[key]


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name", locale="en_GB")
    last_name = factory.Faker("last_name", locale="en_GB")
    email = factory.LazyAttribute(lambda o: f"{o.username}@school.example")
    # Hashing once: the real hasher (argon2) is slow by design, and every user shares PASSWORD.
    password = factory.LazyFunction(lambda: _hashed_password())


class StaffFactory(factory.django.DjangoModelFactory):
    """A member of staff with a user account: StaffFactory(school=s, roles=["headteacher"]).
    No DBS check, vehicle or training unless asked for (see compliant_staff)."""

    class Meta:
        model = StaffMember
        skip_postgeneration_save = True

    school = factory.SubFactory(SchoolFactory)
    user = factory.SubFactory(UserFactory)
    full_name = factory.LazyAttribute(lambda o: f"{o.user.first_name} {o.user.last_name}" if o.user else "Alex Example")
    job_title = ""
    # 07700 900000-900999 over and over: a test that gives someone a new number uses one outside
    # that range (07700 911xxx), or the number may already be theirs and nothing shows as changed.
    mobile = factory.Sequence(lambda n: f"07700 900{n % 1000:03d}")
    email = factory.LazyAttribute(lambda o: o.user.email if o.user else "")
    trained_home_visitor = True
    active = True

    @factory.post_generation
    def roles(staff, create, extracted, **kwargs):
        if create and extracted:
            for role in extracted:
                StaffRole.objects.get_or_create(staff=staff, role=role)


StaffMemberFactory = StaffFactory


class DbsCheckFactory(factory.django.DjangoModelFactory):
    """An in-date enhanced check with the barred list, issued a year ago."""

    class Meta:
        model = DbsCheck

    staff = factory.SubFactory(StaffFactory)
    level = DbsCheck.Level.ENHANCED
    barred_list_checked = True
    certificate_number = factory.Sequence(lambda n: f"{1000000000 + n:012d}")
    issued_on = factory.LazyFunction(lambda: timezone.localdate() - datetime.timedelta(days=365))
    update_service = False


class TrainingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Training

    staff = factory.SubFactory(StaffFactory)
    course = Training.Course.HOME_VISITING
    completed_on = factory.LazyFunction(lambda: timezone.localdate() - datetime.timedelta(days=90))
    expires_on = factory.LazyFunction(lambda: timezone.localdate() + datetime.timedelta(days=640))


class VehicleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Vehicle

    staff = factory.SubFactory(StaffFactory)
    make = "Ford"
    model = "Focus"
    colour = "blue"
    registration = factory.Sequence(lambda n: f"AB{10 + n % 90} CDE")
    insurance_expires_on = factory.LazyFunction(lambda: timezone.localdate() + datetime.timedelta(days=365))
    business_use_cover = True
    active = True


def compliant_staff(school, *roles, vehicle=False, **kwargs):
    """Someone nothing in any preset blocks: in-date enhanced DBS with the barred list, a
    mobile number on record, trained as a home visitor (home visiting, violence prevention,
    cultural awareness). Roles default to attendance officer."""
    staff = StaffFactory(school=school, roles=list(roles) or ["attendance_officer"], trained_home_visitor=True, **kwargs)
    DbsCheckFactory(staff=staff)
    for course in (Training.Course.HOME_VISITING, Training.Course.VIOLENCE_PREVENTION, Training.Course.CULTURAL_AWARENESS):
        TrainingFactory(staff=staff, course=course)
    if vehicle:
        VehicleFactory(staff=staff)
    return staff


# ----------------------------------------------------------------------------- pupils

def ten_years_before_today() -> datetime.date:
    """1 May ten years before today (by the clock the test runs under): a Year 4 birthday."""
    return datetime.date(timezone.localdate().year - 10, 5, 1)


class PupilFactory(factory.django.DjangoModelFactory):
    """A pupil with a valid UPN and one parent (pass contacts=0 for none)."""

    class Meta:
        model = Pupil
        skip_postgeneration_save = True

    school = factory.SubFactory(SchoolFactory)
    upn = factory.Sequence(lambda n: make_upn(f"80120{n:07d}"))
    admission_number = factory.Sequence(lambda n: f"A{n:05d}")
    first_name = factory.Faker("first_name", locale="en_GB")
    last_name = factory.Faker("last_name", locale="en_GB")
    # A Year 4 pupil is nine or ten: born ten years before the clock the test runs under.
    date_of_birth = factory.LazyFunction(lambda: ten_years_before_today())
    year_group = "4"
    class_name = "4B"
    address_line1 = factory.Sequence(lambda n: f"{n + 1} Mill Lane")
    town = "Testford"
    postcode = "UB10 0AA"

    @factory.post_generation
    def contacts(pupil, create, extracted, **kwargs):
        if create and extracted != 0:
            for _ in range(extracted or 1):
                ContactFactory(pupil=pupil)


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    pupil = factory.SubFactory(PupilFactory, contacts=0)
    name = factory.Faker("name", locale="en_GB")
    relationship = "Mother"
    phone = "07700 900456"
    parental_responsibility = True
    lives_with_pupil = True
    priority = 1


class HouseholdNoteFactory(factory.django.DjangoModelFactory):
    """A note about the home, recorded now. HouseholdNoteFactory(pupil=p, kind="animals", dangerous=True)."""

    class Meta:
        model = HouseholdNote

    pupil = factory.SubFactory(PupilFactory)
    kind = HouseholdNote.Kind.RISK
    text = "An adult in the household has been aggressive to professionals."
    dangerous = False
    recorded_at = factory.LazyFunction(timezone.now)


# ----------------------------------------------------------------------------- risk

class RiskAssessmentFactory(factory.django.DjangoModelFactory):
    """A home-visit RA for a pupil, written now by the school's business manager.
    For a lone-working RA use lone_working_ra(staff)."""

    class Meta:
        model = RiskAssessment

    pupil = factory.SubFactory(PupilFactory)
    school = factory.LazyAttribute(lambda o: o.pupil.school if o.pupil is not None else o.staff.school)
    kind = RiskAssessment.Kind.HOME_VISIT
    staff = None
    author = factory.SubFactory(StaffFactory, school=factory.SelfAttribute("..school"), roles=["business_manager"])
    assessed_on = factory.LazyFunction(timezone.localdate)
    reviewed_at = factory.LazyFunction(timezone.now)
    summary = "No known risks."


class HazardFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Hazard

    assessment = factory.SubFactory(RiskAssessmentFactory)
    hazard = "Dog in the house"
    people_at_risk = "Visiting staff"
    severity = 3
    likelihood = 2
    controls = "Ask for the dog to be kept in another room."


def home_visit_ra(pupil, **kwargs):
    return RiskAssessmentFactory(pupil=pupil, school=pupil.school, **kwargs)


def lone_working_ra(staff, **kwargs):
    return RiskAssessmentFactory(
        kind=RiskAssessment.Kind.LONE_WORKING, pupil=None, staff=staff, school=staff.school, **kwargs
    )


# ----------------------------------------------------------------------------- visits

class VisitFactory(factory.django.DjangoModelFactory):
    """A proposed attendance visit next week, 10:00-10:45. Pass staff=[a, b] (the first leads);
    by default one compliant attendance officer of the school goes."""

    class Meta:
        model = Visit
        skip_postgeneration_save = True

    school = factory.SubFactory(SchoolFactory)
    pupil = factory.SubFactory(PupilFactory, school=factory.SelfAttribute("..school"))
    purpose = "attendance"
    reason = "Persistent unexplained absence; the family has not answered calls or letters."
    starts_at = factory.LazyFunction(lambda: at(next_school_day(), 10))
    ends_at = factory.LazyAttribute(lambda o: o.starts_at + datetime.timedelta(minutes=45))
    state = Visit.State.PROPOSED
    emergency = False
    proposed_by = factory.SubFactory(StaffFactory, school=factory.SelfAttribute("..school"), roles=["attendance_officer"])
    proposed_at = factory.LazyFunction(timezone.now)

    @factory.post_generation
    def staff(visit, create, extracted, **kwargs):
        if not create:
            return
        people = extracted if extracted is not None else [compliant_staff(visit.school)]
        for i, member in enumerate(people):
            VisitStaff.objects.create(visit=visit, staff=member, lead=(i == 0))


class VisitListFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = VisitList

    school = factory.SubFactory(SchoolFactory)
    title = factory.Sequence(lambda n: f"Attendance visits, list {n}")
    created_by = factory.SubFactory(StaffFactory, school=factory.SelfAttribute("..school"), roles=["office"])
    created_at = factory.LazyFunction(timezone.now)


class OverrideFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Override

    visit = factory.SubFactory(VisitFactory)
    rule = "staffing.lone_visit"
    reason = "The family knows the officer well and the home has no recorded risks."
    by = factory.SubFactory(StaffFactory, school=factory.SelfAttribute("..visit.school"), roles=["headteacher"])
    at = factory.LazyFunction(timezone.now)


# ----------------------------------------------------------------------------- a whole school

class Staffed:
    """A school with one person in every role (all compliant) and a pupil whose home has a
    current risk assessment. Attributes: school, head, deputy, dsl, sbm, office, officer,
    teacher, family, pupil, contact."""

    def __init__(self, preset="coteford", name=None):
        self.school = SchoolFactory(name=name or f"{preset.title()} Test School", policy=preset)
        self.head = compliant_staff(self.school, "headteacher", full_name="Hana Head")
        self.deputy = compliant_staff(self.school, "deputy_headteacher", full_name="Dev Deputy")
        self.dsl = compliant_staff(self.school, "dsl", full_name="Dani Safeguarding")
        self.sbm = StaffFactory(school=self.school, roles=["business_manager"], full_name="Sam Business")
        self.office = StaffFactory(school=self.school, roles=["office"], full_name="Olu Office")
        self.officer = compliant_staff(self.school, "attendance_officer", full_name="Ali Attendance")
        self.teacher = compliant_staff(self.school, "teacher", full_name="Tess Teacher")
        self.family = compliant_staff(self.school, "family_support", full_name="Fran Family")
        self.pupil = PupilFactory(school=self.school, first_name="Ava", last_name="Brown")
        self.contact = self.pupil.contacts.first()
        # Written by whoever the school's policy names (C 2.5: business manager; P §4¶4: head).
        writer = self.head if self.school.current_policy().load().value("risk_assessment.author_role") == "headteacher" \
            else self.sbm
        self.home_ra = home_visit_ra(self.pupil, author=writer,
                                     reviewed_at=timezone.now() - datetime.timedelta(days=2))

    def visit_kwargs(self, **overrides):
        """Keyword arguments for visits.services.propose: an attendance visit next week, two staff."""
        day = next_school_day()
        kwargs = dict(
            pupil=self.pupil, purpose="attendance",
            reason="Attendance has fallen below 85% and the family has not answered calls.",
            starts_at=at(day, 10), ends_at=at(day, 10, 45), staff=[self.officer, self.teacher],
        )
        kwargs.update(overrides)
        return kwargs
