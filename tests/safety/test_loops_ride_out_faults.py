"""`doorstep daily --loop` rides out a database that is locked or away: the failing job is
reported and tried again, and the loop is still there, and working, once the database is
back. The loop tests run the real command in its own process against a database the test
holds hostage, as a long write or a database restart would; a single run (from cron) that
fails says so with its exit code."""
import datetime
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path
from urllib.parse import quote

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import OperationalError, connection
from django.utils import timezone

from attendance.models import AttendanceMark, ReferralCase

from tests.factories import PupilFactory, SchoolFactory

ROOT = Path(__file__).resolve().parents[2]


def real_today() -> datetime.date:
    """The day the command's process lives in: the machine's clock, which a test clock
    (DOORSTEP_TEST_CLOCK, time_machine) does not move."""
    hatch = time_machine.escape_hatch
    seconds = hatch.time.time() if hatch.is_travelling() else time.time()
    now = datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)
    return timezone.localtime(now).date()


def a_pupil_far_below_the_referral_threshold() -> None:
    """A Coteford pupil (referral below 90 %, C 4.4) absent for the last 20 school days:
    the daily referral scan opens a case for them."""
    pupil = PupilFactory(school=SchoolFactory(policy="coteford"))
    day, marks = real_today() - datetime.timedelta(days=1), []
    while len(marks) < 40:
        if day.weekday() < 5:
            marks += [AttendanceMark(pupil=pupil, date=day, session=s, code="N") for s in ("AM", "PM")]
        day -= datetime.timedelta(days=1)
    AttendanceMark.objects.bulk_create(marks)


def daily_loop(env: dict[str, str], log: Path, retry_after: float = 1) -> subprocess.Popen:
    clean = {k: v for k, v in os.environ.items()
             if k not in {"DATABASE_URL", "DOORSTEP_DB", "DJANGO_SETTINGS_MODULE"} and not k.startswith("PG")}
    return subprocess.Popen([sys.executable, "-m", "doorstep.cli", "daily", "--loop", "--retry-after", str(retry_after)],
                            cwd=ROOT, env={**clean, "PYTHONUNBUFFERED": "1", **env},
                            stdout=log.open("w"), stderr=subprocess.STDOUT)


def wait_for(condition, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen in {timeout} s. The loop said:\n{log.read_text()}")
        time.sleep(0.1)


def stop(loop: subprocess.Popen, log: Path) -> str:
    assert loop.poll() is None, f"the loop exited:\n{log.read_text()}"
    loop.send_signal(signal.SIGTERM)
    assert loop.wait(timeout=10) == 0
    return log.read_text()


@pytest.mark.django_db(transaction=True)
def test_the_daily_loop_outlasts_a_locked_sqlite_database_and_runs_the_scan_once_it_is_free(tmp_path):
    if connection.vendor != "sqlite":
        pytest.skip("an SQLite lock; the PostgreSQL pass cuts the connection instead")
    a_pupil_far_below_the_referral_threshold()
    database = tmp_path / "doorstep.sqlite3"
    with sqlite3.connect(database) as copy:
        connection.connection.backup(copy)  # the test database, as a file the loop can open
    hostage = sqlite3.connect(database, isolation_level=None)
    hostage.execute("PRAGMA journal_mode=WAL")  # as Doorstep runs it
    # The production busy timeout is 20 s; 1 s here, so that the lock outlasts it in seconds.
    (tmp_path / "short_wait_settings.py").write_text(
        "from doorstep.settings import *  # noqa: F403\n"
        "DATABASES['default']['OPTIONS']['timeout'] = 1  # noqa: F405\n")
    log = tmp_path / "daily.log"

    hostage.execute("BEGIN EXCLUSIVE")  # a long write elsewhere holds the database
    loop = daily_loop({"DOORSTEP_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "short_wait_settings",
                       "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}, log)
    try:
        wait_for(lambda: log.read_text().count("referral_scan failed") >= 2, 15, "two failed scans", log)
        hostage.execute("COMMIT")

        def case_opened() -> bool:
            return hostage.execute("SELECT count(*) FROM attendance_referralcase").fetchone()[0] == 1

        wait_for(case_opened, 10, "a referral case", log)
        said = stop(loop, log)
    finally:
        if loop.poll() is None:
            loop.kill()
        hostage.close()
    assert "database is locked" in said and "trying again at" in said
    assert "1 new case(s)" in said and "daily: next run" in said and "daily: stopped" in said


@pytest.mark.django_db(transaction=True)
def test_the_daily_loop_replaces_connections_the_database_dropped_and_runs_the_scan(tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL: the SQLite pass holds a lock instead")
    a_pupil_far_below_the_referral_threshold()
    db = connection.settings_dict
    # DATABASE_URL, as a trust's installation is configured: connections are kept for 60 s
    # between jobs, so the loop must notice one that died while it was idle.
    login = f"{quote(db['USER'] or '', safe='')}:{quote(db['PASSWORD'] or '', safe='')}@"
    address = f"{quote(db['HOST'] or 'localhost', safe='')}:{db['PORT'] or 5432}"
    env = {"DATABASE_URL": f"postgres://{login}{address}/{quote(db['NAME'], safe='')}", "PGAPPNAME": "daily-under-test"}
    log = tmp_path / "daily.log"

    def loop_backends(waiting: bool = False) -> list[int]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE application_name = 'daily-under-test' "
                           "AND datname = current_database()" + (" AND wait_event_type = 'Lock'" if waiting else ""))
            return [pid for (pid,) in cursor.fetchall()]

    def cut(pids: list[int]) -> None:  # what a database restart does to a connection
        with connection.cursor() as cursor:
            for pid in pids:
                cursor.execute("SELECT pg_terminate_backend(%s)", [pid])

    # The scan locks the school's row first: hold it, so the loop's connection is caught mid-job.
    hostage = connection.get_new_connection(connection.get_connection_params())
    hostage.autocommit = False
    hostage.execute("SELECT 1 FROM schools_school FOR UPDATE")
    loop = daily_loop(env, log, retry_after=3)
    try:
        wait_for(lambda: loop_backends(waiting=True), 15, "the scan waiting for the school", log)
        cut(loop_backends())  # the database goes away in the middle of the scan ...
        hostage.rollback()
        wait_for(lambda: "trying again at" in log.read_text(), 10, "a retry", log)
        cut(loop_backends())  # ... and again while the loop waits to retry, its connection idle
        wait_for(lambda: ReferralCase.objects.count() == 1, 10, "a referral case", log)
        said = stop(loop, log)
    finally:
        if loop.poll() is None:
            loop.kill()
        hostage.close()
    assert "terminating connection" in said
    # The retry and the next job each started on a working connection: only the job the
    # database went away under failed.
    # (Counted as the loop's own lines: the database's error text may quote a statement whose
    # columns say "failed", depending on which one the connection was cut under.)
    failures = re.findall(r"^daily: (\w+) failed:", said, flags=re.MULTILINE)
    assert failures == ["referral_scan"], said
    assert "1 new case(s)" in said and "daily: stopped" in said


@pytest.mark.django_db
def test_a_single_daily_run_whose_scan_hits_a_locked_database_still_reviews_agreements_and_exits_non_zero(monkeypatch):
    def locked(*args, **kwargs):
        raise OperationalError("database is locked")

    monkeypatch.setattr("attendance.management.commands.referral_scan.referral_scan", locked)
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match="referral_scan failed"):
        call_command("daily", stdout=out, stderr=err)
    assert "Agreements reviewed" in out.getvalue()  # the other job was not stopped by it
    assert "daily: referral_scan failed: OperationalError('database is locked')" in err.getvalue()
