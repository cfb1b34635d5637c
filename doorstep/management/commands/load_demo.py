"""Load a demo trust with two schools, so Doorstep can be tried without real data.

    doorstep load_demo            # does nothing (and says so) if the demo is already loaded
    doorstep load_demo --reset    # removes the demo trust and everything in it, then loads it again

Everything here is made up: names, addresses, postcodes (outward codes that are not in use),
and telephone numbers from Ofcom's ranges reserved for drama (07700 900000-900999). Dates
are relative to today, so the demo always has a DBS check about to run out, an expired
insurance policy and a term's attendance behind it.

The two schools run on different policies (Coteford and Potton presets) so that what
changes with the policy, and that nobody sees the other school's pupils, can be seen.
Visits are created through visits.services, exactly as a person would make them, so the
audit trail is real.
"""
import datetime
import random
from typing import NotRequired, TypedDict

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from doorstep.demo import second_factors as demo_second_factor
from attendance.models import AttendanceMark, ImportRun, ReferralCase
from attendance.services import scan_school
from audit.guard import allow_purge
from audit.models import AuditEntry
from doorstep.demo.calendar import HOLIDAYS, school_days, school_year_closures, school_year_of
from doorstep.demo.finished import load_finished
from doorstep.demo.finished import remove as remove_finished_records
from doorstep.demo.today import load_under_way
from doorstep.demo.today import remove as remove_safety_data
from doorstep.demo.visits import make_visits
from people.models import DbsCheck, StaffMember, StaffRole, Training, Vehicle, _add_months
from policies.models import SchoolPolicy
from pupils.models import Contact, HouseholdNote, Pupil
from pupils.upn import make_upn
from risk.models import Hazard, RiskAssessment
from schools.models import School, SchoolClosure, Trust
from visits.models import Visit, VisitList

from policies.services import read_policy_source, store_policy, validate_policy

TRUST_NAME = "Riverside Learning Trust"
DEMO_PASSWORD = "doorstep-demo"



class SchoolSpec(TypedDict):
    key: str
    name: str
    preset: str                 # the policy preset
    prefix: str                 # of the staff's usernames
    urn: str
    upn_base: str               # UPN LA + establishment number
    town: str
    outward: list[str]          # postcode districts
    address: str
    phone: str
    email: str
    years: list[str]
    classes: dict[str, str]     # year -> class name


class StaffSpec(TypedDict):
    username: str
    name: str
    title: str
    roles: list[str]
    looks: str
    trained: bool
    dbs: tuple[int, bool]
    vehicle: NotRequired[tuple[str, str, str, str, int]]
    mobile: str


SCHOOLS: list[SchoolSpec] = [
    {
        "key": "coteford", "name": "Coteford Junior School", "preset": "coteford", "prefix": "",
        "urn": "990101", "upn_base": "8732301", "town": "Coteford", "outward": ["UX4", "UX5"],
        "address": "Mill Lane, Coteford UX4 7BD", "phone": "0113 496 0101", "email": "office@coteford.example",
        "years": ["3", "4", "5", "6"],
        "classes": {"3": "Kingfishers", "4": "Otters", "5": "Herons", "6": "Willows"},
    },
    {
        "key": "potton", "name": "Potton Primary School", "preset": "potton", "prefix": "potton.",
        "urn": "990102", "upn_base": "8732417", "town": "Potton Green", "outward": ["GX2", "GX3"],
        "address": "School Road, Potton Green GX2 5HQ", "phone": "0113 496 0202", "email": "office@potton.example",
        "years": ["R", "1", "2", "3", "4", "5", "6"],
        "classes": {"R": "Acorns", "1": "Ash", "2": "Beech", "3": "Cedar", "4": "Elm", "5": "Hazel", "6": "Oak"},
    },
]

# One person for every role in the policies. Usernames are the same in both schools,
# the second school's prefixed (`potton.head`).
# dbs: months since issue, barred-list checked; vehicle: (make, model, colour, registration,
# insurance months from today: negative means expired).
STAFF: dict[str, list[StaffSpec]] = {
    "coteford": [
        StaffSpec(username="head", name="Helen Marsh", title="Headteacher", roles=["headteacher"],
             looks="White woman, 50s, short grey hair, glasses", trained=True, dbs=(20, True),
             vehicle=("Toyota", "Yaris", "silver", "UX19 HMR", 7), mobile="07700 900101"),
        StaffSpec(username="deputy", name="David Okafor", title="Deputy headteacher", roles=["deputy_headteacher"],
             looks="Black man, 40s, tall, beard", trained=True, dbs=(14, True), mobile="07700 900102"),
        StaffSpec(username="dsl", name="Priya Sharma", title="Designated safeguarding lead", roles=["dsl"],
             looks="Asian woman, 30s, long dark hair", trained=True, dbs=(9, True),
             vehicle=("Kia", "Picanto", "red", "UX70 PSH", 4), mobile="07700 900103"),
        StaffSpec(username="sbm", name="Gareth Lloyd", title="School business manager", roles=["business_manager"],
             looks="White man, 50s, bald", trained=False, dbs=(30, True), mobile="07700 900104"),
        StaffSpec(username="office", name="Janet Crowther", title="Office manager", roles=["office"],
             looks="White woman, 60s, curly red hair", trained=False, dbs=(26, True), mobile="07700 900105"),
        StaffSpec(username="attendance", name="Sam Ali", title="Attendance officer", roles=["attendance_officer"],
             looks="Asian man, 30s, short black hair, usually in a navy jacket", trained=True, dbs=(8, True),
             vehicle=("Ford", "Focus", "blue", "UX12 CDE", 5), mobile="07700 900106"),
        # The teacher's DBS is about to reach its three-year recheck.
        StaffSpec(username="teacher", name="Chloe Bennett", title="Year 5 teacher", roles=["teacher"],
             looks="White woman, 20s, blonde ponytail", trained=True, dbs=(35, True), mobile="07700 900107"),
        # The family support worker's car insurance ran out last month.
        StaffSpec(username="family", name="Marcus Reid", title="Family support worker", roles=["family_support"],
             looks="Mixed-race man, 40s, dreadlocks, glasses", trained=True, dbs=(11, True),
             vehicle=("Vauxhall", "Corsa", "white", "UX16 MRD", -1), mobile="07700 900108"),
    ],
    "potton": [
        StaffSpec(username="potton.head", name="Anne Whitfield", title="Headteacher", roles=["headteacher"],
             looks="White woman, 50s, bobbed brown hair", trained=True, dbs=(18, True),
             vehicle=("Skoda", "Octavia", "grey", "GX18 AWH", 9), mobile="07700 900201"),
        StaffSpec(username="potton.deputy", name="Tom Hughes", title="Deputy headteacher", roles=["deputy_headteacher"],
             looks="White man, 30s, red hair, beard", trained=True, dbs=(12, True), mobile="07700 900202"),
        StaffSpec(username="potton.dsl", name="Fatima Begum", title="Designated safeguarding lead", roles=["dsl"],
             looks="Asian woman, 40s, wears a headscarf", trained=True, dbs=(6, True),
             vehicle=("Nissan", "Juke", "black", "GX21 FBG", 10), mobile="07700 900203"),
        StaffSpec(username="potton.sbm", name="Kevin Walsh", title="School business manager", roles=["business_manager"],
             looks="White man, 60s, white hair", trained=False, dbs=(28, True), mobile="07700 900204"),
        StaffSpec(username="potton.office", name="Linda Price", title="School administrator", roles=["office"],
             looks="Black woman, 50s, short hair", trained=False, dbs=(22, True), mobile="07700 900205"),
        StaffSpec(username="potton.attendance", name="Joe Kowalski", title="Education welfare officer",
             roles=["attendance_officer"], looks="White man, 40s, shaved head, usually in a green coat",
             trained=True, dbs=(10, True), vehicle=("Volkswagen", "Golf", "green", "GX15 JKW", 3),
             mobile="07700 900206"),
        StaffSpec(username="potton.teacher", name="Rachel Dunmore", title="Reception teacher", roles=["teacher"],
             looks="White woman, 30s, dark curly hair", trained=False, dbs=(16, True), mobile="07700 900207"),
        # Enhanced check on file, but the barred list was never checked.
        StaffSpec(username="potton.family", name="Grace Adeyemi", title="Family support worker", roles=["family_support"],
             looks="Black woman, 30s, braids", trained=True, dbs=(5, False),
             vehicle=("Honda", "Jazz", "yellow", "GX68 GAD", 8), mobile="07700 900208"),
    ],
}
TRUST_ADMIN: dict[str, str] = dict(username="trust", name="Robert Kaye", email="r.kaye@riverside-trust.example")

FIRST_NAMES = [
    "Oliver", "Amelia", "Noah", "Isla", "Muhammad", "Ava", "Leo", "Freya", "Arthur", "Lily", "Oscar", "Sophia",
    "Harry", "Grace", "Jack", "Mia", "Theo", "Evie", "Alfie", "Ivy", "Zain", "Aisha", "Kacper", "Zofia", "Tyler",
    "Maisie", "Ethan", "Poppy", "Jayden", "Ruby", "Samir", "Hana", "Kai", "Esme", "Reggie", "Nia", "Finley", "Ada",
    "Dylan", "Chloe", "Harvey", "Layla", "Mason", "Ellie", "Ibrahim", "Maryam", "Lucas", "Daisy", "Riley", "Willow",
    "Toby", "Lola", "Jude", "Rosie", "Ahmed", "Amira", "Logan", "Eliza", "Ronnie", "Orla",
]
LAST_NAMES = [
    "Smith", "Jones", "Taylor", "Brown", "Wilson", "Evans", "Khan", "Thomas", "Roberts", "Walker", "Wright", "Hussain",
    "Robinson", "Thompson", "White", "Hughes", "Edwards", "Green", "Hall", "Nowak", "Wood", "Harris", "Lewis",
    "Martin", "Jackson", "Clarke", "Clark", "Turner", "Hill", "Scott", "Cooper", "Morris", "Ward", "Moore", "King",
    "Watson", "Baker", "Patel", "Harrison", "Morgan", "Begum", "Campbell", "Young", "Kelly", "Allen", "Mitchell",
    "Anderson", "Lee", "Ahmed", "Bell", "Mensah", "Price", "Carter", "Shaw", "Kowalczyk", "Murphy", "Miah", "Okoro",
]
STREETS = [
    "Kestrel Way", "Orchard Close", "Brook Street", "Canal Side", "Linnet Road", "Foundry Lane", "Queensway",
    "Meadow View", "Station Road", "Tanners Row", "Alder Court", "Chapel Walk", "Marsh Lane", "Hollybush Drive",
    "Weavers Yard", "Barley Crescent",
]
CONTACT_RELATIONSHIPS = [("Mother", True), ("Father", True), ("Grandmother", False), ("Stepfather", False),
                         ("Aunt", False), ("Foster carer", False)]

# Attendance profiles: chance of missing a day, and which codes an absence gets.
PROFILES = {
    "steady": (0.02, ["I", "I", "M"]),
    "usual": (0.05, ["I", "I", "M", "O"]),
    "patchy": (0.13, ["I", "O", "O", "N", "G", "M"]),  # typically 85-90 %
    "persistent": (0.36, ["O", "O", "N", "G", "I", "U"]),  # typically 60-70 %
}
# Per school: the first pupils get the profiles that lead to visits; the rest are ordinary.
PROFILE_PLAN = (["persistent"] * 3 + ["patchy"] * 4 + ["holiday", "illness", "late"]
                + ["usual"] * 10)  # remainder "steady"
PUPILS_PER_SCHOOL = 30


def months_ago(today, months):
    return _add_months(today, -months)


class Command(BaseCommand):
    help = "Load the demo trust, two schools with staff, pupils, attendance and visits (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--reset", action="store_true",
                            help="Remove the demo trust and everything in it first, then load it again")

    def handle(self, *args, reset=False, **options):
        if reset:
            self.remove_demo()
        if Trust.objects.filter(name=TRUST_NAME).exists():
            self.stdout.write(f"The demo ({TRUST_NAME}) is already loaded; nothing changed.")
        else:
            with transaction.atomic():
                summary = Demo(self).load()
            self.stdout.write(self.style.SUCCESS(f"Loaded the demo: {summary}"))
        self.print_sign_ins()

    def print_sign_ins(self):
        self.stdout.write("")
        self.stdout.write(f"Sign in at /accounts/login/ as any of these; the password for all is: {DEMO_PASSWORD}")
        for school in SCHOOLS:
            self.stdout.write(f"  {school['name']} ({school['preset']} policy)")
            for person in STAFF[school["key"]]:
                self.stdout.write(f"    {person['username']:<19} {person['title']} ({person['name']})")
        self.stdout.write(f"  {TRUST_NAME}")
        self.stdout.write(f"    {TRUST_ADMIN['username']:<19} Trust administrator: sets up the trust's schools at /setup/ ({TRUST_ADMIN['name']})")
        self.print_second_factors()

    def print_second_factors(self):
        """Headteachers, DSLs, office staff and the trust admin give a code after the password."""
        users = get_user_model().objects.filter(
            username__in=[p["username"] for key in STAFF for p in STAFF[key]] + [TRUST_ADMIN["username"]])
        lines = [(u.username, demo_second_factor.sign_in_lines(u)) for u in users.order_by("username")]
        self.stdout.write("")
        self.stdout.write("Two-factor sign-in: these accounts are asked for a code after the password. Add the key")
        self.stdout.write("to an authenticator app (or open the otpauth:// link on a phone), or type a backup code")
        self.stdout.write("(each works once; `doorstep load_demo --reset` makes new ones):")
        for username, (key_line, uri) in [(n, ls) for n, ls in lines if ls]:
            self.stdout.write(f"    {username:<19} {key_line}")
            self.stdout.write(f"    {'':<19} {uri}")

    def remove_demo(self):
        """Remove the demo trust. The audit trail is append-only inside Doorstep; the demo's
        own entries (its schools', its users') are the one thing removed with SQL."""
        trust = Trust.objects.filter(name=TRUST_NAME).first()
        if trust is None:
            self.stdout.write("No demo to remove.")
            return
        schools = list(trust.schools.all())
        ids = [s.pk for s in schools]
        usernames = [p["username"] for key in STAFF for p in STAFF[key]] + [TRUST_ADMIN["username"]]
        try:
            with transaction.atomic():
                remove_safety_data(ids)
                remove_finished_records(ids)
                Visit.objects.filter(school__in=ids).delete()
                VisitList.objects.filter(school__in=ids).delete()
                RiskAssessment.objects.filter(school__in=ids).delete()
                # Referral cases and import runs protect pupils and schools (attendance app).
                ReferralCase.objects.filter(school__in=ids).delete()
                ImportRun.objects.filter(school__in=ids).delete()
                Pupil.objects.filter(school__in=ids).delete()
                StaffMember.objects.filter(school__in=ids).delete()
                SchoolPolicy.objects.filter(school__in=ids).delete()
                user_ids = list(get_user_model().objects.filter(username__in=usernames).values_list("pk", flat=True))
                table = connection.ops.quote_name(AuditEntry._meta.db_table)
                # The database refuses to delete audit entries otherwise.
                with allow_purge(), connection.cursor() as cursor:
                    schools_in = ", ".join(["%s"] * len(ids)) or "NULL"
                    users_in = ", ".join(["%s"] * len(user_ids)) or "NULL"
                    cursor.execute(
                        f"DELETE FROM {table} WHERE school_id IN ({schools_in}) OR actor_id IN ({users_in})",
                        [*ids, *user_ids],
                    )
                School.objects.filter(pk__in=ids).delete()
                trust.delete()
                get_user_model().objects.filter(username__in=usernames).delete()
        except ProtectedError as exc:
            raise CommandError(
                f"Cannot remove the demo automatically: other records still point at it ({exc.args[0]}). "
                "For a throwaway SQLite demo, delete var/doorstep.sqlite3 and run `make run` again."
            ) from exc
        self.stdout.write(f"Removed the demo ({TRUST_NAME}).")


class Demo:
    """Builds the demo inside one transaction; every value is seeded, so each load is the same."""

    def __init__(self, command):
        self.out = command.stdout
        self.today = timezone.localdate()
        self.now = timezone.now()
        self.random = random.Random(20261123)
        self.password_hash = make_password(DEMO_PASSWORD)  # hashed once: Argon2 is slow by design
        self.counts = {}

    def count(self, what, n=1):
        self.counts[what] = self.counts.get(what, 0) + n

    def at(self, days_ago, hour=10, minute=0):
        day = self.today - datetime.timedelta(days=days_ago)
        return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour, minute)))

    def load(self):
        User = get_user_model()
        trust = Trust.objects.create(name=TRUST_NAME, kind=Trust.Kind.TRUST)
        admin_first, admin_last = TRUST_ADMIN["name"].split(" ", 1)
        admin = User.objects.create(
            username=TRUST_ADMIN["username"], first_name=admin_first, last_name=admin_last,
            email=TRUST_ADMIN["email"], password=self.password_hash, is_staff=True, is_superuser=False,
        )
        # A trust administrator, not a superuser: manages the trust's schools and staff in the
        # Django admin and cannot read their pupils' records (people.admin_access).
        trust.admins.add(admin)
        demo_second_factor.give_second_factor(admin)  # a trust admin signs in with a code too (docs/security.md, "Two-factor sign-in")
        self.schools = {}
        self.profiles: dict[int, str] = {}  # pupil id -> attendance profile (see PROFILES)
        for spec in SCHOOLS:
            school = School.objects.create(
                trust=trust, name=spec["name"], urn=spec["urn"], address=spec["address"],
                phone=spec["phone"], email=spec["email"],
            )
            self.schools[spec["key"]] = school
            self.count("schools")
            source_name, text = read_policy_source(spec["preset"])
            validate_policy(source_name, text)
            store_policy(school, source_name, text, via="the demo loader")
            staff = self.make_staff(school, spec)
            for label, first, last in school_year_closures(school_year_of(self.today)):  # its term dates
                SchoolClosure.objects.create(school=school, first_day=first, last_day=last, label=label)
            self.count("closures", len(HOLIDAYS))
            pupils = self.make_pupils(school, spec)
            self.make_attendance(pupils)
            self.count("referral cases", scan_school(school).opened)
            self.make_risk_assessments(school, spec, staff, pupils)
            self.make_visits(school, spec, staff, pupils)
            self.count("finished visit with its report and letter", load_finished(self, school, spec, staff, pupils))
            self.count("visits under way", load_under_way(self, school, spec, staff, pupils))
        self.count("users", User.objects.filter(staff_memberships__school__trust=trust).distinct().count() + 1)
        return ", ".join(f"{n} {what}" for what, n in self.counts.items())

    # --- people -----------------------------------------------------------------------

    def make_staff(self, school, spec):
        User = get_user_model()
        domain = spec["email"].split("@", 1)[1]
        staff = {}
        for person in STAFF[spec["key"]]:
            first, last = person["name"].split(" ", 1)
            email = f"{first[0].lower()}.{last.lower()}@{domain}"
            user = User.objects.create(username=person["username"], first_name=first, last_name=last,
                                       email=email, password=self.password_hash)
            member = StaffMember.objects.create(
                school=school, user=user, full_name=person["name"], job_title=person["title"],
                mobile=person["mobile"], email=email, appearance=person["looks"],
                trained_home_visitor=person["trained"],
            )
            for role in person["roles"]:
                StaffRole.objects.create(staff=member, role=role)
            demo_second_factor.give_second_factor(user)  # headteacher, DSL, office: a code after the password
            months, barred = person["dbs"]
            DbsCheck.objects.create(
                staff=member, level=DbsCheck.Level.ENHANCED, barred_list_checked=barred,
                certificate_number=f"0019{self.random.randrange(10**7, 10**8)}",
                issued_on=months_ago(self.today, months) - datetime.timedelta(days=self.random.randrange(0, 10)),
                update_service=months < 12,
            )
            self.make_training(member, person)
            if person.get("vehicle"):
                make, model, colour, reg, insurance_months = person["vehicle"]
                expires = months_ago(self.today, -insurance_months) if insurance_months > 0 else \
                    self.today - datetime.timedelta(days=19)
                Vehicle.objects.create(staff=member, make=make, model=model, colour=colour, registration=reg,
                                       insurance_expires_on=expires)
                self.count("vehicles")
            staff[person["username"].removeprefix(spec["prefix"])] = member
            self.count("staff")
        return staff

    def make_training(self, member, person):
        C = Training.Course
        courses = [C.SAFEGUARDING]
        if person["trained"]:
            courses += [C.HOME_VISITING, C.CONFLICT_MANAGEMENT, C.CULTURAL_AWARENESS, C.VIOLENCE_PREVENTION]
        if "attendance_officer" in person["roles"] or "family_support" in person["roles"]:
            courses += [C.ATTENDANCE, C.LONE_WORKING, C.DIVERSITY]
        if person["roles"] == ["office"]:
            courses += [C.FIRST_AID]
        for course in courses:
            done = self.today - datetime.timedelta(days=self.random.randrange(40, 700))
            expires = None
            if course in (C.SAFEGUARDING, C.FIRST_AID):
                expires = done + datetime.timedelta(days=3 * 365)
            Training.objects.create(staff=member, course=course, completed_on=done, expires_on=expires)
            self.count("training records")

    # --- pupils -----------------------------------------------------------------------

    def make_pupils(self, school, spec):
        rnd = self.random
        pupils = []
        used_names = set()
        profiles = PROFILE_PLAN + ["steady"] * (PUPILS_PER_SCHOOL - len(PROFILE_PLAN))
        for n in range(PUPILS_PER_SCHOOL):
            year = spec["years"][n % len(spec["years"])]
            while True:
                first, last = rnd.choice(FIRST_NAMES), rnd.choice(LAST_NAMES)
                if (first, last) not in used_names:
                    used_names.add((first, last))
                    break
            age = 5 if year == "R" else int(year) + 5
            born = datetime.date(self.today.year - age - (1 if self.today.month < 9 else 0), 9, 1) + \
                datetime.timedelta(days=rnd.randrange(0, 365))
            # UPN: LA + establishment (7 digits), year allocated (2), serial (3).
            allocated = str(born.year + 4)[-2:]
            upn = make_upn(f"{spec['upn_base']}{allocated}{n + 101:03d}")
            outward = rnd.choice(spec["outward"])
            postcode = f"{outward} {rnd.randrange(1, 10)}{rnd.choice('ABDEFGHJLNPQRSTUWXYZ')}{rnd.choice('ABDEFGHJLNPQRSTUWXYZ')}"
            street = rnd.choice(STREETS)
            flat = rnd.random() < 0.2
            pupil = Pupil.objects.create(
                school=school, upn=upn, admission_number=f"{spec['key'][:3].upper()}{2000 + n}",
                first_name=first, last_name=last, date_of_birth=born, year_group=year,
                class_name=spec["classes"][year],
                address_line1=(f"Flat {rnd.randrange(1, 24)}, {rnd.choice(['Beacon', 'Riverside', 'Mercer'])} House"
                               if flat else f"{rnd.randrange(1, 140)} {street}"),
                address_line2=street if flat else "",
                town=spec["town"], postcode=postcode,
                access_notes="Entry phone at the main door; the lift is often out of order." if flat else "",
                send=n % 7 == 3, send_notes="EHC plan: autism; finds changes of routine hard." if n % 7 == 3 else "",
                medical=n % 9 == 4, medical_notes="Asthma: inhaler in bag." if n % 9 == 4 else "",
            )
            self.profiles[pupil.pk] = profiles[n]
            self.make_contacts(pupil, last)
            pupils.append(pupil)
            self.count("pupils")
        self.make_household_notes(pupils)
        return pupils

    def make_contacts(self, pupil, last):
        rnd = self.random
        first_relationship, pr = CONTACT_RELATIONSHIPS[rnd.choice([0, 0, 0, 1])]
        names = {"Mother": ["Sarah", "Joanne", "Amina", "Kerry", "Monika", "Nadia", "Claire", "Shanice"],
                 "Father": ["Mark", "Imran", "Daniel", "Piotr", "Lee", "Kwame", "Craig"]}
        main = Contact.objects.create(
            pupil=pupil, name=f"{rnd.choice(names.get(first_relationship, names['Mother']))} {last}",
            relationship=first_relationship, phone=f"07700 900{rnd.randrange(300, 999):03d}",
            email="", parental_responsibility=True, lives_with_pupil=True, priority=1,
        )
        self.count("contacts")
        if rnd.random() < 0.6:
            relationship, pr = CONTACT_RELATIONSHIPS[rnd.randrange(1, len(CONTACT_RELATIONSHIPS))]
            given = rnd.choice(names["Father"] if relationship in ("Father", "Stepfather") else names["Mother"])
            Contact.objects.create(
                pupil=pupil, name=f"{given} {last if relationship == 'Father' else rnd.choice(LAST_NAMES)}",
                relationship=relationship, phone=f"0113 496 0{rnd.randrange(300, 999):03d}",
                parental_responsibility=pr, lives_with_pupil=relationship in ("Stepfather", "Father"), priority=2,
            )
            self.count("contacts")
        return main

    def make_household_notes(self, pupils):
        # The first pupils are those with the worst attendance, the ones visits are about.
        notes = [
            (pupils[0], HouseholdNote.Kind.ANIMALS,
             "Large dog (Staffordshire bull terrier) in the house. Ask for it to be shut in another room "
             "before going in.", True, 60),
            (pupils[1], HouseholdNote.Kind.RISK,
             "Mother's partner was verbally aggressive to the attendance officer at the door in September. "
             "Two staff, and do not go in if he is there.", True, 50),
            (pupils[2], HouseholdNote.Kind.CULTURAL,
             "Family are practising Muslims; remove shoes on entering. Father prefers to speak to male staff; "
             "mother speaks Bengali, her sister interprets.", False, 80),
            (pupils[3], HouseholdNote.Kind.ACCESS,
             "Third-floor flat; entry phone is broken, ring the mobile on arrival.", False, 40),
            # Recorded after the household's assessment was last reviewed: that RA is stale.
            (pupils[4], HouseholdNote.Kind.ANIMALS,
             "Two dogs now in the home (new since the summer); one snapped at a neighbour.", True, 6),
        ]
        for pupil, kind, text, dangerous, days_ago in notes:
            HouseholdNote.objects.create(pupil=pupil, kind=kind, text=text, dangerous=dangerous,
                                         recorded_at=self.at(days_ago, 9, 30))
            self.count("household notes")

    # --- attendance -------------------------------------------------------------------

    def make_attendance(self, pupils):
        rnd = self.random
        # The last four months of school days, and never less than 60 (after the summer holiday).
        start = months_ago(self.today, 4)
        days = list(school_days(start, self.today))
        while len(days) < 60:
            start = months_ago(start, 1)
            days = list(school_days(start, self.today))
        marks = []
        for pupil in pupils:
            profile = self.profiles[pupil.pk]
            chance, codes = PROFILES.get(profile, PROFILES["steady"])
            holiday_start = rnd.randrange(len(days) // 3, len(days) // 2)
            illness_start = rnd.randrange(5, len(days) // 3)
            block_start = rnd.randrange(0, max(1, len(days) - 12))  # persistent: a run of missed days
            for i, day in enumerate(days):
                am = pm = "/"
                if profile == "holiday" and holiday_start <= i < holiday_start + 10:
                    am = pm = "G"
                elif profile == "illness" and illness_start <= i < illness_start + 12:
                    am = pm = "I" if i < illness_start + 9 else "M"
                elif profile == "persistent" and block_start <= i < block_start + 6:
                    am = pm = "N" if i > len(days) - 8 else "O"
                elif rnd.random() < chance:
                    am = pm = rnd.choice(codes)
                    if am == "M":
                        pm = "/"  # an appointment in the morning, back for the afternoon
                elif profile == "late" and rnd.random() < 0.3:
                    am = "L"
                elif rnd.random() < 0.03:
                    am = "L"
                marks.append(AttendanceMark(pupil=pupil, date=day, session="AM", code=am))
                marks.append(AttendanceMark(pupil=pupil, date=day, session="PM", code=pm))
        AttendanceMark.objects.bulk_create(marks, batch_size=2000)
        self.count("attendance marks", len(marks))

    # --- risk assessments -------------------------------------------------------------

    def make_risk_assessments(self, school, spec, staff, pupils):
        # Coteford's business manager writes assessments (C 2.5); Potton's headteacher does (P §4¶4).
        author = staff["sbm"] if spec["key"] == "coteford" else staff["head"]
        standard = [
            ("Verbal abuse or aggression from an adult at the home", "Visiting staff", 3, 2,
             "Visit in pairs; stay near the exit; leave if threatened; check in with the office."),
            ("Lone travel to an unfamiliar address", "Visiting staff", 2, 2,
             "Itinerary left with the office; phone charged and on; park facing the way out."),
        ]
        per_pupil = {
            0: [("Dog in the home", "Visiting staff", 3, 3, "Ask for the dog to be put in another room before "
                 "entering; do not enter if the family refuse.")],
            1: [("Aggressive adult (mother's partner)", "Visiting staff", 4, 3,
                 "Two staff always; do not enter if he is present; code word agreed with the office.")],
            4: [("Dog in the home", "Visiting staff", 2, 2, "Ask for the dog to be kept in the garden.")],
        }
        self.home_assessments = {}
        for index in range(8):
            pupil = pupils[index]
            ra = RiskAssessment.objects.create(
                school=school, kind=RiskAssessment.Kind.HOME_VISIT, pupil=pupil, author=author,
                assessed_on=self.today - datetime.timedelta(days=30 + index), reviewed_at=self.at(30 + index, 15),
                summary=f"Home visits to {pupil.full_name}'s family.",
            )
            for hazard, who, severity, likelihood, controls in per_pupil.get(index, []) + standard:
                Hazard.objects.create(assessment=ra, hazard=hazard, people_at_risk=who, severity=severity,
                                      likelihood=likelihood, controls=controls)
            self.home_assessments[pupil.pk] = ra
            self.count("risk assessments")
        # Pupil 4's dogs were recorded after its review: that assessment is stale (see make_household_notes).
        if spec["key"] == "potton":
            # Potton allows a lone visit when the headteacher authorises it and a lone-working
            # assessment is in place (P §4¶1, §4¶2).
            visitor = staff["attendance"]
            ra = RiskAssessment.objects.create(
                school=school, kind=RiskAssessment.Kind.LONE_WORKING, staff=visitor, author=author,
                assessed_on=self.today - datetime.timedelta(days=21), reviewed_at=self.at(21, 16),
                summary=f"{visitor.full_name} visiting alone during school hours.", safe_word="blue folder",
            )
            for hazard, who, severity, likelihood, controls in [
                ("Working alone in a family home", visitor.full_name, 3, 2,
                 "Office calls 10 minutes after the start; code word 'blue folder' means call the police."),
                ("Road travel", visitor.full_name, 2, 2, "Business insurance checked; car parked facing the way out."),
            ]:
                Hazard.objects.create(assessment=ra, hazard=hazard, people_at_risk=who, severity=severity,
                                      likelihood=likelihood, controls=controls)
            self.count("risk assessments")

    # --- visits -----------------------------------------------------------------------

    def make_visits(self, school, spec, staff, pupils):
        made = make_visits(self, school, spec, staff, pupils)
        self.count("visits", made)
