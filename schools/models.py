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
