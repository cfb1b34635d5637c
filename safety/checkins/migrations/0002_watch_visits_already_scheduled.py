"""Visits scheduled before Doorstep watched a visit from its scheduling had no Watch row, so
one that nobody started would never be alerted. This gives each of them the watch that
safety.watch.watch_scheduled() gives a visit scheduled now: the deadline
policy_engine.timing.next_deadline() sets for a visit with no events, under the policy version
the visit was approved under. Running it again finds nothing to do."""
import datetime

from django.db import migrations
from django.utils import timezone

from policy_engine.schema import Policy
from policy_engine.timing import next_deadline


def _policy(apps, visit):
    SchoolPolicy = apps.get_model("policies", "SchoolPolicy")
    version = (SchoolPolicy.objects.filter(pk=visit.policy_version_id).first() if visit.policy_version_id
               else SchoolPolicy.objects.filter(school_id=visit.school_id).order_by("-version").first())
    if version is None:
        return None
    return Policy.from_toml(version.toml_text, source=f"{version.source_name} (v{version.version})")


def watch_scheduled_visits(apps, schema_editor):
    Visit = apps.get_model("visits", "Visit")
    VisitStaff = apps.get_model("visits", "VisitStaff")
    Watch = apps.get_model("checkins", "Watch")
    WatchStaff = apps.get_model("checkins", "WatchStaff")
    now = timezone.now()
    for visit in Visit.objects.filter(state="scheduled", watch__isnull=True):
        staff = list(VisitStaff.objects.filter(visit_id=visit.pk).order_by("-lead", "id")
                     .values_list("staff_id", flat=True))
        policy = _policy(apps, visit)
        deadline = next_deadline(policy, visit.starts_at, visit.ends_at, [], tuple(str(pk) for pk in staff)) \
            if policy is not None else None
        if deadline is None:
            # No policy to read (never expected for a scheduled visit): watch the start itself,
            # with Doorstep's default grace, rather than leave the visit unwatched.
            due, alert, kind, what, clause, reminder = (visit.starts_at, visit.starts_at + datetime.timedelta(minutes=5),
                                                        "check_in_due", "start of the visit", "default", None)
        else:
            due, alert, kind, what, clause, reminder = (deadline.due_at, deadline.alert_at, deadline.kind,
                                                        deadline.what, deadline.clause, deadline.reminder_at)
        watch = Watch.objects.create(
            visit_id=visit.pk, school_id=visit.school_id, status="ok", next_kind=kind, what=what[:100], due_at=due,
            alert_at=alert, reminder_at=reminder, clause=clause[:60], started_at=now, updated_at=now,
        )
        WatchStaff.objects.bulk_create([WatchStaff(watch_id=watch.pk, staff_id=pk) for pk in staff])


class Migration(migrations.Migration):

    dependencies = [
        ("checkins", "0001_initial"),
        ("policies", "0001_initial"),
        ("visits", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(watch_scheduled_visits, migrations.RunPython.noop),
    ]
