import functools

from django.conf import settings
from django.db import models
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from policy_engine import Policy


class SchoolPolicy(models.Model):
    """One version of a school's policy file. Versions are never edited: a change is a new
    version, and a visit keeps the version it was approved under."""

    school = models.ForeignKey("schools.School", on_delete=models.PROTECT, related_name="policy_versions")
    version = models.PositiveIntegerField()
    source_name = models.CharField(max_length=200, help_text="The preset name or the uploaded file's name")
    toml_text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    reason = models.TextField(blank=True, help_text="Why this version was published (required on the policy page)")

    class Meta:
        verbose_name_plural = "school policies"
        ordering = ["school", "-version"]
        constraints = [models.UniqueConstraint(fields=["school", "version"], name="unique_policy_version")]

    def __str__(self):
        return f"{self.school} policy v{self.version} ({self.source_name})"

    def load(self) -> Policy:
        """The parsed, validated policy (see policy_engine)."""
        cached: Policy | None = getattr(self, "_loaded", None)
        if cached is None:
            cached = self._loaded = _parse(self.pk, self.toml_text, f"{self.source_name} (v{self.version})")
        return cached


# How many parsed versions a process keeps. A burst of missed deadlines across a local
# authority's schools (hundreds, each with its own version) reads them in no useful order: with
# fewer kept than the versions in use, each was parsed again and again (a third of the
# watchdog's time at 500 schools). A parsed version is about 20 KiB: 2,048 is about 40 MiB.
VERSIONS_KEPT = 2048


@functools.lru_cache(maxsize=VERSIONS_KEPT)
def parsed_version(pk: int) -> Policy:
    """Version `pk`, parsed, kept per process by its id alone: a visit under way names the
    version it was approved under, so a check-in need not read the version's text to know its
    policy. Safe because a version is never edited; forgotten whenever any version is saved
    or deleted (policy_versions_changed), so an id used again (a rolled-back test) is read anew."""
    return SchoolPolicy.objects.get(pk=pk).load()


@receiver([post_save, post_delete], sender=SchoolPolicy, dispatch_uid="policies.policy_versions_changed")
def policy_versions_changed(sender: type[SchoolPolicy], **kwargs: object) -> None:
    parsed_version.cache_clear()


@functools.lru_cache(maxsize=VERSIONS_KEPT)
def _parse(pk: int, toml_text: str, source: str) -> Policy:
    # A version is never edited, so its parsed form can be kept per process: the watchdog
    # reads the visit's policy for every alert it raises (docs/benchmarks.md). The text is
    # part of the key all the same, so a row changed behind Doorstep's back is parsed anew.
    return Policy.from_toml(toml_text, source=source)


class PolicyDraft(models.Model):
    """A school's policy being prepared on the policy page: TOML text that may not yet be a valid
    policy. Publishing it makes a SchoolPolicy version (policies.drafts.publish); a draft is
    never itself used to judge a visit. One open draft per school."""

    school = models.OneToOneField("schools.School", on_delete=models.CASCADE, related_name="policy_draft")
    started_from = models.CharField(max_length=200, help_text="The preset or version the draft began as")
    toml_text = models.TextField()
    started_at = models.DateTimeField(auto_now_add=True)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    changed_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.school} policy draft (from {self.started_from})"
