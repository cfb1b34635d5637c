"""From an empty installation to a school (docs/setup.md): the trust, its schools and their
headteachers, added by the installation's first administrator on Doorstep's own pages; and each
school's set-up checklist, whose safety-critical items gate proposing visits (visits/gates.py).

Every change here checks who is acting, writes the audit trail in the same transaction and is
safe when two people do it at once (a school's set-up row and its headteacher are made inside
one transaction that locks the school row)."""
from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from accounts.invitations import invite
from accounts.models import Invitation
from audit.actions import Action
from audit.services import record
from core.errors import NotAllowed
from core.text import and_list
from mis.services import last_sync
from people.models import StaffMember, StaffRole, uk_mobile
from people.permissions import HELPERS, VISITORS
from pupils.models import Contact, Pupil
from safety.readiness.models import Drill
from safety.readiness.services import drill_summary, said_ago
from safety.watchdog import last_heartbeat, watchdog_is_stale
from schools.models import School, SchoolClosure, Trust
from visits.gates import Missing

from .models import SchoolSetup

# ----------------------------------------------------------------------------- who may

Who = User | AnonymousUser


def _signed_in(who: Who) -> User:
    if not isinstance(who, User) or not who.is_active:
        raise NotAllowed("Sign in first.")
    return who


def is_first_administrator(user: Who) -> bool:
    """The installation's superuser (`doorstep createsuperuser`): the only one who may create a trust."""
    return isinstance(user, User) and user.is_active and user.is_superuser


def administered_trusts(user: Who) -> list[Trust]:
    if not isinstance(user, User) or not user.is_active:
        return []
    return list(Trust.objects.filter(admins=user).order_by("name"))


def manages(user: Who, school: School) -> bool:
    """An active administrator of the school's trust."""
    return school.trust_id is not None and any(t.pk == school.trust_id for t in administered_trusts(user))


def _require_manages(user: Who, school: School) -> None:
    if not manages(user, school):
        raise NotAllowed("Only an administrator of the school's trust may change its set-up.")


# ----------------------------------------------------------------------------- the trust and its schools

def create_trust(user: Who, *, name: str, kind: str = Trust.Kind.TRUST,
                 request: HttpRequest | None = None) -> Trust:
    """The first administrator makes the trust (or local authority) and becomes its administrator."""
    if not is_first_administrator(user):
        raise NotAllowed("Only the installation's administrator may set up a trust.")
    admin = _signed_in(user)
    name = (name or "").strip()
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = "Give the trust's name, as it appears on letters."
    if kind not in Trust.Kind.values:
        errors["kind"] = "Choose a multi-academy trust or a local authority."
    if not errors and Trust.objects.filter(name__iexact=name).exists():
        errors["name"] = f"There is already a trust called {name} in Doorstep."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        trust = Trust.objects.create(name=name, kind=kind)
        trust.admins.add(admin)
        record(actor=user, school=None, action=Action.TRUST_CREATED, obj=trust, request=request,
               summary=f"Set up {trust.name} ({trust.get_kind_display().lower()}) in Doorstep")
    return trust


SCHOOL_FIELDS = ("name", "urn", "address", "phone", "email")
FIELD_WORDS = {"name": "name", "urn": "URN", "address": "address", "phone": "office phone", "email": "office email"}


def _clean_school(values: dict[str, str], *, trust: Trust, school: School | None = None) -> dict[str, str]:
    cleaned = {k: (values.get(k) or "").strip() for k in SCHOOL_FIELDS}
    others = School.objects.exclude(pk=school.pk) if school is not None else School.objects.all()
    errors: dict[str, str] = {}
    if not cleaned["name"]:
        errors["name"] = "Give the school's name."
    elif others.filter(trust=trust, name__iexact=cleaned["name"]).exists():
        errors["name"] = f"{trust.name} already has a school called {cleaned['name']}."
    if cleaned["urn"] and not (cleaned["urn"].isdigit() and len(cleaned["urn"]) == 6):
        errors["urn"] = "A URN is the six-figure number the DfE gives the school (Get Information about Schools)."
    elif cleaned["urn"] and others.filter(urn=cleaned["urn"]).exists():
        errors["urn"] = "Another school in Doorstep already has this URN."
    if not cleaned["address"]:
        errors["address"] = "Give the school's address: the police card and letters need it."
    if not cleaned["phone"]:
        errors["phone"] = "Give the school office's phone number: staff on a visit ring it."
    if errors:
        raise ValidationError(errors)
    return cleaned


def add_school(user: Who, trust: Trust, values: dict[str, str], *,
               request: HttpRequest | None = None) -> School:
    """A new school in the trust, held to its set-up checklist before visits can be proposed."""
    if trust not in administered_trusts(user):
        raise NotAllowed("Only an administrator of this trust may add its schools.")
    with transaction.atomic():
        # The trust's row is locked, so two administrators adding the same school at once add it once.
        Trust.objects.select_for_update().get(pk=trust.pk)
        cleaned = _clean_school(values, trust=trust)
        school = School.objects.create(trust=trust, **cleaned)
        SchoolSetup.objects.create(school=school, created_by=_signed_in(user), created_at=timezone.now())
        record(actor=user, school=school, action=Action.SCHOOL_ADDED, obj=school, request=request,
               summary=f"Added {school.name} to {trust.name}", data={k: cleaned[k] for k in SCHOOL_FIELDS})
    return school


def change_school(user: Who, school: School, values: dict[str, str], *,
                  request: HttpRequest | None = None) -> School:
    _require_manages(user, school)
    assert school.trust is not None  # manages() says so
    cleaned = _clean_school(values, trust=school.trust, school=school)
    with transaction.atomic():
        school = School.objects.select_for_update().get(pk=school.pk)
        changes = {k: [getattr(school, k), v] for k, v in cleaned.items() if getattr(school, k) != v}
        if not changes:
            return school
        for k, v in cleaned.items():
            setattr(school, k, v)
        school.save(update_fields=list(changes))
        record(actor=user, school=school, action=Action.SCHOOL_CHANGED, obj=school, request=request,
               summary=f"Changed {school.name}'s " + and_list([FIELD_WORDS[k] for k in changes]),
               data={"changes": changes})
    return school


def headteachers(school: School) -> list[StaffMember]:
    return list(StaffMember.objects.filter(school=school, active=True, roles__role="headteacher")
                .select_related("user").distinct().order_by("full_name"))


def add_headteacher(user: Who, school: School, *, full_name: str, email: str, mobile: str,
                    request: HttpRequest | None = None) -> tuple[StaffMember, Invitation]:
    """Put the headteacher on the school's staff register and email them an invitation
    (accounts.invitations.invite: a one-time link that sets a password and enrols two-factor
    sign-in). All or nothing: if the invitation cannot be made, nobody is added."""
    _require_manages(user, school)
    full_name, email, mobile = (full_name or "").strip(), (email or "").strip().lower(), (mobile or "").strip()
    errors: dict[str, str] = {}
    if not full_name:
        errors["full_name"] = "Give the headteacher's name."
    if not email:
        errors["email"] = "Give the headteacher's email address: the invitation is sent there."
    if mobile:
        try:
            uk_mobile(mobile)
        except ValidationError as exc:
            errors["mobile"] = exc.messages[0]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        School.objects.select_for_update().get(pk=school.pk)  # two admins at once add one head each, in turn
        if StaffMember.objects.filter(school=school, email__iexact=email).exists():
            raise ValidationError({"email": f"Someone on {school.name}'s staff register already has the email "
                                            f"address {email}."})
        head = StaffMember.objects.create(school=school, full_name=full_name, email=email, mobile=mobile,
                                          job_title="Headteacher")
        StaffRole.objects.create(staff=head, role="headteacher")
        record(actor=user, school=school, action=Action.HEADTEACHER_ADDED, obj=head, request=request,
               summary=f"Put {head.full_name} on {school.name}'s staff register as headteacher and invited them")
        invitation = invite(head, by=_signed_in(user), request=request)
    head.refresh_from_db()  # invite() made their sign-in
    return head, invitation


def trust_schools(user: Who) -> list[dict[str, Any]]:
    """Each school of the user's trusts with its headteachers and whether they have signed in."""
    rows: list[dict[str, Any]] = []
    if not isinstance(user, User):
        return rows
    schools = (School.objects.filter(trust__admins=user).select_related("trust")
               .annotate(staff_count=Count("staff", filter=Q(staff__active=True))).order_by("trust__name", "name"))
    for school in schools:
        heads = headteachers(school)
        rows.append({"school": school, "heads": [
            {"name": h.full_name, "email": h.email, "signed_in": bool(h.user and h.user.has_usable_password())}
            for h in heads]})
    return rows


# ----------------------------------------------------------------------------- the checklist

@dataclass
class Item:
    key: str
    title: str
    done: bool
    critical: bool  # visits cannot be proposed until it is done
    missing: list[str] = field(default_factory=list)  # what exactly is missing, one sentence each
    link: str = ""
    link_text: str = ""
    detail: str = ""  # when done: what was found
    invitations: list[InvitationRow] = field(default_factory=list)  # the staff item only


@dataclass
class InvitationRow:
    """Where one member of staff's invitation stands: "accepted", "open" (sent, not yet
    accepted), "expired" (not accepted in time) or "not_sent" (an email on record, never invited)."""
    staff: StaffMember
    state: str
    at: datetime.datetime | None = None  # accepted on, or expires / expired on

    @property
    def may_resend(self) -> bool:
        return self.state != "accepted" and bool(self.staff.email)


def _staff(school: School) -> list[StaffMember]:
    return list(StaffMember.objects.filter(school=school, active=True).select_related("user")
                .prefetch_related("roles", "dbs_checks", "training").order_by("full_name"))


def _policy_item(school: School) -> Item:
    version = school.current_policy()
    item = Item("policy", "The school's home-visit policy is adopted", version is not None, True,
                link=reverse("policies:show"), link_text="Open the policy page")
    if version is None:
        item.missing = ["No home-visit policy has been adopted: Doorstep has nothing to check visits against."]
    else:
        item.detail = f"Version {version.version} ({version.source_name})."
    return item


def _alerts_item(staff: list[StaffMember]) -> Item:
    """Every preset's escalation ladder tells the school office first: at least one person in
    the office must have a mobile or an email on record. Others who get alerts (leaders, the
    DSL) with neither are named too, but do not block."""
    office = [s for s in staff if s.has_role("office")]
    reachable = [s for s in office if s.mobile or s.email]
    helpers = [s for s in staff if s.has_role(*HELPERS)]
    unreachable = [s.full_name for s in helpers if not s.mobile and not s.email]
    item = Item("alerts", "The office can be alerted when a check-in is missed", bool(reachable), True,
                link=reverse("people:register"), link_text="Open the staff register")
    if not office:
        item.missing.append("Nobody on the staff register works in the school office, which is told first when a "
                            "check-in is missed.")
    elif not reachable:
        item.missing.append(f"Nobody in the school office ({and_list([s.full_name for s in office])}) has a mobile "
                            "or an email address on record, so an alert reaches them only when Doorstep is open.")
    if unreachable:
        item.missing.append(f"{and_list(unreachable)} {'gets' if len(unreachable) == 1 else 'get'} alerts but "
                            f"{'has' if len(unreachable) == 1 else 'have'} no mobile or email on record.")
    if reachable:
        item.detail = f"Alerts reach the office: {and_list([s.full_name for s in reachable])}."
    return item


def _watchdog_item(now: datetime.datetime) -> Item:
    stale = watchdog_is_stale(now)
    last = last_heartbeat()
    item = Item("watchdog", "The watchdog is running", not stale, True,
                link=reverse("readiness:panel"), link_text="Open the readiness page")
    if stale:
        heard = f"it was last heard from {said_ago(last, now)}" if last else "it has never run"
        item.missing = [f"The watchdog that alerts the office when a check-in is missed is not running ({heard}). "
                        "Ask whoever looks after Doorstep's server to start it (doorstep start)."]
    else:
        item.detail = f"Last heard from {said_ago(last, now)}." if last else ""
    return item


def invitation_rows(staff: list[StaffMember], now: datetime.datetime) -> list[InvitationRow]:
    """Each active member of staff's latest invitation: who has accepted and who has not (with
    when their link runs out). People who sign in and were never invited (the demo's, or a
    headteacher made before invitations) are left out: there is nothing for them to accept."""
    latest: dict[int, Invitation] = {}
    for invitation in Invitation.objects.filter(staff__in=[s.pk for s in staff]).order_by("created_at", "id"):
        latest[invitation.staff_id] = invitation
    rows = []
    for person in staff:
        last = latest.get(person.pk)
        if last is None:
            if person.email and (person.user is None or not person.user.has_usable_password()):
                rows.append(InvitationRow(person, "not_sent"))
        elif last.used_at is not None:
            rows.append(InvitationRow(person, "accepted", last.used_at))
        elif last.replaced_at is not None and last.replaced_at < last.expires_at:
            # Closed without a newer one (its person left and came back): as good as not sent.
            rows.append(InvitationRow(person, "not_sent"))
        elif last.expires_at <= now:
            rows.append(InvitationRow(person, "expired", last.expires_at))
        else:
            rows.append(InvitationRow(person, "open", last.expires_at))
    order = {"expired": 0, "not_sent": 1, "open": 2, "accepted": 3}
    return sorted(rows, key=lambda r: (order[r.state], r.staff.full_name))


def _staff_item(staff: list[StaffMember], now: datetime.datetime | None = None) -> Item:
    visitors = [s for s in staff if s.has_role(*VISITORS)]
    no_dbs = [s.full_name for s in visitors if not s.dbs_checks.all()]
    no_training = [s.full_name for s in visitors if not s.training.all()]
    item = Item("staff", "Staff are invited, with their DBS checks and training recorded", False, False,
                link=reverse("people:register"), link_text="Open the staff register")
    if len(staff) < 2:
        item.missing.append("Only the headteacher is on the staff register: invite the staff who will go on visits "
                            "and those who answer alerts.")
    if no_dbs:
        item.missing.append(f"No DBS check recorded for {and_list(no_dbs)}.")
    if no_training:
        item.missing.append(f"No training recorded for {and_list(no_training)}.")
    item.invitations = invitation_rows(staff, now or timezone.now())
    expired = [r.staff.full_name for r in item.invitations if r.state == "expired"]
    if expired:
        item.missing.append(f"The invitation to {and_list(expired)} ran out before it was accepted: send it again.")
    item.done = not item.missing
    if item.done:
        item.detail = f"{len(staff)} people on the register; {len(visitors)} go on visits, all with checks and training."
    return item


def _pupils_item(school: School) -> Item:
    on_roll = Pupil.objects.filter(school=school, on_roll=True)
    count = on_roll.count()
    without = on_roll.exclude(pk__in=Contact.objects.filter(pupil__school=school).values("pupil_id")).count()
    item = Item("pupils", "Pupils and their contacts are imported", False, False,
                link=reverse("pupils:index"), link_text="Open the pupils' page")
    if count == 0:
        item.missing.append("No pupils are on the roll yet: import them from the school's MIS.")
        # The pupils' list is empty then: go straight to where they are brought in.
        item.link, item.link_text = reverse("pupils:import"), "Import pupils and contacts"
    elif without:
        item.missing.append(f"{without} pupil{'' if without == 1 else 's'} on the roll "
                            f"{'has' if without == 1 else 'have'} no contact (parent or carer) on record.")
    sync = last_sync(school)
    if sync is not None:
        # The school syncs from its MIS through Wonde: its latest sync is where to look.
        item.link, item.link_text = reverse("mis:wonde"), "Open the MIS sync page"
        when = said_ago(sync.started)
        if sync.ok is False:
            item.missing.append(f"The last sync from the school's MIS ({when}) failed: {sync.error or 'no reason given'}")
    item.done = not item.missing
    if item.done:
        item.detail = f"{count} pupil{'' if count == 1 else 's'} on the roll, each with a contact."
        if sync is not None:
            item.detail += f" Last synced from the MIS {said_ago(sync.started)}" + (
                " (still running)." if sync.ok is None else ".")
    return item


def _term_dates_item(school: School, today: datetime.date) -> Item:
    ahead = SchoolClosure.objects.filter(school=school, last_day__gte=today).count()
    item = Item("term_dates", "Term dates are entered", bool(ahead), False,
                link=reverse("term_dates"), link_text="Enter term dates")
    if not ahead:
        item.missing = ["No holidays or closures ahead are entered: Doorstep would count them as school days "
                        "(reports due, follow-up visits)."]
    else:
        item.detail = f"{ahead} holiday{'' if ahead == 1 else 's'} or closure{'' if ahead == 1 else 's'} ahead."
    return item


def _messages_item(school: School, now: datetime.datetime) -> Item:
    drill = Drill.objects.filter(school=school).select_related("started_by", "acknowledged_by").first()
    item = Item("messages", "Texts and emails reach people (a test alarm to oneself)", False, False,
                link=reverse("readiness:panel") + "#drill", link_text="Run a test alarm")
    if drill is None:
        item.missing = ["Nobody has run a test alarm yet: it sends the person who runs it a text and an email, "
                        "so you can see both arrive."]
        return item
    summary = drill_summary(drill, now)
    item.done = bool(summary["reached"])
    if item.done:
        item.detail = f"The last test alarm ({summary['started']}, by {summary['started_by']}) reached them by text and email."
    else:
        item.missing = [f"The last test alarm ({summary['started']}, by {summary['started_by']}) did not reach them: "
                        + " ".join(words for ok, words in summary["messages"] if not ok)]
    return item


def _pins_item(staff: list[StaffMember]) -> Item:
    visitors = [s for s in staff if s.has_role(*VISITORS)]
    with_pins = [s for s in visitors if s.has_pins]
    item = Item("pins", "Staff who go on visits have set their check-in PINs", bool(with_pins), False,
                link=reverse("checkins:pins"), link_text="Set your PINs")
    if not with_pins:
        item.missing = ["Nobody who goes on visits has set their check-in PINs yet (each person sets their own, "
                        "on their phone)."]
    else:
        item.detail = f"{len(with_pins)} of {len(visitors)} have set their PINs."
    return item


def checklist(school: School, now: datetime.datetime | None = None) -> list[Item]:
    """The school's set-up checklist, in the order a school does it. Reads only: it never
    waits on a provider."""
    now = now or timezone.now()
    staff = _staff(school)
    return [
        _policy_item(school),
        _staff_item(staff, now),
        _alerts_item(staff),
        _pupils_item(school),
        _term_dates_item(school, timezone.localdate(now)),
        _messages_item(school, now),
        _pins_item(staff),
        _watchdog_item(now),
    ]


def is_gated(school: School) -> bool:
    """Held to the checklist before proposing: schools set up on these pages (docs/setup.md)."""
    return SchoolSetup.objects.filter(school=school).exists()


def missing_before_proposing(school: School, now: datetime.datetime | None = None) -> list[Missing]:
    now = now or timezone.now()
    staff = _staff(school)
    items = [_policy_item(school), _alerts_item(staff), _watchdog_item(now)]
    return [Missing(what=" ".join(i.missing), link=i.link, link_text=i.link_text) for i in items if not i.done]


def proposal_gate(school: School) -> list[Missing]:
    """The gate visits asks (registered in SetupConfig.ready)."""
    if not is_gated(school):
        return []
    return missing_before_proposing(school)
