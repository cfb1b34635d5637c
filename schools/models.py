from django.conf import settings
from django.db import models


class Trust(models.Model):
    """A multi-academy trust or a local authority running several schools in one installation."""

    class Kind(models.TextChoices):
        TRUST = "trust", "Multi-academy trust"
        LOCAL_AUTHORITY = "local_authority", "Local authority"

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.TRUST)
    admins = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="administered_trusts")

    def __str__(self):
        return self.name


class School(models.Model):
    trust = models.ForeignKey(Trust, null=True, blank=True, on_delete=models.PROTECT, related_name="schools")
    name = models.CharField(max_length=200)
    urn = models.CharField("URN", max_length=10, blank=True, help_text="DfE unique reference number")
    address = models.TextField(blank=True)
    phone = models.CharField(max_length=30, blank=True)
    email = models.EmailField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def current_policy(self):
        """The newest policy version; visits approved earlier keep the version they were approved under."""
        return self.policy_versions.order_by("-version").first()


class SchoolClosure(models.Model):
    """Days the school is shut to pupils and staff are not expected in: holidays, bank-holiday
    weeks, INSET days. Doorstep counts "school days" (when a visit report is due, how far ahead
    a follow-up visit is proposed) on weekdays that are not inside one of these."""

    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="closures")
    first_day = models.DateField()
    last_day = models.DateField()
    label = models.CharField(max_length=100, help_text='For example "Christmas holidays" or "INSET day".')
    added_by = models.ForeignKey("people.StaffMember", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["first_day", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(last_day__gte=models.F("first_day")), name="closure_ends_after_it_starts"),
        ]

    def __str__(self):
        return f"{self.label} ({self.dates})"

    @property
    def dates(self) -> str:
        """"Mon 4 Jan 2027", "Mon 15 Feb to Fri 19 Feb 2027", "Mon 21 Dec 2026 to Fri 1 Jan 2027"."""
        def day(d, year):
            # "Fri 1 Jan", as people write dates; strftime's %d would give "01".
            return f"{d:%a} {d.day} {d:%b}" + (f" {d.year}" if year else "")

        first, last = self.first_day, self.last_day
        if first == last:
            return day(first, year=True)
        return f"{day(first, year=first.year != last.year)} to {day(last, year=True)}"
