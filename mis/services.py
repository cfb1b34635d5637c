"""The Wonde connection and the sync: the one place the sync changes anything.

    save_connection(school, wonde_school_id="A123", token="...", by=staff)
    run = sync(school, by=staff)          # a SyncRun: ok, counts, or the error in words
    run, new = request_sync(school, by=staff)   # "Sync now": for the task worker (mis.tasks)
    last_sync(school)                     # the latest SyncRun (the set-up checklist reads it)

A sync reads everything from Wonde first (students with contacts; on an incremental sync
the deleted students; attendance session marks), then writes it in one transaction through
pupils.roster.apply and attendance.importer.import_marks: any failure, of Wonde or of a
record, leaves every pupil, contact and mark as it was, and the SyncRun says why."""
import datetime
import io
import re
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from attendance.importer import BUILTIN_MAPPINGS, NO_MARK, ImportFailed, import_marks
from audit.actions import Action
from audit.services import actor_of, record
from core import csvsafe
from core.errors import NotAllowed
from people.models import StaffMember
from people.permissions import can
from pupils.models import Pupil
from pupils.roster import RosterRefused, apply
from schools.models import School

from . import crypto
from .client import WondeClient, WondeError
from .mapping import MappingError, deleted_ids, pupil_records, session_mark
from .models import SyncRun, WondeConnection

# How many problems one failed sync lists in full (the count is always exact).
MAX_PROBLEMS_SHOWN = 20
# However often it syncs, a school's data is read in full at least this often (docs/mis-sync.md).
FULL_SYNC_EVERY = datetime.timedelta(days=7)
MARKS_MAPPING = BUILTIN_MAPPINGS["sims"]  # UPN, AttendanceDate (dd/mm/yyyy), SessionName, AttendanceMark


class SyncFailed(Exception):
    """The sync changed nothing; the message is for a headteacher."""


def connection_for(school: School) -> WondeConnection | None:
    return WondeConnection.objects.filter(school=school).first()


def last_sync(school: School) -> SyncRun | None:
    """The school's latest sync, finished or not (None: never synced)."""
    return SyncRun.objects.filter(school=school).order_by("-started", "-id").first()


def last_good_sync(school: School) -> SyncRun | None:
    return SyncRun.objects.filter(school=school, ok=True).order_by("-started", "-id").first()


def _full_sync_since(school: School, moment: datetime.datetime) -> bool:
    return SyncRun.objects.filter(school=school, ok=True, full=True, started__gte=moment).exists()


def masked(conn: WondeConnection) -> str:
    return f"•••• {conn.token_hint}" if conn.token_hint else "••••"


def save_connection(school: School, *, wonde_school_id: str, token: str, by: Any) -> WondeConnection:
    """Set the school's Wonde id and (when `token` is not blank) its token. Refuses staff
    who may not (NotAllowed) and a blank id, or no token on a first save (ValueError)."""
    if not can(by, "mis.manage", school):
        raise NotAllowed("Only the headteacher or the business manager can change the school's Wonde connection.")
    wonde_school_id = wonde_school_id.strip()
    token = token.strip()
    if not wonde_school_id:
        raise ValueError("Enter the school's Wonde id (Wonde shows it as the school's ID, e.g. A1234567890).")
    if any(c.isspace() for c in wonde_school_id) or len(wonde_school_id) > 40:
        raise ValueError("The Wonde id is one word of letters and numbers, at most 40 characters.")
    user, _name = actor_of(by)
    with transaction.atomic():
        conn = WondeConnection.objects.select_for_update().filter(school=school).first()
        if conn is None and not token:
            raise ValueError("Enter the school's Wonde token (Wonde gives it when the school approves Doorstep).")
        if conn is None:
            conn = WondeConnection(school=school)
        changed = []
        if conn.wonde_school_id != wonde_school_id:
            changed.append("Wonde id")
            conn.wonde_school_id = wonde_school_id
        if token:
            changed.append("token")
            conn.token_encrypted = crypto.encrypt(token)
            conn.token_hint = token[-4:]
        conn.changed_at = timezone.now()
        conn.changed_by = user
        conn.save()
        if changed:
            # The token itself is never written to the trail, nor any part of it.
            record(actor=by, school=school, action=Action.MIS_SETTINGS_CHANGED, obj=conn,
                   summary=f"Changed the school's Wonde {' and '.join(changed)}",
                   data={"changed": changed, "wonde_school_id": wonde_school_id})
    return conn


def client_for(conn: WondeConnection) -> WondeClient:
    return WondeClient(settings.WONDE_BASE_URL, conn.wonde_school_id, crypto.decrypt(conn.token_encrypted),
                       timeout=settings.WONDE_TIMEOUT)


class AlreadySyncing(NotAllowed):
    """A sync of this school is requested or running: one at a time. `run` is that sync."""

    def __init__(self, run: SyncRun) -> None:
        self.run = run
        super().__init__(f"A sync of {run.school.name} from Wonde is already "
                         f"{'waiting to start' if run.status == SyncRun.Status.REQUESTED else 'running'} "
                         f"(asked for at {timezone.localtime(run.started):%H:%M}): try again when it has finished.")


# A sync requested or running this long was lost (the worker was stopped, the machine restarted):
# it is closed as failed so that the school can ask again. A real sync takes seconds to minutes.
LOST_AFTER = datetime.timedelta(hours=1)
LIVE = (SyncRun.Status.REQUESTED, SyncRun.Status.RUNNING)


def live_sync(school: School) -> SyncRun | None:
    """The school's requested or running sync, if there is one."""
    return SyncRun.objects.filter(school=school, status__in=LIVE).first()


def _begin(school: School, by: Any, *, status: str, full: bool) -> SyncRun:
    """Write the school's one live SyncRun, or raise AlreadySyncing. The school's row lock makes
    presses at the same moment (and the daily job) queue here, and each sees the other's run;
    the constraint on SyncRun is the backstop."""
    user, name = actor_of(by)
    with transaction.atomic():
        School.objects.select_for_update().filter(pk=school.pk).exists()
        now = timezone.now()
        for lost in SyncRun.objects.filter(school=school, status__in=LIVE, started__lt=now - LOST_AFTER):
            lost.error = ("This sync never started: Doorstep's background worker was not running. Nothing was changed."
                          if lost.status == SyncRun.Status.REQUESTED else
                          "This sync stopped without finishing (Doorstep was stopped while it ran). Nothing was changed.")
            lost.status, lost.ok, lost.finished = SyncRun.Status.FINISHED, False, now
            lost.save(update_fields=["status", "ok", "finished", "error"])
        current = live_sync(school)
        if current is not None:
            raise AlreadySyncing(current)
        return SyncRun.objects.create(school=school, status=status, started=now, full=full, by=user,
                                      by_name=name[:200])


def _since(school: School, full: bool) -> datetime.datetime | None:
    """Where an incremental sync starts from (None: read everything)."""
    previous = None if full else last_good_sync(school)
    since = previous.started if previous is not None else None
    if since is not None and not _full_sync_since(school, timezone.now() - FULL_SYNC_EVERY):
        # Changes only are cheap, but what they miss (a contact changed without its student,
        # a deletion Wonde did not list) would stay missed: read everything again weekly.
        since = None
    return since


def sync(school: School, *, by: Any = None, full: bool = False, client: WondeClient | None = None) -> SyncRun:
    """Sync the school from Wonde now, in this process (the command and the daily job).
    Returns the finished SyncRun (ok True, or False with the error); never raises for Wonde's
    or the data's failures. `by` None: the daily job. A person must be allowed mis.manage
    (NotAllowed otherwise). AlreadySyncing if a sync of the school is requested or running."""
    if by is not None and not can(by, "mis.manage", school):
        raise NotAllowed("Only the headteacher or the business manager can sync the school from Wonde.")
    since = _since(school, full)
    run = _begin(school, by, status=SyncRun.Status.RUNNING, full=since is None)
    if since is not None:
        SyncRun.objects.filter(pk=run.pk).update(since=since)
        run.since = since
    return _run(school, run, by=by, since=since, client=client)


def request_sync(school: School, *, by: Any, full: bool = False) -> tuple[SyncRun, bool]:
    """Ask for a sync in the background ("Sync now"): a SyncRun that is "requested", for the task
    worker to take on (mis.tasks). Returns (run, True), or (the sync already requested or
    running, False): two presses at once start one sync. Call inside a transaction that hands
    the run to the worker when it commits (mis.tasks.request_sync does)."""
    if not can(by, "mis.manage", school):
        raise NotAllowed("Only the headteacher or the business manager can sync the school from Wonde.")
    try:
        run = _begin(school, by, status=SyncRun.Status.REQUESTED, full=full)
    except AlreadySyncing as busy:
        return busy.run, False
    record(actor=by, school=school, action=Action.MIS_SYNC_REQUESTED, obj=run,
           summary="Asked for a sync from Wonde" + (" (everything)" if full else ""), data={"full": full})
    return run, True


def run_requested(run_id: int, *, client: WondeClient | None = None) -> SyncRun | None:
    """The task worker's part: take on a requested sync and run it. None if it is not waiting
    any more (another worker took it, or it was closed as lost)."""
    claimed = SyncRun.objects.filter(pk=run_id, status=SyncRun.Status.REQUESTED).update(
        status=SyncRun.Status.RUNNING, started=timezone.now())
    if not claimed:
        return None
    run = SyncRun.objects.select_related("school", "by").get(pk=run_id)
    school = run.school
    by = StaffMember.objects.filter(user=run.by, school=school).first() if run.by_id else None
    since = _since(school, run.full)
    run.full, run.since = since is None, since
    run.save(update_fields=["full", "since"])
    if by is None or not can(by, "mis.manage", school):
        # Asked for by someone who has since left or lost the role: not run on their behalf.
        return _fail(school, run, by, "The person who asked for this sync may no longer sync the school "
                                      "from Wonde, so it was not run.")
    return _run(school, run, by=by, since=since, client=client)


def _fail(school: School, run: SyncRun, by: Any, error: str) -> SyncRun:
    run.status, run.ok, run.error, run.finished = SyncRun.Status.FINISHED, False, error, timezone.now()
    run.save(update_fields=["status", "ok", "error", "finished"])
    record(actor=by, school=school, action=Action.MIS_SYNC_FAILED, obj=run,
           summary="A sync from Wonde failed; nothing was changed",
           data={"error": run.error[:500], "full": run.full})
    return run


def _run(school: School, run: SyncRun, *, by: Any, since: datetime.datetime | None,
         client: WondeClient | None) -> SyncRun:
    try:
        conn = connection_for(school)
        if conn is None:
            raise SyncFailed("The school has no Wonde connection yet: enter its Wonde id and token first.")
        try:
            wonde = client if client is not None else client_for(conn)
        except crypto.SecretUnreadable as exc:
            raise SyncFailed(str(exc)) from None
        try:
            students = wonde.students(since)
            deletions = wonde.deleted_students(since) if since is not None else []
            marks = wonde.session_marks(since)
        except WondeError as exc:
            raise SyncFailed(str(exc)) from None
        counts = _apply(school, run, students, deletions, marks, by=by, complete=since is None)
    except SyncFailed as exc:
        return _fail(school, run, by, str(exc))
    except Exception:
        # Never left "running" by a fault of Doorstep's own: the page would wait for ever.
        _fail(school, run, by, "The sync stopped on an error in Doorstep; nothing was changed. "
                               "Try again, and tell whoever looks after Doorstep if it happens again.")
        raise
    run.status, run.ok, run.counts, run.finished = SyncRun.Status.FINISHED, True, counts, timezone.now()
    run.save(update_fields=["status", "ok", "counts", "finished"])
    return run


def _problem_list(lines: list[str], total: int) -> str:
    shown = "\n".join(lines[:MAX_PROBLEMS_SHOWN])
    more = total - min(len(lines), MAX_PROBLEMS_SHOWN)
    return shown + (f"\n…and {more} more" if more > 0 else "")


def _apply(school: School, run: SyncRun, students: list[dict[str, Any]], deletions: list[dict[str, Any]],
           marks: list[dict[str, Any]], *, by: Any, complete: bool) -> dict[str, int]:
    try:
        records = pupil_records(students)
        gone = deleted_ids(deletions)
        parsed = [session_mark(m, n) for n, m in enumerate(marks, start=1)]
    except MappingError as exc:
        raise SyncFailed(f"Wonde sent a record Doorstep cannot read ({exc}). Nothing was changed.") from None
    wonde_ids = {r.line: r.mis_id for r in records}
    try:
        with transaction.atomic():
            counts = apply(school, records, by=by, source="Wonde", complete=complete, left=gone)
            result = counts.as_dict()
            result["students"] = len(records)
            result["deletions"] = len(gone)
            result.update(_import_marks(school, records, parsed, by=by))
            record(actor=by, school=school, action=Action.MIS_SYNCED, obj=run,
                   summary=f"Synced from Wonde: {counts}; {result['marks_new']} new and "
                           f"{result['marks_changed']} changed attendance marks",
                   data={"full": run.full, **result})
    except RosterRefused as refused:
        lines = [f"student {p.line} (Wonde id {wonde_ids.get(p.line, '?')}): {p.column.replace('_', ' ')}: {p.why}"
                 for p in refused.problems]
        raise SyncFailed(f"Wonde's data for {len(refused.problems)} student record(s) could not be used, so "
                         f"nothing was changed:\n{_problem_list(lines, len(lines))}") from None
    except ImportFailed as failed:
        raise SyncFailed(f"{failed.total} attendance mark(s) from Wonde could not be imported, so nothing was "
                         f"changed:\n{_problem_list(failed.errors, failed.total)}") from None
    return result


_CSV_PROBLEM = re.compile(r"^line (\d+), column [^:]+: (.*)$", re.S)


def _mark_words(error: str, line_to_mark: dict[int, int]) -> str:
    """"line 3, column AttendanceMark: …" of the CSV made here -> "attendance mark 2: …"."""
    m = _CSV_PROBLEM.match(error)
    if m is None or int(m.group(1)) not in line_to_mark:
        return error
    return f"attendance mark {line_to_mark[int(m.group(1))]}: {m.group(2)}"


def _import_marks(school: School, records: list[Any], parsed: list[tuple[str, datetime.date, str, str]], *,
                  by: Any) -> dict[str, int]:
    """Marks go through the same all-or-nothing import as a CSV of marks (DfE codes checked;
    the daily referral scan reads them as it reads imported ones)."""
    if not parsed:
        return {"marks": 0, "marks_new": 0, "marks_changed": 0}
    upns = {r.mis_id: r.upn for r in records}
    wanted = {sid for sid, *_ in parsed if sid not in upns}
    if wanted:
        upns.update(Pupil.objects.filter(school=school, mis_id__in=wanted).values_list("mis_id", "upn"))
    out = io.StringIO()
    # Through the neutralising writer like every CSV Doorstep writes: no value here (a UPN, a
    # date, AM/PM, a DfE code other than "-", which is skipped below) begins with = + - @.
    writer = csvsafe.writer(out)
    writer.writerow([MARKS_MAPPING.pupil_column, MARKS_MAPPING.date_column, MARKS_MAPPING.session_column,
                     MARKS_MAPPING.mark_column])
    unknown: list[str] = []
    line_to_mark: dict[int, int] = {}  # the CSV's line -> the mark's place in Wonde's list
    for n, (sid, day, session, code) in enumerate(parsed, start=1):
        if code.strip() in NO_MARK:
            continue  # no mark taken yet: not a mark (as in a CSV)
        upn = upns.get(sid)
        if upn is None:
            unknown.append(f"attendance mark {n}: Wonde student {sid} is not a pupil of {school.name}")
            continue
        writer.writerow([upn, day.strftime("%d/%m/%Y"), session, code])
        line_to_mark[len(line_to_mark) + 2] = n
    if unknown:
        raise SyncFailed(f"{len(unknown)} attendance mark(s) from Wonde are for students Doorstep does not have, "
                         f"so nothing was changed:\n{_problem_list(unknown, len(unknown))}")
    if not line_to_mark:
        return {"marks": len(parsed), "marks_new": 0, "marks_changed": 0}
    try:
        run = import_marks(school, io.BytesIO(out.getvalue().encode()), MARKS_MAPPING, actor=by,
                           file_name="Wonde sync")
    except ImportFailed as failed:
        raise ImportFailed([_mark_words(e, line_to_mark) for e in failed.errors], failed.total) from None
    return {"marks": len(parsed), "marks_new": run.created, "marks_changed": run.updated}
