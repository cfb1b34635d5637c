"""Where each action of people.permissions is asked: the pages (by URL name) and API
operations ("METHOD /api/path" as in the OpenAPI document) it guards. docs/permissions.md is
written from this and ROLE_MATRIX (`doorstep permissions_doc`); tests/security/test_permissions_matrix.py
fails when a page or API operation is in neither PLACES nor OPEN, or an action has no row."""
from django.urls import URLResolver, get_resolver

from api.api import api
from people.models import ROLE_CHOICES
from people.permissions import ON_VISIT_ACTIONS, OWN_VISIT_ACTIONS, ROLE_MATRIX, TRUST_ADMIN_PERMS, any_visit_roles

# action -> (what it lets someone do, [pages and API operations it guards])
PLACES = {
    "visit.view": ("See the school's visits and visit lists",
                   ["visits:index", "visits:detail", "visits:lists", "visits:list_detail",
                    "GET /api/visits", "GET /api/visits/{visit_id}", "GET /api/visit-lists",
                    "GET /api/visit-lists/{list_id}", "GET /api/staff"]),
    "visit.propose": ("Propose a visit and check a plan against the policy",
                      ["visits:propose", "visits:propose_check", "POST /api/visits", "POST /api/policy/evaluate"]),
    "visit.edit": ("Change the plan of a proposed visit (visiting staff: the visits they proposed)",
                   ["visits:edit", "visits:edit_check"]),
    "visit.approve": ("Approve a visit (also needs to be a policy approver); authorise a lone visit",
                      ["visits:approvals", "visits:approve", "visits:authorise_lone",
                       "POST /api/visits/{visit_id}/approve", "POST /api/visits/{visit_id}/authorise-lone-visit"]),
    "visit.decline": ("Decline a proposed visit", ["visits:decline", "POST /api/visits/{visit_id}/decline"]),
    "visit.override": ("Override a policy rule, with a reason", ["visits:override", "POST /api/visits/{visit_id}/overrides"]),
    "visit.schedule": ("Record or change a visit's appointment (visiting staff: on or proposer of the visit)",
                       ["visits:schedule", "visits:change_appointment", "POST /api/visits/{visit_id}/schedule"]),
    "visit.withdraw": ("Withdraw a proposal (visiting staff and the DSL: their own)", ["visits:withdraw", "POST /api/visits/{visit_id}/withdraw"]),
    "visit.cancel": ("Cancel a visit, with a reason (visiting staff: on or proposer of the visit)",
                     ["visits:cancel", "POST /api/visits/{visit_id}/cancel"]),
    "visitlist.create": ("Make a visit list and add visits to it",
                         ["visits:list_create", "POST /api/visit-lists", "POST /api/visit-lists/{list_id}/visits"]),
    "visitlist.sign": ("Sign a visit list", ["visits:list_sign", "POST /api/visit-lists/{list_id}/sign"]),
    "pupil.view": ("Read pupils' details: address, contacts, medical needs, household notes, home-visit risk "
                   "assessments (audited); a lone-working assessment only by its subject and those who write them",
                   ["pupils:index", "pupils:detail", "risk:list", "risk:detail", "GET /api/pupils",
                    "GET /api/pupils/{pupil_id}"]),
    "pupil.import": ("Import pupils and contacts from the MIS's CSV export (command line: import_pupils)",
                     ["pupils:import"]),
    "staff.view_register": ("See the staff register (mobiles, cars, checks)",
                            ["people:register", "people:staff_detail"]),
    "staff.edit": ("Change the staff register (details, roles, DBS checks, training, vehicles); add staff one by one "
                   "or from a CSV file and invite them; hand a leaver's visits to someone else (or withdraw them), "
                   "mark leavers and bring them back",
                   ["people:staff_edit", "people:staff_row_add", "people:staff_row_edit", "people:staff_row_remove",
                    "accounts:staff_add", "accounts:staff_import", "accounts:staff_invite", "accounts:staff_leave",
                    "accounts:staff_reactivate", "visits:leaver_visits"]),
    "risk.edit": ("Write and review risk assessments and household notes",
                  ["risk:new", "risk:review", "risk:note_new"]),
    "policy.view": ("Read the school's policy", ["policies:show"]),
    "policy.change": ("Change the school's policy: a draft from a preset or the current version, uploaded or edited, "
                      "tried on the visits ahead and on an example plan, published as a new version (also the command "
                      "line: set_policy)",
                      ["policy_draft:editor", "policy_draft:start", "policy_draft:upload", "policy_draft:review",
                       "policy_draft:try_plan", "policy_draft:publish"]),
    "calendar.manage": ("Record and remove the school's holidays and closures (term dates)",
                        ["term_dates", "term_date_remove"]),
    "setup.view": ("See the school's set-up checklist: what is missing before visits, and where to do it",
                   ["setup:checklist"]),
    "audit.view": ("Search and export the audit trail (audited)", ["audit:trail", "audit:export"]),
    "records.subject_access": ("Make a subject access export for a pupil or member of staff (audited)",
                               ["retention:index"]),
    "attendance.import": ("Import attendance marks", ["attendance:import"]),
    "mis.manage": ("Enter the school's Wonde id and token, and sync pupils, contacts and marks from the MIS",
                   ["mis:wonde", "mis:wonde_status"]),
    "referral.view": ("See the attendance referral queue and packs", ["attendance:queue", "attendance:case", "attendance:pack"]),
    "referral.decide": ("Decide an attendance referral", ["attendance:decide"]),
    "checkin.record": ("Use 'My visits today' and record one's own check-ins, PINs and panic",
                       ["checkins:today", "checkins:pins", "checkins:offline", "checkins:record", "checkins:not_seen",
                        "checkins:abandon", "checkins:panic", "POST /api/visits/{visit_id}/events"]),
    "briefing.view": ("Read a visit's phone briefing: only staff on the visit, on its day until the report is in, "
                      "or while it is under way", ["checkins:visit"]),
    "checkin.record_call": ("Record a call to staff on a visit, or the code word, from the board",
                            ["alerts:office_call", "alerts:code_word"]),
    "board.view": ("Watch the board of visits under way", ["alerts:board", "alerts:live", "alerts:alarms", "alerts:stream", "GET /api/board",
                                                           "GET /api/alerts/{alert_id}"]),
    "alert.acknowledge": ("Acknowledge an alert", ["alerts:acknowledge", "POST /api/alerts/{alert_id}/acknowledge"]),
    "alert.resolve": ("Resolve an alert, with what happened", ["alerts:resolve", "POST /api/alerts/{alert_id}/resolve"]),
    "alert.police_card": ("Open the police card (audited)", ["alerts:police_card", "GET /api/alerts/{alert_id}/police-card"]),
    "alert.review": ("Review past alerts and written reasons", ["alerts:review"]),
    "readiness.view": ("See whether Doorstep is ready (watchdog, delivery, text and email services, PINs) "
                       "and check the services now", ["readiness:panel", "readiness:check"]),
    "readiness.drill": ("Run a test alarm (a drill: never a real alert) and end one",
                        ["readiness:drill_start", "readiness:drill_end"]),
    "report.write": ("Write or correct a visit report, raise a concern (visiting staff: on the visit)",
                     ["reports:correct"]),
    "report.view": ("Read visit reports and their PDFs (audited)",
                    ["reports:report", "reports:report_pdf", "reports:report_version_pdf", "reports:not_seen_card",
                     "reports:closure_reason"]),
    "report.file": ("Record where a visit's papers were filed", ["reports:file"]),
    "concern.view": ("List and read safeguarding concerns, incidents and physical interventions (audited)",
                     ["reports:concerns", "reports:concern"]),
    "chronology.view": ("Read a pupil's chronology (audited)", ["reports:chronology"]),
    "chronology.export": ("Export a pupil's chronology as PDF or CSV (audited)",
                          ["reports:chronology_pdf", "reports:chronology_csv"]),
    "agreement.record": ("Record agreements made at a visit", ["reports:agreement_new"]),
    "agreement.review": ("Review agreements", ["reports:agreement_review"]),
    "letter.view": ("Read letters to families", ["reports:letters", "reports:letter", "reports:letter_pdf"]),
    "letter.send": ("Reword, approve and send letters", ["reports:letter_send", "reports:letter_edit"]),
    "calendar.subscribe": ("Subscribe to one's own visit calendar (iCalendar feed, by secret link)",
                           ["reports:calendar", "reports:calendar_feed"]),
    "apitoken.revoke_any": ("Revoke any API token at the school (everyone revokes their own)", ["accounts:revoke"]),
}

# Pages and operations that need no role: who may use them, and why that is safe.
OPEN = {
    "home": "anyone on a school's staff: their own tiles, each asking its own action",
    "switch_school": "anyone on the staff of several schools: only schools they are on",
    "login": "anyone: signing in", "logout": "anyone signed in",
    "accessibility": "anyone: the accessibility statement, no data",
    "password_change": "anyone signed in: their own password",
    "accounts:verify": "anyone signing in: their second factor",
    "accounts:enrol": "anyone signed in: their own second factor",
    "accounts:backup_codes": "anyone signed in: their own backup codes",
    "accounts:tokens": "anyone on the staff: their own API tokens (all of the school's with apitoken.revoke_any)",
    "accounts:invitation": "anyone holding an invitation link: only the person it was emailed to, once, for 7 days",
    "notify:inbox": "anyone on the staff: their own messages",
    "setup:start": "the installation's administrator (a superuser: sets up a trust) and trust administrators "
                   "(their trust's schools only); no role in any school",
    "setup:school_add": "trust administrators only: a school in their own trust",
    "setup:school": "trust administrators only: a school of their own trust (any other is not found); "
                    "changes its details and invites its headteacher",
    "notify:mark_read": "anyone on the staff: their own messages",
    "notify:mark_all_read": "anyone on the staff: their own messages",
    "api:api-root": "anyone: the API's index", "api:openapi-json": "anyone: the API's description, no data",
    "api:openapi-view": "anyone: the API's documentation page, no data",
    "service_worker": "anyone: the phone pages' service worker script, no data",
    "hooks:sms_twilio": "Twilio only: a text to the Doorstep number, refused unless Twilio's signature is right",
    "hooks:sms_notify": "GOV.UK Notify only: a text to the Doorstep number, refused without Notify's token",
    "hooks:voice_twilio": "Twilio only: the key pressed on a phone call about an alert (its address holds the "
                          "call's random token), refused unless Twilio's signature is right",
}


# ------------------------------------------------------------------ the written matrix

def page_paths():
    """{URL name: path pattern} for every page outside the Django admin."""
    found: dict[str, str] = {}

    def walk(patterns, prefix="", ns=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                inner = f"{ns}:{p.namespace}" if ns and p.namespace else (p.namespace or ns)
                walk(p.url_patterns, prefix + str(p.pattern), inner)
            elif p.name:
                found.setdefault(f"{ns}:{p.name}" if ns else p.name, "/" + prefix + str(p.pattern))

    walk(get_resolver().url_patterns)
    return {name: path for name, path in found.items() if not path.startswith("/admin/")}


def api_operations():
    """["METHOD /api/path", ...] from the OpenAPI document."""
    schema = api.get_openapi_schema()
    return [f"{method.upper()} {path}" for path, ops in schema["paths"].items() for method in ops]


def _place(place, paths):
    if place in paths:
        return f"`{paths[place]}`"
    return f"`{place}`"


def render():
    """docs/permissions.md, from ROLE_MATRIX, the rules and PLACES."""
    paths = page_paths()
    roles = [r for r, _ in ROLE_CHOICES]
    short = {"headteacher": "Head", "deputy_headteacher": "Deputy", "dsl": "DSL", "business_manager": "SBM",
             "office": "Office", "attendance_officer": "Attendance", "teacher": "Teacher", "family_support": "FSW"}
    lines = [
        "# Who may do and see what",
        "",
        "<!-- Written by `doorstep permissions_doc` from people/permissions.py and",
        "     doorstep/permission_places.py. Do not edit by hand: tests/security/test_permissions_matrix.py",
        "     fails when this file and the code disagree. -->",
        "",
        "Every check in Doorstep asks `people.permissions.can(staff, action, obj)` (the `{% can %}`",
        "template tag and Django's `user.has_perm(\"doorstep.<action>\", obj)` ask the same django-rules",
        "predicates). An action is allowed when the person is on the active staff of the record's",
        "school **and** holds one of the roles marked below **and** any condition in the last column holds.",
        "A record of another school is always refused (404 on pages and the API).",
        "",
        "Key: ✓ allowed; ◐ allowed only on visits the person is on (or proposed); ● only on visits the",
        "person is on, on the day of the visit until its report is submitted, or while it is under way.",
        "Roles: " + "; ".join(f"{short[r]} = {label}" for r, label in ROLE_CHOICES) + ".",
        "",
        "| action | what it allows | " + " | ".join(short[r] for r in roles) + " | pages and API |",
        "|---|---|" + "---|" * len(roles) + "---|",
    ]
    for action in sorted(ROLE_MATRIX):
        what, places = PLACES[action]
        cells = []
        for role in roles:
            if role not in ROLE_MATRIX[action]:
                cells.append("")
            elif action in ON_VISIT_ACTIONS:
                cells.append("●")
            elif action in OWN_VISIT_ACTIONS and role not in any_visit_roles(action):
                cells.append("◐")
            else:
                cells.append("✓")
        where = "<br>".join(_place(p, paths) for p in places) or "(no page: a command or the admin)"
        lines.append(f"| `{action}` | {what} | " + " | ".join(cells) + f" | {where} |")
    lines += [
        "",
        "## Pages open to anyone on the staff (or anyone at all)",
        "",
        "| page | who and why |",
        "|---|---|",
    ]
    for name in sorted(OPEN):
        lines.append(f"| {_place(name, paths)} | {OPEN[name]} |")
    lines += [
        "",
        "## Trust administrators",
        "",
        "A trust administrator (a user in a trust's *admins*; the demo's `trust`) is not on any",
        "school's staff and holds none of the roles above, so every page and API operation in the",
        "table refuses them. In the Django admin (`/admin/`) they may, for their own trust's schools only:",
        "",
        "| Django permission | meaning |",
        "|---|---|",
    ]
    for perm in sorted(TRUST_ADMIN_PERMS):
        app, codename = perm.split(".")
        verb, model = codename.split("_", 1)
        lines.append(f"| `{perm}` | {verb} {model} |")
    lines += [
        "",
        "The admin screens for pupils (with their contacts and household notes), visits, visit lists,",
        "overrides, risk assessments and the audit trail answer only to the installation's superuser;",
        "visit reports, concerns and attendance marks have no admin screen at all. A trust",
        "administrator is refused them even if given Django model permissions by mistake.",
        "",
    ]
    return "\n".join(lines)
