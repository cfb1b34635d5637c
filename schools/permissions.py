"""What each role may do, in one place. Views, the API and the visit services all ask
`can(staff, action, obj)`; nothing else decides. docs/permissions.md is this table in words.

Who approves a visit is not fixed here: it is whatever the school's policy names
(`approval.approvers`), checked in visits.services when the visit is approved."""

LEADERS = {"headteacher", "deputy_headteacher"}
VISITORS = {"attendance_officer", "teacher", "family_support", "dsl", "headteacher", "deputy_headteacher"}

# action -> roles that may do it (any one of them is enough)
ROLE_MATRIX = {
    "visit.view": {"headteacher", "deputy_headteacher", "dsl", "business_manager", "office",
                   "attendance_officer", "teacher", "family_support"},
    "visit.propose": {"headteacher", "deputy_headteacher", "dsl", "attendance_officer", "teacher", "family_support"},
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
    "staff.view_register": {"headteacher", "deputy_headteacher", "business_manager", "office", "dsl"},
    "staff.edit": {"headteacher", "business_manager"},
    "risk.edit": {"headteacher", "deputy_headteacher", "business_manager", "dsl"},
    "policy.view": {"headteacher", "deputy_headteacher", "dsl", "business_manager", "office",
                    "attendance_officer", "teacher", "family_support"},
    "policy.change": {"headteacher", "business_manager"},
    "audit.view": {"headteacher", "dsl"},
    # Subject access exports (issue 5 §4): everything held about one person; the school's
    # leaders for data protection.
    "records.subject_access": {"headteacher", "dsl"},
    # Attendance (issue 4 §3): the office or attendance officer imports marks; the referral
    # queue is the headteacher's, who alone decides (C 4.4, P §7¶4); others may look.
    "attendance.import": {"headteacher", "deputy_headteacher", "office", "attendance_officer"},
    "referral.view": {"headteacher", "deputy_headteacher", "dsl", "attendance_officer"},
    "referral.decide": {"headteacher"},
    # The safety core (issue 3). Staff record their own visit's events from their phone (checked
    # in checkins.services: they must be on the visit); the office and leaders record calls.
    "checkin.record": set(VISITORS),
    "checkin.record_call": {"headteacher", "deputy_headteacher", "dsl", "office"},
    # Watching visits under way and answering alerts: the office first, then leaders and the DSL
    # (every preset's ladder names these roles).
    "board.view": {"headteacher", "deputy_headteacher", "dsl", "office"},
    "alert.acknowledge": {"headteacher", "deputy_headteacher", "dsl", "office"},
    "alert.resolve": {"headteacher", "deputy_headteacher", "dsl", "office"},
    "alert.police_card": {"headteacher", "deputy_headteacher", "dsl", "office"},
    # The headteacher's page of alerts and the written reasons visits were cancelled or
    # abandoned (issue 3 §3): leaders and the DSL; the office answers alerts on the board.
    "alert.review": {"headteacher", "deputy_headteacher", "dsl"},
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
}

# Roles that can help when an escalation reaches "everyone" (a ladder step's notify list).
HELPERS = {"headteacher", "deputy_headteacher", "dsl", "office"}

# Who may act on a visit besides the roles above: the proposer may withdraw their own
# proposal; staff on the visit may record its appointment and cancel it.
OWN_VISIT_ACTIONS = {"visit.withdraw", "visit.schedule", "visit.cancel", "report.write"}


def can(staff, action, obj=None):
    """May this staff record do `action` (on `obj`, which must belong to the same school)?"""
    if staff is None or not staff.active:
        return False
    if action not in ROLE_MATRIX:
        raise KeyError(f"unknown action {action!r}")
    if obj is not None and getattr(obj, "school_id", staff.school_id) != staff.school_id:
        return False
    roles = set(staff.role_names)
    if not roles & ROLE_MATRIX[action]:
        return False
    if obj is not None and action in OWN_VISIT_ACTIONS and not roles & (LEADERS | {"office", "dsl"}):
        # Ordinary visiting staff act only on visits they proposed or are on.
        on_visit = obj.assignments.filter(staff=staff).exists() if hasattr(obj, "assignments") else False
        return on_visit or getattr(obj, "proposed_by_id", None) == staff.pk
    return True
