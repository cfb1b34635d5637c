"""API tokens: a bearer token for one member of staff at one school, limited to named
scopes, with an expiry, revocable. Only a short prefix (to find the row) and a SHA-256 hash
of the whole token are stored; the token itself is shown once, when it is made.

SHA-256 rather than Argon2: the token is 32 random bytes, so there is nothing to guess and
a slow hash would only slow every API call down."""
import hashlib
import hmac
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models
from django.utils import timezone

from core.rows import Columns, Query, column, table
from people.models import StaffMember, StaffRole

TOKEN_PREFIX = "dst_"

# scope -> what it allows (docs/api.md lists them; accounts.api_auth maps endpoints to scopes)
SCOPES = {
    "read": "Read visits, visit lists, pupils and staff",
    "visits:write": "Propose, approve, schedule, withdraw and cancel visits; visit lists",
    "events:write": "Record check-in events of a visit under way (from a phone or a device)",
    "board:read": "Read the office board of visits under way",
    "alerts:write": "Acknowledge and resolve alerts; read an alert and its police card",
}
SCOPE_CHOICES = [(scope, f"{scope}: {what}") for scope, what in SCOPES.items()]


def hash_token(raw):
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


class ApiTokenQuerySet(models.QuerySet):
    def live(self, now=None):
        now = now or timezone.now()
        return self.filter(revoked_at__isnull=True, expires_at__gt=now)


class ApiToken(models.Model):
    staff = models.ForeignKey("people.StaffMember", on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What the token is for, e.g. 'Office board screen'")
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    token_hash = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def make(cls, *, staff, name, scopes, expires_at, created_by):
        """A new token row and the raw token, which is never stored and cannot be shown again."""
        prefix = secrets.token_hex(4)
        raw = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
        token = cls.objects.create(
            staff=staff, name=name, prefix=prefix, token_hash=hash_token(raw), scopes=sorted(set(scopes)),
            expires_at=expires_at, created_by=created_by,
        )
        return token, raw

    @classmethod
    def find(cls, raw):
        """The token row a presented token belongs to, whatever its state, or None."""
        raw = (raw or "").strip()
        if not raw.startswith(TOKEN_PREFIX) or raw.count("_") < 2:
            return None
        prefix = raw[len(TOKEN_PREFIX):].split("_", 1)[0]
        token = _read_token(prefix)
        if token is None or not hmac.compare_digest(token.token_hash, hash_token(raw)):
            return None
        return token

    @property
    def revoked(self):
        return self.revoked_at is not None

    @property
    def expired(self):
        return self.expires_at <= timezone.now()

    @property
    def is_live(self):
        return not self.revoked and not self.expired

    @property
    def state(self):
        return "revoked" if self.revoked else "expired" if self.expired else "active"

    def allows(self, scope):
        return scope in self.scopes


class Invitation(models.Model):
    """A one-time link that lets a member of staff set their password (and, where their role
    asks for it, enrol two-factor sign-in). Only a SHA-256 hash of the link's token is kept,
    as for API tokens: the token is 32 random bytes, so there is nothing to guess.
    accounts.invitations makes, replaces and accepts them."""

    staff = models.ForeignKey("people.StaffMember", on_delete=models.CASCADE, related_name="invitations")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_by_name = models.CharField(max_length=200, blank=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    replaced_at = models.DateTimeField(null=True, blank=True)

    # The token itself, only on the object `invite` returns (never stored).
    raw_token: str = ""

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Invitation for {self.staff} ({self.state})"

    @property
    def state(self) -> str:
        """"used", "replaced", "expired" or "open"."""
        if self.used_at is not None:
            return "used"
        if self.replaced_at is not None:
            return "replaced"
        if self.expires_at <= timezone.now():
            return "expired"
        return "open"


# Every API call reads its token, with its staff record, login and roles (every permission check
# of the request reads them, as for a session: people.access.staff_records). Its school does not
# come: a token's requests know the school by its id. Read by SQL made once (core.rows): building
# these two queries through the ORM cost more than a phone's whole check-in does in the database.
_TOKEN = Columns(ApiToken, "t")
_STAFF = Columns(StaffMember, "s")
_USER = Columns(get_user_model(), "u")
_READ_TOKEN = Query(lambda c: (
    f"SELECT {_TOKEN.select(c)}, {_STAFF.select(c)}, {_USER.select(c)} FROM {table(ApiToken, c)} t"
    f" JOIN {table(StaffMember, c)} s ON s.{column(StaffMember, 'id', c)} = t.{column(ApiToken, 'staff', c)}"
    f" LEFT JOIN {table(get_user_model(), c)} u ON u.{column(get_user_model(), 'id', c)} = s.{column(StaffMember, 'user', c)}"
    f" WHERE t.{column(ApiToken, 'prefix', c)} = %s"
))
_ROLES = Columns(StaffRole, "r")
_READ_ROLES = Query(lambda c: (
    f"SELECT {_ROLES.select(c)} FROM {table(StaffRole, c)} r WHERE r.{column(StaffRole, 'staff', c)} = %s"
    f" ORDER BY r.{column(StaffRole, 'id', c)}"
))


def _read_token(prefix: str) -> ApiToken | None:
    """The token with this (unique) prefix, its staff record, login and roles, or None."""
    rows = _READ_TOKEN.rows([prefix])
    if not rows:
        return None
    row = rows[0]
    token = _TOKEN.build(row[:_TOKEN.width])
    staff = _STAFF.build(row[_TOKEN.width:_TOKEN.width + _STAFF.width])
    staff.user = _USER.build_or_none(row[_TOKEN.width + _STAFF.width:])
    staff.keep_roles([_ROLES.build(r) for r in _READ_ROLES.rows([staff.pk])])
    token.staff = staff
    return token
