"""Page-speed bench: the server time of every page and every PDF with the demo data loaded
(`doorstep load_demo`: two schools, their staff, pupils, a term of attendance, visits in every
state, alerts, reports, letters), on a fresh SQLite file or in PostgreSQL.

    .venv/bin/python bench/pages_bench.py                                      # SQLite, a fresh temporary file
    pg_virtualenv -v 15 env DOORSTEP_DB=postgres .venv/bin/python bench/pages_bench.py
    .venv/bin/python bench/pages_bench.py --runs 3                             # a quick run
    .venv/bin/python bench/pages_bench.py --only .pdf --profile                # the PDFs, each with a profile

Each page is asked for through Django's test client, in this process, signed in as the first demo
person (at Coteford) who may open it: the time is Django's own, from the request to the last byte
of the answer, with no network and no browser. One untimed request warms each page (templates,
fonts), then `--runs` timed ones, interleaved page by page with the floor: the sign-in page, which
reads nothing from the database, so a noisy machine shows in the floor too. The machine's load
average is printed with the table.

Prints a Markdown table for docs/benchmarks.md; exits 1 when a page's median is 300 ms or more or
a PDF's 500 ms or more (issue 15's targets).
"""
import argparse
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import time
from io import StringIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE_LIMIT_MS = 300
PDF_LIMIT_MS = 500
# The demo's people at Coteford, in the order they are tried for each page: the first who may open it.
PEOPLE = ["head", "dsl", "office", "sbm", "attendance", "teacher", "family", "deputy", "trust"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="timed requests per page (the median is reported)")
    parser.add_argument("--only", default="", help="time only the addresses containing this text (e.g. .pdf, /audit/)")
    parser.add_argument("--profile", action="store_true",
                        help="after timing each address, profile one more request (cProfile, to stderr)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="doorstep-pages-bench-") as tmp:
        if os.environ.get("DOORSTEP_DB") != "postgres" and not os.environ.get("DATABASE_URL"):
            os.environ["DOORSTEP_VAR_DIR"] = tmp  # a fresh SQLite file, never the project's own
        # As `make run` serves: no debug toolbar of queries kept, static files by WhiteNoise.
        os.environ.update(DEBUG="0", DOORSTEP_HTTPS="0", ALLOWED_HOSTS="testserver")
        run(args)


def timed(client, path: str) -> tuple[float, int, float]:
    """(wall ms, status, CPU ms): the CPU this process spent on the request, which a busy machine
    inflates far less than the wall time (waiting for a core is not counted)."""
    started, cpu = time.perf_counter(), time.process_time()
    response = client.get(path)
    b"".join(response.streaming_content) if response.streaming else response.content
    return (time.perf_counter() - started) * 1000, response.status_code, (time.process_time() - cpu) * 1000


def run(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "doorstep.settings")
    os.environ.setdefault("DOORSTEP_ALLOW_INSECURE_KEY", "1")
    import django

    django.setup()
    from django.conf import settings

    # Static files as found, not from collectstatic's manifest: the bench times Django, not WhiteNoise.
    settings.STORAGES = {**settings.STORAGES,
                         "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    import logging

    from django.test import Client
    from django.urls import reverse
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from schools.models import School
    from tests.page_list import addresses

    logging.getLogger("django.request").setLevel(logging.CRITICAL)  # the refusals met finding who may open a page
    engine = "PostgreSQL" if connection.vendor == "postgresql" else "SQLite"
    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    call_command("load_demo", stdout=StringIO())
    print(f"demo loaded in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    school = School.objects.get(name="Coteford Junior School")
    # As a web process starts (doorstep.wsgi): WeasyPrint loaded, and what is loaded so far frozen
    # out of the garbage collector's full collections. Imported only now, so that the demo's
    # loading is frozen with it rather than walked by every full collection of the timed requests.
    from doorstep.wsgi import settle

    settle()

    clients = {}
    for username in PEOPLE:
        user = get_user_model().objects.get(username=username)
        client = Client()
        client.force_login(user)
        # Signed in as if the second-step code had been typed (accounts.second_factor).
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        if device is not None:
            session = client.session
            session[DEVICE_ID_SESSION_KEY] = device.persistent_id
            session.save()
        clients[username] = client

    floor_client = Client()
    floor_path = reverse("login")
    rows, failed = [], False
    floors: list[float] = []
    pages, _ = addresses(school)
    # The visit list's longest view (every state), which issue 15 found slow.
    pages.append(reverse("visits:index") + "?state=all")
    pdfs, _ = addresses(school, pdfs=True)
    for kind, paths, limit in (("page", pages, PAGE_LIMIT_MS), ("PDF", pdfs, PDF_LIMIT_MS)):
        for path in (p for p in paths if args.only in p):
            who = next((u for u in PEOPLE if timed(clients[u], path)[1] == 200), None)  # also the warm-up
            if who is None:
                continue  # nobody at the school may open it (or it only redirects): nothing to time
            times, cpu = [], []
            for _ in range(args.runs):
                wall, _, used = timed(clients[who], path)
                times.append(wall)
                cpu.append(used)
                floors.append(timed(floor_client, floor_path)[0])
            median = statistics.median(times)
            ok = median < limit
            failed |= not ok
            rows.append((median, f"| {engine} | {kind} | `{_pattern(path)}` | {who} | {median:.0f} | {max(times):.0f} | "
                                 f"{statistics.median(cpu):.0f} | "
                                 f"< {limit} {'✓' if ok else '✗ TOO SLOW'} |"))
            print(rows[-1][1], file=sys.stderr)
            if args.profile:
                _profile(clients[who], path)
    load = os.getloadavg()
    print(f"\n{engine}: {len(rows)} pages and PDFs, {args.runs} timed requests each; floor (the sign-in page, "
          f"interleaved): median {statistics.median(floors):.0f} ms, max {max(floors):.0f} ms; "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores\n")
    print("| database | what | address | as | median ms | max ms | CPU ms (median) | target ms |")
    print("|---|---|---|---|---:|---:|---:|---|")
    print("\n".join(line for _, line in sorted(rows, reverse=True)))
    if failed:
        raise SystemExit(1)


def _profile(client, path: str) -> None:
    profiler = cProfile.Profile()
    profiler.runcall(timed, client, path)
    out = StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
    print(out.getvalue(), file=sys.stderr)


def _pattern(path: str) -> str:
    """/visits/12/ as /visits/N/: the table compares across databases, whose ids differ."""
    return "/".join("N" if part.isdigit() else part for part in path.split("/"))


if __name__ == "__main__":
    main()
