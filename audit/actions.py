"""Every action the audit trail records, in one place, each with a sentence a headteacher reads.

An entry's `action` column holds the member's value ("visit.approved"): the strings already
stored, so older entries read the same. `audit.services.record()` refuses any action that is not
here, so a new kind of entry is added in this file first, with its sentence.

A sentence completes "<who> …": "Hana Head approved the visit"."""
from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    sentence: str

    # Each member is (value, sentence). Action("visit.approved") looks a member up by its value,
    # as with any enum; the default only lets type checkers see that one-argument call.
    def __new__(cls, value: str, sentence: str = "") -> Action:
        member = str.__new__(cls, value)
        member._value_ = value
        member.sentence = sentence
        return member

    # Signing in and accounts
    SIGNIN = "signin", "signed in"
    SIGNIN_FAILED = "signin.failed", "refused a sign-in with the wrong password"
    SIGNIN_LOCKED_OUT = "signin.locked_out", "locked an account after too many failed sign-ins"
    SIGNIN_FAILURES_NOT_WRITTEN = ("signin.failures_not_written",
                                   "stopped writing down each failed sign-in from one address for a minute (too many)")
    SIGNIN_UNLOCKED = "signin.unlocked", "unlocked an account that was locked out"
    SIGNIN_2FA = "signin.2fa", "signed in with a code from an authenticator app"
    SIGNIN_2FA_ENROLLED = "signin.2fa_enrolled", "set up a second-step code for signing in"
    SIGNIN_CODE_FAILED = "signin.code_failed", "entered a wrong second-step code"
    SIGNIN_BACKUP_CODE_USED = "signin.backup_code_used", "signed in with a backup code"
    SIGNIN_BACKUP_CODES_RENEWED = "signin.backup_codes_renewed", "made new backup codes"
    SIGNIN_PASSWORD_CHANGED = "signin.password_changed", "changed their password"
    APITOKEN_CREATED = "apitoken.created", "made a key for the phone app or another program"
    APITOKEN_REVOKED = "apitoken.revoked", "turned off a key for the phone app or another program"

    # Staff
    STAFF_ADDED = "staff.added", "added a member of staff"
    STAFF_CHANGED = "staff.changed", "changed a member of staff's record"
    STAFF_VIEWED = "staff.viewed", "looked at a member of staff's record"
    STAFF_REGISTER_VIEWED = "staff_register.viewed", "looked at the staff register"
    STAFF_PINS_SET = "staff.pins_set", "set a member of staff's check-in PINs"
    # Nothing in Doorstep writes a note about a member of staff yet; the subject access tests
    # file one as the plainest entry about a person.
    STAFF_NOTE = "staff.note", "made a note about a member of staff"
    # Rows of a staff record changed in the admin: staff.<what>_<added|changed|removed>.
    STAFF_STAFFROLE_ADDED = "staff.staffrole_added", "gave a member of staff a role"
    STAFF_STAFFROLE_CHANGED = "staff.staffrole_changed", "changed a member of staff's role"
    STAFF_STAFFROLE_REMOVED = "staff.staffrole_removed", "took a role away from a member of staff"
    STAFF_DBSCHECK_ADDED = "staff.dbscheck_added", "added a DBS check to a member of staff's record"
    STAFF_DBSCHECK_CHANGED = "staff.dbscheck_changed", "changed a DBS check on a member of staff's record"
    STAFF_DBSCHECK_REMOVED = "staff.dbscheck_removed", "removed a DBS check from a member of staff's record"
    STAFF_TRAINING_ADDED = "staff.training_added", "added training to a member of staff's record"
    STAFF_TRAINING_CHANGED = "staff.training_changed", "changed training on a member of staff's record"
    STAFF_TRAINING_REMOVED = "staff.training_removed", "removed training from a member of staff's record"
    STAFF_VEHICLE_ADDED = "staff.vehicle_added", "added a vehicle to a member of staff's record"
    STAFF_VEHICLE_CHANGED = "staff.vehicle_changed", "changed a vehicle on a member of staff's record"
    STAFF_VEHICLE_REMOVED = "staff.vehicle_removed", "removed a vehicle from a member of staff's record"
    # Invitations and leavers (accounts/invitations.py, people/leavers.py; docs/security.md).
    STAFF_INVITED = "staff.invited", "invited a member of staff to Doorstep by email"
    STAFF_INVITATION_ACCEPTED = "staff.invitation_accepted", "accepted an invitation and set a password"
    STAFF_IMPORTED = "staff.imported", "added members of staff from a spreadsheet (CSV)"
    STAFF_DEACTIVATED = "staff.deactivated", "marked a member of staff as having left"
    STAFF_REACTIVATED = "staff.reactivated", "brought back a member of staff marked as having left"

    # Pupils and their homes
    PUPIL_VIEWED = "pupil.viewed", "looked at a pupil's details"
    PUPIL_LIST_VIEWED = "pupil_list.viewed", "looked at the list of pupils"
    PUPILS_IMPORTED = "pupils.imported", "imported the school's pupils and contacts from its MIS"
    PUPILS_IMPORT_FAILED = "pupils.import_failed", "tried to import pupils and contacts, which were refused"
    PUPILS_MAPPING_SAVED = "pupils.mapping_saved", "saved which columns of the school's MIS export hold what"
    RISK_LIST_VIEWED = "risk_list.viewed", "looked at the list of risk assessments"
    RISK_VIEWED = "risk.viewed", "looked at a risk assessment"
    RISK_CREATE = "risk.create", "wrote a risk assessment"
    RISK_REVIEW = "risk.review", "reviewed a risk assessment"
    HOUSEHOLD_NOTE = "household.note", "added a note about a household"

    # Visits: proposing, deciding, scheduling
    VISIT_PROPOSED = "visit.proposed", "proposed a home visit"
    VISIT_APPROVED = "visit.approved", "approved the visit"
    VISIT_DECLINED = "visit.declined", "declined the visit"
    VISIT_SCHEDULED = "visit.scheduled", "scheduled the visit"
    VISIT_WITHDRAWN = "visit.withdrawn", "withdrew the visit"
    VISIT_CANCELLED = "visit.cancelled", "cancelled the visit"
    VISIT_OVERRIDE = "visit.override", "set aside a rule of the school's policy for the visit"
    VISIT_PLAN_CHANGED = "visit.plan_changed", "changed the plan of a proposed visit (who goes, when, why)"
    VISIT_APPOINTMENT_CHANGED = "visit.appointment_changed", "moved the visit to another time"
    VISIT_REASSIGNED = "visit.reassigned", "put another member of staff on the visit in place of one who is leaving"
    VISIT_APPOINTMENT_TOLD = "visit.appointment_told", "told people that the visit's time had changed"
    VISIT_VIEWED = "visit.viewed", "looked at a visit (the home address and who is going)"
    VISIT_BRIEFING_VIEWED = "visit.briefing_viewed", "read the briefing for a home visit"
    VISIT_REASON_PRINTED = "visit.reason_printed", "printed a visit's written reason"
    VISITLIST_CREATED = "visitlist.created", "made a visit list"
    VISITLIST_VISIT_ADDED = "visitlist.visit_added", "added a visit to a visit list"
    VISITLIST_SIGNED = "visitlist.signed", "signed a visit list"
    VISITLIST_VIEWED = "visitlist.viewed", "looked at a visit list (addresses and parents' numbers)"

    # Visits: on the day (the safety core)
    VISIT_EVENT = "visit.event", "recorded a check-in on a visit"
    VISIT_UNDER_WAY = "visit.under_way", "started the visit"
    VISIT_COMPLETED = "visit.completed", "finished the visit"
    VISIT_NOT_SEEN = "visit.not_seen", "recorded that nobody was seen at the visit"
    VISIT_CLOSED_NOT_SEEN = "visit.closed_not_seen", "closed the visit as nobody seen"
    VISIT_ABANDONED = "visit.abandoned", "abandoned the visit"
    VISIT_ABANDON_REPORTED = "visit.abandon_reported", "reported that the visit was abandoned"
    CHECKIN_PIN_WRONG = "checkin.pin_wrong", "entered a wrong check-in PIN"
    CHECKIN_TEXT_NOT_RECORDED = ("checkin.text_not_recorded",
                                 "received a text to the Doorstep number that recorded nothing (an unknown or shared "
                                 "number, no visit under way, or words it could not read)")
    HOOK_REFUSED = ("hooks.refused",
                    "refused a call claiming to come from a text message provider, as it was not signed by it "
                    "(nothing was done)")
    ALERT_RAISED = "alert.raised", "raised an alert"
    ALERT_STEP = "alert.step", "told the next people on the alert's list"
    ALERT_ACKNOWLEDGED = "alert.acknowledged", "said they were dealing with the alert"
    CALL_ANSWER_REFUSED = ("hooks.call_answer_refused",
                           "refused a key press said to come from a phone call about an alert, as it was not signed "
                           "by Twilio (nothing was done)")
    ALERT_RESOLVED = "alert.resolved", "closed the alert"
    ALERT_CONTACT_RESTORED = "alert.contact_restored", "recorded that contact with the staff was back"
    ALERT_POLICE_CARD_READ = "alert.police_card_read", "opened the police card"

    # After the visit: reports, concerns, agreements, letters
    VISIT_FILED = "visit.filed", "filed the visit in the school's records"
    REPORT_SUBMITTED = "report.submitted", "wrote the visit report"
    REPORT_CORRECTED = "report.corrected", "corrected a visit report"
    REPORT_VIEWED = "report.viewed", "read a visit report"
    REPORT_PRINTED = "report.printed", "printed a visit report"
    CONCERN_RAISED = "concern.raised", "raised a safeguarding concern"
    CONCERN_VIEWED = "concern.viewed", "read a safeguarding concern"
    CONCERN_LIST_VIEWED = "concern_list.viewed", "looked at the list of safeguarding concerns"
    AGREEMENT_RECORDED = "agreement.recorded", "recorded an agreement with the family"
    AGREEMENT_KEPT = "agreement.kept", "found the agreement kept"
    AGREEMENT_BROKEN = "agreement.broken", "found the agreement broken"
    AGREEMENT_FOLLOW_UP_PROPOSED = "agreement.follow_up_proposed", "proposed a follow-up visit for a broken agreement"
    LETTER_PREPARED = "letter.prepared", "prepared a letter to a family"
    LETTER_EDITED = "letter.edited", "changed the wording of a letter to a family before sending it"
    LETTER_SENT = "letter.sent", "sent a letter to a family"
    LETTER_VIEWED = "letter.viewed", "read a letter to a family"
    LETTER_PRINTED = "letter.printed", "printed a letter to a family"
    CHRONOLOGY_VIEWED = "chronology.viewed", "read a pupil's chronology"
    CHRONOLOGY_EXPORTED = "chronology.exported", "exported a pupil's chronology"

    # Attendance and referrals
    ATTENDANCE_IMPORTED = "attendance.imported", "imported attendance marks"
    ATTENDANCE_IMPORT_FAILED = "attendance.import_failed", "tried to import attendance marks, which were refused"
    ATTENDANCE_MARK_CHANGED = "attendance.mark_changed", "changed an attendance mark by importing"
    MIS_SETTINGS_CHANGED = "mis.settings_changed", "changed the school's Wonde connection (its Wonde id or token)"
    MIS_SYNC_REQUESTED = "mis.sync_requested", "asked for a sync from the school's MIS (Wonde), to run in the background"
    MIS_SYNCED = "mis.synced", "brought pupils, contacts and attendance marks over from the school's MIS (Wonde)"
    MIS_SYNC_FAILED = "mis.sync_failed", "tried to bring pupils over from the school's MIS (Wonde), which failed; nothing was changed"
    REFERRAL_OPENED = "referral.opened", "opened a referral case: a pupil's attendance fell below the threshold"
    REFERRAL_VIEWED = "referral.viewed", "looked at a referral case"
    REFERRAL_REFERRED = "referral.referred", "referred the pupil for their attendance"
    REFERRAL_NOT_REFERRED = "referral.not_referred", "decided not to refer the pupil for their attendance"
    REFERRAL_PACK_RENDERED = "referral.pack_rendered", "printed a referral pack"

    # Messages
    MESSAGE_READ = "message.read", "read their messages"
    MESSAGE_FAILED = "message.failed", "could not send a message"
    MESSAGE_REWORDED = "message.reworded", "sent texts and emails in the fixed wording, as their words might name a pupil"

    # Readiness and test alarms (safety.readiness): a drill is never an alert, so its entries are its own
    DRILL_STARTED = "drill.started", "started a test alarm (a drill, not a real alert)"
    DRILL_ENDED = "drill.ended", "ended a test alarm"
    DRILL_LAPSED = "drill.lapsed", "stopped a test alarm that nobody ended"
    PROVIDERS_CHECKED = "readiness.providers_checked", "checked that the text and email services answer"

    # Setting up an installation (setup): the trust, its schools and their headteachers
    TRUST_CREATED = "setup.trust_created", "set up a trust in Doorstep"
    SCHOOL_ADDED = "setup.school_added", "added a school to the trust"
    SCHOOL_CHANGED = "setup.school_changed", "changed a school's name, URN or contact details"
    HEADTEACHER_ADDED = "setup.headteacher_added", "put a school's headteacher on its staff register and invited them"

    # The school: policy, calendar
    POLICY_ADOPTED = "policy.adopted", "adopted a version of the school's policy"
    # The policy page's draft (policies.drafts) and what publishing it finds (visits.policy_change)
    POLICY_DRAFT_STARTED = "policy.draft_started", "started a draft of the school's policy from a preset or the current version"
    POLICY_DRAFT_CHANGED = "policy.draft_changed", "changed the draft of the school's policy (on the form or by uploading a file)"
    POLICY_VISITS_RECHECKED = "policy.visits_rechecked", "re-checked visits already approved against a newly published policy"
    CALENDAR_CREATED = "calendar.created", "made a calendar address for their visits"
    CALENDAR_REVOKED = "calendar.revoked", "turned off their calendar address"
    CALENDAR_CLOSURE_ADDED = "calendar.closure_added", "added a day the school is closed"
    CALENDAR_CLOSURE_REMOVED = "calendar.closure_removed", "removed a day the school is closed"

    # Data protection and the trail itself
    RETENTION_RULE_CHANGED = "retention.rule_changed", "changed how long a kind of record is kept"
    RETENTION_REMOVED = "retention.removed", "removed records kept past their time"
    SUBJECT_ACCESS_EXPORTED = "subject_access.exported", "made a subject access export"
    AUDIT_VIEWED = "audit.viewed", "searched the audit trail"
    AUDIT_EXPORTED = "audit.exported", "exported the audit trail"
    READ = "read", "looked at something sensitive"


def sentence(action: str) -> str:
    """The sentence for an action stored on the trail; "" for one no longer (or never) in the
    registry, so an old entry still shows its code."""
    try:
        return Action(action).sentence
    except ValueError:
        return ""
