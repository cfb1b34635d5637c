"""What each role may do, in one place. Views, the API, templates and the services all ask
`can(staff, action, obj)`; nothing else decides. docs/permissions.md is this table in words
(written from this module by `doorstep permissions_doc`; a test fails if they disagree).

The table below (ROLE_MATRIX) says which roles may do an action at all. The rules that make
it per object are django-rules predicates built from it: the object must belong to the
same school; some actions also need the person to be on the visit; the briefing also needs
the visit to be today or under way. The same predicates answer
`user.has_perm("doorstep.<action>", obj)` (registered with rules' ObjectPermissionBackend),
so Django, the `{% can %}` tag and `can()` cannot disagree.

Who approves a visit is not fixed here: it is whatever the school's policy names
(`approval.approver_roles`), checked in visits.services when the visit is approved.

Trust administrators (schools.Trust.admins) are not staff of a school and hold no role: they
manage the trust's schools, staff register and policy versions in the Django admin and
nothing else (see TRUST_ADMIN_PERMS at the bottom)."""
import rules
from django.utils import timezone

from schools.models import School, Trust

from .models import StaffMember

LEADERS = {"headteacher", "deputy_headteacher"}
VISITORS = {"attendance_officer", "teacher", "family_support", "dsl", "headteacher", "deputy_headteacher"}

# action -> roles that may do it (any one of them is enough)
ROLE_MATRIX = {
    "visit.view": {"headteacher", "deputy_headteacher", "dsl", "business_manager", "office",
                   "attendance_officer", "teacher", "family_support"},
    "visit.propose": {"headteacher", "deputy_headteacher", "dsl", "attendance_officer", "teacher", "family_support"},
    "visit.edit": {"headteacher", "deputy_headteacher", "dsl", "attendance_officer", "teacher", "family_support"},
    "visit.approve": {"headteacher", "deputy_headteacher"},  # narrowed further by the policy's approvers
    "visit.decline": {"headteacher", "deputy_headteacher"},
    "visit.override": {"headteacher"},
    "visit.schedule": {"headteacher", "deputy_headteacher", "dsl", "office", "attendance_officer", "teacher", "family_support"},
    "visit.withdraw": {"headteacher", "deputy_headteacher", "dsl", "attendance_officer", "teacher", "family_support"},
    "visit.cancel": {"headteacher", "deputy_headteacher", "dsl", "office", "attendance_officer", "teacher", "family_support"},
    "visitlist.create": {"headteacher", "deputy_headteacher", "dsl", "office", "attendance_officer", "business_manager"},
    "visitlist.sign": {"headteacher"},
    # The business manager writes Coteford's risk assessments (C 2.5), so sees the homes they are about.
    "pupil.view": {"headteacher", "deputy_headteacher", "dsl", "business_manager", "office", "attendance_officer",
                   "teacher", "family_support"},
    # Importing the roll from the MIS's CSV export (docs/pupils-import.md): those who set the school up, and
    # the office who keep the MIS.
    "pupil.import": {"headteacher", "business_manager", "office"},
    "staff.view_register": {"headteacher", "deputy_headteacher", "business_manager", "office", "dsl"},
    "staff.edit": {"headteacher", "business_manager"},
    "risk.edit": {"headteacher", "deputy_headteacher", "business_manager", "dsl"},
    "policy.view": {"headteacher", "deputy_headteacher", "dsl", "business_manager", "office",
                    "attendance_officer", "teacher", "family_support"},
    "policy.change": {"headteacher", "business_manager"},
    # Term dates and closures: school days count reports due and follow-up visits.
    "calendar.manage": {"headteacher", "business_manager", "office"},
    # The school's set-up checklist (docs/setup.md): those who set the school up.
    "setup.view": {"headteacher", "business_manager"},
    # The audit trail: the headteacher and the DSL search and export it (docs/security.md, "Audit").
    "audit.view": {"headteacher", "dsl"},
    # Subject access exports (docs/security.md, "Subject access"): everything held about one person; the school's
    # leaders for data protection.
    "records.subject_access": {"headteacher", "dsl"},
    # Attendance (docs/attendance.md): the office or attendance officer imports marks; the referral
    # queue is the headteacher's, who alone decides (C 4.4, P §7¶4); others may look.
    "attendance.import": {"headteacher", "deputy_headteacher", "office", "attendance_officer"},
    # The school's Wonde connection and its sync (docs/mis-sync.md): those who set the school up.
    "mis.manage": {"headteacher", "business_manager"},
    "referral.view": {"headteacher", "deputy_headteacher", "dsl", "attendance_officer"},
    "referral.decide": {"headteacher"},
    # The safety core (docs/safety-core.md). Staff record their own visit's events from their phone (checked
    # in safety.events: they must be on the visit); the office and leaders record calls.
    "checkin.record": set(VISITORS),
    "checkin.record_call": {"headteacher", "deputy_headteacher", "dsl", "office"},
    # The phone briefing (household notes, risks, contacts): only for staff on the visit, and
    # only while it is relevant (see briefing_is_relevant). Doorstep's own default, not a
    # policy's clause (docs/security.md, "Who may see what").
    "briefing.view": set(VISITORS),
    # Watching visits under way and answering alerts: the office first, then leaders and the DSL
    # (every preset's ladder names these roles).
    "board.view": {"headteacher", "deputy_headteacher", "dsl", "office"},
    "alert.acknowledge": {"headteacher", "deputy_headteacher", "dsl", "office"},
    "alert.resolve": {"headteacher", "deputy_headteacher", "dsl", "office"},
    "alert.police_card": {"headteacher", "deputy_headteacher", "dsl", "office"},
    # The headteacher's page of alerts and the written reasons visits were cancelled or
    # abandoned (docs/safety-core.md, "Screens"): leaders and the DSL; the office answers alerts on the board.
    "alert.review": {"headteacher", "deputy_headteacher", "dsl"},
    # Whether Doorstep is ready to keep staff safe (heartbeats, providers, PINs), and test alarms run
    # through the whole path (docs/safety-core.md, "Readiness and drills"): the leaders, the DSL, the
    # business manager (who keeps the register) and the office.
    "readiness.view": {"headteacher", "deputy_headteacher", "dsl", "business_manager", "office"},
    "readiness.drill": {"headteacher", "deputy_headteacher", "dsl", "business_manager", "office"},
    # After the visit (reports app). Staff on the visit write its report; leaders and the DSL may too.
    "report.write": set(VISITORS),
    "report.view": {"headteacher", "deputy_headteacher", "dsl", "office", "attendance_officer", "teacher",
                    "family_support"},
    "report.file": {"headteacher", "deputy_headteacher", "dsl", "office", "attendance_officer"},
    # Concerns raised on a visit are safeguarding information: leaders and the DSL only (P §8¶2, H §6¶4).
    "concern.view": {"headteacher", "deputy_headteacher", "dsl"},
    "chronology.view": {"headteacher", "deputy_headteacher", "dsl", "office", "attendance_officer", "teacher",
                        "family_support"},
    "chronology.export": {"headteacher", "deputy_headteacher", "dsl", "office", "attendance_officer"},
    "agreement.record": set(VISITORS),
    "agreement.review": {"headteacher", "deputy_headteacher", "dsl", "attendance_officer"},
    "letter.view": {"headteacher", "deputy_headteacher", "dsl", "office", "attendance_officer"},
    "letter.send": {"headteacher"},
    "calendar.subscribe": set(VISITORS),
    # API tokens (docs/security.md, "API tokens"): everyone makes and revokes their own; leaders revoke anyone's at the school.
    "apitoken.revoke_any": set(LEADERS),
}

# Roles that can help when an escalation reaches "everyone" (a ladder step's notify list).
HELPERS = {"headteacher", "deputy_headteacher", "dsl", "office"}

# Who may act on a visit besides the roles above: the proposer may withdraw their own
# proposal; staff on the visit may record its appointment and cancel it. Leaders, the office
# and the DSL act on any visit of their school.
OWN_VISIT_ACTIONS = {"visit.withdraw", "visit.schedule", "visit.cancel", "report.write"}
ANY_VISIT_ROLES = LEADERS | {"office", "dsl"}
# Withdrawing a proposal takes it from the people who decide on it: that is for whoever
# proposed it (or is going) and for the headteacher or deputy, not for the DSL, who gives
# input on a colleague's proposal (P §3¶4) but does not call it off.
LEADERS_ONLY_ACTIONS = {"visit.withdraw"}


def any_visit_roles(action: str) -> set[str]:
    """The roles that may do an own-visit action on any visit of their school."""
    return set(LEADERS) if action in LEADERS_ONLY_ACTIONS else set(ANY_VISIT_ROLES)

# Changing a proposal's plan is for whoever proposed it and for the headteacher or deputy,
# who decide on it: not for everyone else who happens to be going.
OWN_PROPOSAL_ACTIONS = {"visit.edit"}

# Actions that need the person to be on the visit itself, whatever their role.
ON_VISIT_ACTIONS = {"briefing.view"}


# ---------------------------------------------------------------- predicates (staff, obj)

def school_id_of(obj):
    """The school an object belongs to, or None if it belongs to none we can tell."""
    if isinstance(obj, School):
        return obj.pk
    return getattr(obj, "school_id", None)


def visit_of(obj):
    """The visit an object is about: the visit itself, or the one it belongs to (a report, a
    check-in). Visits are an app above this one, so a visit is known by its model's label and
    asked only through its own fields, never imported here."""
    if getattr(getattr(obj, "_meta", None), "label", None) == "visits.Visit":
        return obj
    return getattr(obj, "visit", None)


@rules.predicate
def is_active_staff(staff):
    return staff is not None and getattr(staff, "active", False) and hasattr(staff, "role_names")


@rules.predicate
def no_object(staff, obj):
    return obj is None


@rules.predicate
def same_school(staff, obj):
    """The object is this school's (or there is no object: a list the view scopes itself)."""
    if obj is None:
        return True
    school_id = school_id_of(obj)
    return school_id is None or school_id == staff.school_id


@rules.predicate
def on_this_visit(staff, obj):
    """Named on the visit's staff (the assignment, not merely the proposal)."""
    visit = visit_of(obj)
    if visit is None or visit.pk is None:
        return False
    # From the assignments already read where a page lists several visits (prefetched), else one
    # small query: a visit has one or two people.
    return any(a.staff_id == staff.pk for a in visit.assignments.all())


@rules.predicate
def proposed_this_visit(staff, obj):
    visit = visit_of(obj)
    return visit is not None and visit.proposed_by_id == staff.pk


@rules.predicate
def briefing_is_relevant(staff, obj):
    """The briefing matters while the visit is under way, and on the day of the visit until its
    report is submitted; after that the household's details stay out of the visitor's pocket."""
    visit = visit_of(obj)
    if visit is None:
        return False
    if visit.state == visit.State.UNDER_WAY:
        return True
    if timezone.localdate(visit.starts_at) != timezone.localdate():
        return False
    return not visit.reports.exists()


def has_role(*roles):
    wanted = frozenset(roles)
    name = "has_role:" + ",".join(sorted(wanted))

    @rules.predicate(name)
    def predicate(staff):
        return bool(wanted & set(staff.role_names))

    return predicate


def rule_for(action):
    """The predicate that decides `action`: active staff of the object's school holding one of
    the action's roles, plus the per-visit conditions above."""
    rule = is_active_staff & same_school & has_role(*ROLE_MATRIX[action])
    if action in OWN_VISIT_ACTIONS:
        rule = rule & (no_object | has_role(*any_visit_roles(action)) | on_this_visit | proposed_this_visit)
    if action in OWN_PROPOSAL_ACTIONS:
        rule = rule & (no_object | has_role(*LEADERS) | proposed_this_visit)
    if action in ON_VISIT_ACTIONS:
        rule = rule & on_this_visit & briefing_is_relevant
    return rule


# Rules asked with a StaffMember (can()), kept apart from Django's permission rule set.
staff_rules = rules.RuleSet()
for _action in ROLE_MATRIX:
    staff_rules.add_rule(_action, rule_for(_action))


def can(staff: StaffMember | None, action: str, obj: object = None) -> bool:
    """May this staff record do `action` (on `obj`, which must belong to the same school)?"""
    if action not in ROLE_MATRIX:
        raise KeyError(f"unknown action {action!r}")
    return staff_rules.test_rule(action, staff, obj)


# ------------------------------------------------ the same rules for user.has_perm(...)

def staff_for_user(user, obj=None):
    """The user's active staff records: the one at obj's school, or all of them without obj."""
    if user is None or not user.is_authenticated:
        return []
    records = StaffMember.objects.filter(user=user, active=True).prefetch_related("roles")
    if obj is not None and school_id_of(obj) is not None:
        records = records.filter(school_id=school_id_of(obj))
    return list(records)


def _as_user_rule(action):
    @rules.predicate(f"as_staff:{action}")
    def predicate(user, obj=None):
        return any(can(staff, action, obj) for staff in staff_for_user(user, obj))

    return predicate


PERMISSION_PREFIX = "doorstep."
for _action in ROLE_MATRIX:
    rules.set_perm(PERMISSION_PREFIX + _action, _as_user_rule(_action))


# ---------------------------------------------- trust administrators (the Django admin)

def administered_school_ids(user):
    if user is None or not user.is_authenticated:
        return set()
    return set(School.objects.filter(trust__admins=user).values_list("pk", flat=True))


@rules.predicate
def is_trust_admin(user):
    return user is not None and user.is_authenticated and user.is_active and user.administered_trusts.exists()


@rules.predicate
def object_in_administered_trust(user, obj=None):
    """No object (the list page, which get_queryset narrows) or one of the admin's schools'."""
    if obj is None:
        return True
    if isinstance(obj, Trust):
        return obj.admins.filter(pk=user.pk).exists()
    return school_id_of(obj) in administered_school_ids(user)


_trust_object = is_trust_admin & object_in_administered_trust
# What a trust administrator manages: its schools, their staff register (roles, checks,
# training, cars) and their policy versions. Nothing about pupils, visits, reports, concerns,
# attendance or the audit trail is on this list: those admin pages are closed to them.
TRUST_ADMIN_PERMS = {
    "schools.view_trust": _trust_object,
    "schools.change_trust": _trust_object,
    "schools.view_school": _trust_object,
    "schools.add_school": is_trust_admin,
    "schools.change_school": _trust_object,
    "people.view_staffmember": _trust_object,
    "people.add_staffmember": is_trust_admin,
    "people.change_staffmember": _trust_object,
    "people.view_staffrole": is_trust_admin,
    "people.add_staffrole": is_trust_admin,
    "people.change_staffrole": is_trust_admin,
    "people.delete_staffrole": is_trust_admin,
    "people.view_dbscheck": is_trust_admin,
    "people.add_dbscheck": is_trust_admin,
    "people.change_dbscheck": is_trust_admin,
    "people.view_training": is_trust_admin,
    "people.add_training": is_trust_admin,
    "people.change_training": is_trust_admin,
    "people.view_vehicle": is_trust_admin,
    "people.add_vehicle": is_trust_admin,
    "people.change_vehicle": is_trust_admin,
    "policies.view_schoolpolicy": _trust_object,
}
for _perm, _predicate in TRUST_ADMIN_PERMS.items():
    rules.set_perm(_perm, _predicate)
# The admin asks has_module_permission per app.
for _app in {p.split(".")[0] for p in TRUST_ADMIN_PERMS}:
    rules.set_perm(_app, is_trust_admin)
