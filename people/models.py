import calendar
import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.signals import m2m_changed
from django.dispatch import receiver

from core.stamps import ChangeStamped
from schools.models import Trust

from .pins import pin_matches

# Roles as the policies name them. A person may hold several (a headteacher who is also the DSL).
ROLE_CHOICES = [
    ("headteacher", "Headteacher"),
    ("deputy_headteacher", "Deputy headteacher"),
    ("dsl", "Designated safeguarding lead"),
    ("business_manager", "School business manager"),
    ("office", "School office"),
    ("attendance_officer", "Attendance officer"),
    ("teacher", "Teacher"),
    ("family_support", "Family support worker"),
]
ROLES = [r for r, _ in ROLE_CHOICES]
ROLE_LABELS = dict(ROLE_CHOICES)

ADMINISTRATOR_ON_STAFF = (
    "A trust administrator's account cannot be on a school's staff register: administrators run the "
    "installation and hold no role in any school, so they never read pupils' records. If this person "
    "also works in a school, give them a second account for that work."
)

uk_mobile = RegexValidator(
    r"^(\+44\s?7\d{3}|\(?07\d{3}\)?)\s?\d{3}\s?\d{3}$",
    "Enter a UK mobile number, e.g. 07700 900123 or +44 7700 900123.",
)


class StaffMemberQuerySet(models.QuerySet):
    def with_role(self, role):
        return self.filter(roles__role=role)

    def active(self):
        return self.filter(active=True)


class StaffMember(ChangeStamped):
    """A person on a school's staff register. The register is what the policies ask the
    school to hold: mobile number, vehicle, vetting and training (e.g. C 2.3, C 2.9, C 5.1)."""

    school = models.ForeignKey("schools.School", on_delete=models.PROTECT, related_name="staff")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="staff_memberships"
    )
    full_name = models.CharField(max_length=200)
    job_title = models.CharField(max_length=200, blank=True)
    mobile = models.CharField(max_length=20, blank=True, validators=[uk_mobile])
    email = models.EmailField(blank=True)
    appearance = models.TextField(blank=True, help_text="A short description the police could use to recognise this person.")
    trained_home_visitor = models.BooleanField(default=False)
    active = models.BooleanField(default=True)
    # Two PINs, hashed with a key (people/pins.py says why not like passwords). The duress
    # PIN is entered wherever a PIN is asked: the phone shows the ordinary confirmation while
    # the office gets the top alert (see people.services.set_pins and safety.recording.record_event).
    safe_pin = models.CharField(max_length=200, blank=True, editable=False)
    duress_pin = models.CharField(max_length=200, blank=True, editable=False)
    # When a wrong PIN was last entered (the audit trail holds each one). Wrong PINs in a row
    # pause PIN entry for a while; without one in that while there is nothing to count, so a
    # check-in with the right PIN asks the audit trail nothing (safety.recording._wrong_pins).
    wrong_pin_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = StaffMemberQuerySet.as_manager()

    class Meta:
        ordering = ["full_name"]
        constraints = [
            models.UniqueConstraint(fields=["school", "user"], name="one_staff_record_per_user_per_school"),
        ]

    def __str__(self):
        return self.full_name

    def clean(self):
        super().clean()
        if self.user is not None and self.user.administered_trusts.exists():
            raise ValidationError({"user": ADMINISTRATOR_ON_STAFF})

    def save(self, *args, **kwargs):
        # Enforced on every save, not only in forms: a role on the register is what opens
        # pupils' records, so no path (the admin, a script, an import) may put one on an
        # administrator's account.
        if self.user_id and Trust.objects.filter(admins=self.user_id).exists():
            raise ValidationError({"user": ADMINISTRATOR_ON_STAFF})
        super().save(*args, **kwargs)

    @property
    def role_names(self):
        return sorted(r.role for r in self.roles.all())

    def has_role(self, *roles):
        return any(r.role in roles for r in self.roles.all())

    def keep_roles(self, roles: list["StaffRole"]) -> None:
        """Roles read with the record by SQL of its own (an API token's read, accounts.models):
        kept where prefetch_related("roles") keeps them, so role checks read nothing more."""
        # As QuerySet.prefetch_related leaves them: a queryset with its results already in it.
        found: Any = StaffRole.objects.all()
        found._result_cache = roles
        found._prefetch_done = True
        cache: dict[str, Any] = self.__dict__.setdefault("_prefetched_objects_cache", {})
        cache["roles"] = found

    def current_dbs(self):
        return self.dbs_checks.order_by("-issued_on").first()

    def current_vehicle(self):
        return self.vehicles.filter(active=True).order_by("-id").first()

    @property
    def has_pins(self):
        return bool(self.safe_pin and self.duress_pin)

    def check_pin(self, pin):
        """"safe", "duress" or None (wrong). Both hashes are always checked, so the time the
        answer takes does not give a duress PIN away."""
        pin = str(pin or "").strip()
        safe = pin_matches(pin, self.safe_pin)
        duress = pin_matches(pin, self.duress_pin)
        if duress:
            return "duress"
        if safe:
            return "safe"
        return None


class StaffRole(models.Model):
    staff = models.ForeignKey(StaffMember, on_delete=models.CASCADE, related_name="roles")
    role = models.CharField(max_length=30, choices=ROLE_CHOICES)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["staff", "role"], name="unique_staff_role")]

    def __str__(self):
        return ROLE_LABELS.get(self.role, self.role)


class DbsCheck(models.Model):
    class Level(models.TextChoices):
        BASIC = "basic", "Basic"
        STANDARD = "standard", "Standard"
        ENHANCED = "enhanced", "Enhanced"

    staff = models.ForeignKey(StaffMember, on_delete=models.CASCADE, related_name="dbs_checks")
    level = models.CharField(max_length=10, choices=Level.choices)
    barred_list_checked = models.BooleanField(default=False)
    certificate_number = models.CharField(max_length=20, blank=True)
    issued_on = models.DateField()
    update_service = models.BooleanField(default=False, help_text="Subscribed to the DBS update service")

    class Meta:
        ordering = ["-issued_on"]

    def recheck_due_on(self, months=36):
        return _add_months(self.issued_on, months)


class Training(models.Model):
    class Course(models.TextChoices):
        HOME_VISITING = "home_visiting", "Home visiting"
        VIOLENCE_PREVENTION = "violence_prevention", "Prevention of violence"
        CONFLICT_MANAGEMENT = "conflict_management", "Conflict management"
        CULTURAL_AWARENESS = "cultural_awareness", "Cultural awareness"
        DIVERSITY = "diversity", "Diversity and racial equality"
        FIRST_AID = "first_aid", "First aid"
        SAFEGUARDING = "safeguarding", "Safeguarding"
        ATTENDANCE = "attendance", "Attendance and early help"
        LONE_WORKING = "lone_working", "Lone working"

    staff = models.ForeignKey(StaffMember, on_delete=models.CASCADE, related_name="training")
    course = models.CharField(max_length=30, choices=Course.choices)
    completed_on = models.DateField()
    expires_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["-completed_on"]


class Vehicle(models.Model):
    """Make, model, colour and registration are what the police ask for (C 2.9, P §4¶9, Pr 2.6, H §3¶10)."""

    staff = models.ForeignKey(StaffMember, on_delete=models.CASCADE, related_name="vehicles")
    make = models.CharField(max_length=50)
    model = models.CharField(max_length=50)
    colour = models.CharField(max_length=30)
    registration = models.CharField(max_length=10)
    insurance_expires_on = models.DateField(null=True, blank=True)
    business_use_cover = models.BooleanField(default=True)
    active = models.BooleanField(default=True)

    def __str__(self):
        return f"{self.colour} {self.make} {self.model} ({self.registration})"


def _add_months(day: datetime.date, months: int) -> datetime.date:
    month = day.month - 1 + months
    year = day.year + month // 12
    month = month % 12 + 1
    return datetime.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@receiver(m2m_changed, sender=Trust.admins.through, dispatch_uid="doorstep-administrators-hold-no-school-role")
def refuse_staff_as_trust_administrators(sender, instance, action, reverse, pk_set, **kwargs):
    """The other way round: an account on a school's staff register cannot be made a trust
    administrator (it would then manage the register that gives it its own roles)."""
    if action != "pre_add" or not pk_set:
        return
    users = {instance.pk} if reverse else set(pk_set)
    if StaffMember.objects.filter(user__in=users).exists():
        raise ValidationError(ADMINISTRATOR_ON_STAFF)

