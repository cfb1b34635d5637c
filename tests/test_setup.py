"""The set-up an operator relies on: the demo school, set_policy, settings from the
environment, and `doorstep start` stopping everything it started."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from io import StringIO

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import TestCase

from attendance.models import CODES, attendance_summary
from audit.models import AuditEntry
from people.models import ROLES, StaffMember
from policies.models import SchoolPolicy
from pupils.models import Pupil
from pupils.upn import upn_problem
from doorstep.management.commands.load_demo import DEMO_PASSWORD, STAFF, TRUST_NAME
from policy_engine.schema import PRESET_DIR
from schools.models import School
from visits.models import Visit

EVERY_STATE = {"proposed", "approved", "declined", "scheduled", "withdrawn", "cancelled"}


def row_counts():
    return {m._meta.label: m._default_manager.count() for m in apps.get_models()}


class TestLoadDemo(TestCase):
    """The demo is loaded once for the class (it takes a few seconds); each test runs in a
    savepoint rolled back afterwards."""

    @classmethod
    def setUpTestData(cls):
        out = StringIO()
        call_command("load_demo", stdout=out)
        cls.output = out.getvalue()

    def test_a_second_run_changes_nothing_and_says_so(self):
        before = row_counts()
        out = StringIO()
        call_command("load_demo", stdout=out)
        assert row_counts() == before
        assert "already loaded" in out.getvalue()

    def test_reset_removes_the_demo_and_loads_it_again(self):
        before = row_counts()
        old_visits = set(Visit.objects.values_list("pk", flat=True))
        call_command("load_demo", reset=True, stdout=StringIO())
        assert row_counts() == before
        assert not old_visits & set(Visit.objects.values_list("pk", flat=True))

    def test_it_prints_every_sign_in_with_the_demo_password(self):
        assert DEMO_PASSWORD in self.output
        for people in STAFF.values():
            for person in people:
                assert person["username"] in self.output

    def test_demo_accounts_that_need_a_code_have_a_key_and_backup_codes_printed_that_work(self):
        import base64
        import re

        from django_otp.oath import TOTP

        lines = re.findall(r"^\s+(\S+)\s+key ([A-Z2-7]+)\s+backup codes: (.+)$", self.output, re.M)
        printed = {username: (key, codes) for username, key, codes in lines}
        assert set(printed) == {"head", "deputy", "dsl", "office", "potton.head", "potton.deputy", "potton.dsl",
                                "potton.office", "trust"}
        assert "otpauth://totp/Doorstep%3Ahead?secret=" in self.output
        # A backup code, as someone without an authenticator app would.
        backup = printed["office"][1].split()[0]
        self.client.post("/accounts/login/", {"username": "office", "password": DEMO_PASSWORD})
        assert self.client.get("/").status_code == 302  # the code comes first
        assert self.client.post("/accounts/two-factor/", {"code": backup})["Location"] == "/"
        assert self.client.get("/").status_code == 200
        # The key, as an authenticator app would.
        key = printed["head"][0]
        code = TOTP(base64.b32decode(key + "=" * (-len(key) % 8))).token()
        self.client.post("/accounts/login/", {"username": "head", "password": DEMO_PASSWORD})
        assert self.client.post("/accounts/two-factor/", {"code": f"{code:06d}"})["Location"] == "/"

    def test_every_demo_user_can_sign_in_with_the_demo_password(self):
        usernames = [p["username"] for people in STAFF.values() for p in people] + ["trust"]
        users = list(get_user_model().objects.filter(username__in=usernames))
        assert len(users) == len(usernames)
        # Argon2 is slow by design: check one password; the others share its hash.
        assert users[0].check_password(DEMO_PASSWORD)
        assert {u.password for u in users} == {users[0].password}
        assert self.client.login(username="potton.office", password=DEMO_PASSWORD)

    def test_each_school_has_staff_in_every_role(self):
        schools = School.objects.filter(trust__name=TRUST_NAME)
        assert schools.count() == 2
        for school in schools:
            roles = set(StaffMember.objects.filter(school=school).values_list("roles__role", flat=True))
            assert roles >= set(ROLES), f"{school} lacks {set(ROLES) - roles}"
            assert all(m.user_id for m in school.staff.all())

    def test_the_two_schools_run_on_different_policies(self):
        policies = {p.school.name: p for p in SchoolPolicy.objects.select_related("school")}
        assert policies["Coteford Junior School"].source_name == "coteford"
        assert policies["Potton Primary School"].source_name == "potton"
        for policy in policies.values():
            policy.load()  # the stored text is a valid policy

    def test_visits_exist_in_every_state_and_have_an_audit_trail(self):
        for school in School.objects.filter(trust__name=TRUST_NAME):
            states = set(Visit.objects.filter(school=school).values_list("state", flat=True))
            assert states >= EVERY_STATE, f"{school} lacks {EVERY_STATE - states}"
        for visit in Visit.objects.all():
            actions = set(AuditEntry.objects.filter(object_type="visits.visit", object_id=str(visit.pk))
                          .values_list("action", flat=True))
            assert "visit.proposed" in actions, visit
            if visit.state != "proposed":
                assert f"visit.{visit.state}" in actions, visit

    def test_every_upn_is_valid_and_each_school_has_about_thirty_pupils(self):
        for school in School.objects.all():
            assert 25 <= school.pupils.count() <= 40
        for pupil in Pupil.objects.all():
            assert upn_problem(pupil.upn) is None, pupil.upn
            pupil.full_clean()

    def test_staff_mobiles_are_valid_and_from_the_drama_range(self):
        for member in StaffMember.objects.all():
            member.full_clean()
            digits = member.mobile.replace(" ", "")
            assert digits.startswith("07700900"), member.mobile

    def test_attendance_has_pupils_below_ninety_and_below_seventy_percent(self):
        percents = []
        for pupil in Pupil.objects.prefetch_related("attendance_marks"):
            codes = [m.code for m in pupil.attendance_marks.all()]
            assert set(codes) <= set(CODES), set(codes) - set(CODES)
            percents.append(attendance_summary(codes)["percent"])
        assert sum(p < 90 for p in percents) >= 6
        assert sum(p < 70 for p in percents) >= 2
        assert sum(p >= 95 for p in percents) >= 20

    def test_the_register_has_the_problems_a_headteacher_should_see(self):
        from people.models import DbsCheck, Vehicle
        from risk.models import RiskAssessment

        assert DbsCheck.objects.filter(barred_list_checked=False).exists()
        assert Vehicle.objects.filter(insurance_expires_on__lt=demo_today()).exists()
        assert any(ra.is_stale for ra in RiskAssessment.objects.all())
        assert RiskAssessment.objects.filter(kind="lone_working").exists()


def demo_today():
    from django.utils import timezone

    return timezone.localdate()


@pytest.mark.django_db
class TestSetPolicy:
    @pytest.fixture
    def school(self):
        return School.objects.create(name="Brook Lane Primary")

    def test_it_rejects_a_bad_file_naming_the_file_and_key_and_changes_nothing(self, school, tmp_path):
        preset = str(PRESET_DIR / "potton.toml")
        bad = tmp_path / "brook-lane.toml"
        with open(preset, encoding="utf-8") as f:
            bad.write_text("wait_for_parent_fortnights = 3\n" + f.read(), encoding="utf-8")
        with pytest.raises(CommandError) as error:
            call_command("set_policy", str(bad), school="Brook Lane Primary")
        message = str(error.value)
        assert "brook-lane.toml" in message
        assert "wait_for_parent_fortnights" in message
        assert not SchoolPolicy.objects.exists()

    def test_it_rejects_a_file_that_is_not_toml(self, school, tmp_path):
        bad = tmp_path / "broken.toml"
        bad.write_text("this is = = not toml\n", encoding="utf-8")
        with pytest.raises(CommandError, match="broken.toml"):
            call_command("set_policy", str(bad), school="Brook Lane Primary")
        assert not SchoolPolicy.objects.exists()

    def test_it_stores_each_change_as_a_new_version(self, school):
        call_command("set_policy", "coteford", school="brook lane primary", stdout=StringIO())
        call_command("set_policy", "potton", school="Brook Lane Primary", stdout=StringIO())
        versions = list(school.policy_versions.order_by("version").values_list("version", "source_name"))
        assert versions == [(1, "coteford"), (2, "potton")]
        assert school.current_policy().source_name == "potton"

    def test_each_new_version_is_in_the_schools_audit_trail_saying_how_and_by_whom(self, school):
        import getpass

        from audit.models import AuditEntry

        call_command("set_policy", "potton", school="Brook Lane Primary", stdout=StringIO())
        entry = AuditEntry.objects.get(action="policy.adopted", school=school)
        assert entry.summary == "Policy version 1 adopted from potton (the command line)"
        assert entry.data["operator"] == getpass.getuser() and entry.actor is None
        # A refused file changes nothing and writes nothing.
        with pytest.raises(CommandError):
            call_command("set_policy", "no-such-preset", school="Brook Lane Primary")
        assert AuditEntry.objects.filter(action="policy.adopted").count() == 1

    def test_it_names_the_schools_when_the_school_is_unknown(self, school):
        with pytest.raises(CommandError, match="Brook Lane Primary"):
            call_command("set_policy", "coteford", school="Nowhere School")


def settings_in_a_fresh_process(**env):
    code = "import json; from doorstep import settings as s; print(json.dumps(s.DATABASES['default'], default=str))"
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DOORSTEP_DB"} and not k.startswith("PG")}
    result = subprocess.run([sys.executable, "-c", code], env={**clean, "DEBUG": "1", **env},
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


class TestSettings:
    def test_database_url_chooses_the_database(self):
        db = settings_in_a_fresh_process(DATABASE_URL="postgres://ann:secret@db.example:6543/visits")
        assert db["ENGINE"] == "django.db.backends.postgresql"
        assert (db["NAME"], db["USER"], db["PASSWORD"], db["HOST"], db["PORT"]) == (
            "visits", "ann", "secret", "db.example", 6543)

    def test_postgres_can_come_from_the_pg_variables(self):
        db = settings_in_a_fresh_process(DOORSTEP_DB="postgres", PGHOST="localhost", PGPORT="5433",
                                         PGUSER="postgres", PGPASSWORD="pw", PGDATABASE="postgres")
        assert db["ENGINE"] == "django.db.backends.postgresql"
        assert (db["HOST"], str(db["PORT"]), db["USER"], db["NAME"]) == ("localhost", "5433", "postgres", "postgres")

    def test_without_configuration_it_uses_sqlite_in_the_var_directory(self, tmp_path):
        db = settings_in_a_fresh_process(DOORSTEP_VAR_DIR=str(tmp_path))
        assert db["ENGINE"] == "django.db.backends.sqlite3"
        assert db["NAME"] == str(tmp_path / "doorstep.sqlite3")

    @pytest.mark.django_db
    def test_the_suite_runs_on_the_database_it_was_asked_for(self):
        expected = os.environ.get("DOORSTEP_EXPECT_DB")
        if not expected:
            pytest.skip("DOORSTEP_EXPECT_DB is set by `make test`")
        assert connection.vendor == expected


class TestStart:
    """`doorstep start` with its real children swapped for small stand-ins."""

    def command(self, *argvs):
        from doorstep.management.commands.start import Child, Command

        command = Command(stdout=StringIO(), stderr=StringIO())
        command.stop_timeout = 5
        command.children = lambda options: [Child(f"child{i}", argv) for i, argv in enumerate(argvs)]
        return command

    def test_when_one_child_keeps_dying_it_stops_the_others_and_fails(self):
        sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
        crasher = [sys.executable, "-c", "import time; time.sleep(0.3); raise SystemExit(3)"]
        command = self.command(sleeper, crasher)
        command.backoff_first, command.give_up_exits = 0.1, 3  # tests/test_supervision.py: the restarts
        started = time.monotonic()
        with pytest.raises(SystemExit) as exit_:
            command.handle(bind="127.0.0.1:0", workers=1)
        assert exit_.value.code == 1
        assert time.monotonic() - started < 10
        assert "GIVING UP: child1 exited with code 3" in command.stderr.getvalue()

    def test_sigterm_stops_every_child_cleanly(self):
        sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
        command = self.command(sleeper, sleeper)
        original = signal.getsignal(signal.SIGTERM)

        def send_sigterm_once_handled():
            deadline = time.monotonic() + 10
            while signal.getsignal(signal.SIGTERM) is original and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.3)
            if signal.getsignal(signal.SIGTERM) is not original:
                os.kill(os.getpid(), signal.SIGTERM)

        threading.Thread(target=send_sigterm_once_handled, daemon=True).start()
        command.handle(bind="127.0.0.1:0", workers=1)
        assert "stopped cleanly" in command.stdout.getvalue()
        assert signal.getsignal(signal.SIGTERM) is original


class TestDailyJobs(TestCase):
    def test_the_next_daily_run_is_later_today_or_tomorrow(self):
        import datetime

        from doorstep.management.commands.daily import next_run

        at = datetime.time(6, 30)
        morning = datetime.datetime(2026, 11, 23, 6, 0)
        assert next_run(morning, at) == datetime.datetime(2026, 11, 23, 6, 30)
        assert next_run(datetime.datetime(2026, 11, 23, 6, 30), at) == datetime.datetime(2026, 11, 24, 6, 30)
        assert next_run(datetime.datetime(2026, 11, 23, 23, 59), at) == datetime.datetime(2026, 11, 24, 6, 30)

    def test_daily_runs_the_referral_scan_and_the_agreement_review(self):
        out = StringIO()
        call_command("daily", stdout=out, stderr=out)
        text = out.getvalue()
        assert "Agreements reviewed" in text
        assert "Done in" in text  # the referral scan's closing line
        assert "failed" not in text

    def test_start_runs_the_daily_jobs_beside_the_web_server_and_the_watchdog(self):
        from doorstep.management.commands.start import Command

        names = [c.name for c in Command().children({"bind": "127.0.0.1:0", "workers": 1})]
        assert {"web", "watchdog", "deliver-email", "deliver-sms", "daily"} <= set(names)
