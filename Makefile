# Doorstep: two set-up commands.
#
#   make run    build the environment, load the demo school and start Doorstep on
#               http://127.0.0.1:8000 (SQLite in var/; run it again and it reuses what exists)
#   make test   install what the tests need, then run the whole suite on SQLite and on PostgreSQL
#
# Variables you may set:
#   HOST, PORT                   where `make run` serves (127.0.0.1 and 8000), e.g. make run PORT=8201;
#                                links in texts and emails follow (DOORSTEP_BASE_URL=http://HOST:PORT)
#   DOORSTEP_TEST_DATABASE_URL   run the PostgreSQL pass against this server instead of a
#                                throwaway pg_virtualenv cluster
#   DOORSTEP_REQUIRE_POSTGRES=1  a PostgreSQL pass that cannot happen is a failure, not a skip
#   PYTEST_ARGS                  extra pytest arguments, e.g. PYTEST_ARGS="-k policy -x"
#   TEST_JOBS                    test processes (default: one per core, at most 4; 1 = no xdist workers)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON     ?= python3
VENV       := $(CURDIR)/.venv
PY         := $(VENV)/bin/python
DOORSTEP   := $(VENV)/bin/doorstep
STAMP_BASE := $(VENV)/.installed
STAMP_DEV  := $(VENV)/.installed-dev
PIP        := $(PY) -m pip install --disable-pip-version-check --quiet

HOST       ?= 127.0.0.1
PORT       ?= 8000
# Links in texts and emails point here: the address `make run` serves, unless set.
DOORSTEP_BASE_URL ?= http://$(HOST):$(PORT)
PG_VERSION ?= $(or $(shell ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -n 1),15)
PYTEST_ARGS ?=
# Test processes: one per core, at most 4 (each test file stays in one process, so its
# fixtures and its browser are not split up).
TEST_JOBS  ?= $(shell n=$$(nproc 2>/dev/null || echo 1); [ $$n -gt 4 ] && n=4; echo $$n)

# What the tests need from Debian: Chromium for the browser tests, poppler for looking at
# PDFs, the WeasyPrint libraries, a font, and PostgreSQL for the second pass.
APT_PACKAGES := chromium poppler-utils libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core

# `make run` always uses the embedded SQLite database in var/ with production-like settings:
# DEBUG off, static files collected and served by WhiteNoise.
RUN_ENV := env -u DATABASE_URL -u DOORSTEP_DB DEBUG=0 DOORSTEP_HTTPS=0 \
	ALLOWED_HOSTS=127.0.0.1,localhost DJANGO_SETTINGS_MODULE=doorstep.settings DOORSTEP_BASE_URL=$(DOORSTEP_BASE_URL)

.PHONY: help run test check test-sqlite test-clocks test-postgres test-postgres-runs deps bench bench-attendance bench-safety bench-watchdog bench-board bench-board-size bench-wonde bench-pupils bench-pages bench-checkins clean-venv chaos

help:
	@echo "make run    start Doorstep with a demo school on http://$(HOST):$(PORT)"
	@echo "make test   run the whole test suite on SQLite, then on PostgreSQL"

# --- environment -------------------------------------------------------------------------
# Reinstall only when pyproject.toml is newer than the stamp. The dev install also
# satisfies `make run`, so it refreshes both stamps.

$(PY):
	@echo "==> Creating the virtual environment in $(VENV)"
	$(PYTHON) -m venv $(VENV)

$(STAMP_BASE): pyproject.toml | $(PY)
	@echo "==> Installing Doorstep into $(VENV) (about 30 s the first time)"
	@start=$$SECONDS; $(PIP) -e . 2>&1 | { grep -v "is ignored" || true; }; \
	  echo "    installed in $$((SECONDS - start)) s"
	@touch $@

$(STAMP_DEV): pyproject.toml | $(PY)
	@echo "==> Installing Doorstep and its test tools into $(VENV) (about 30 s the first time)"
	@start=$$SECONDS; $(PIP) -e '.[dev]' 2>&1 | { grep -v "is ignored" || true; }; \
	  echo "    installed in $$((SECONDS - start)) s"
	@touch $(STAMP_BASE) $@

clean-venv:
	rm -rf $(VENV)

# --- make run ----------------------------------------------------------------------------

run: $(STAMP_BASE)
	@mkdir -p var
	@echo "==> Migrating the SQLite database (var/doorstep.sqlite3)"
	@$(RUN_ENV) $(DOORSTEP) migrate --noinput -v 0
	@echo "==> Loading the demo school"
	@$(RUN_ENV) $(DOORSTEP) load_demo
	@# Collecting and compressing takes ~10 s: only when a static file or the install changed.
	@manifest=staticfiles/staticfiles.json; \
	if [ ! -f $$manifest ] || [ $(STAMP_BASE) -nt $$manifest ] || \
	   [ -n "$$(find . \( -path ./.venv -o -path ./staticfiles -o -path ./.git \) -prune -o \
	            -path '*/static/*' -type f -newer $$manifest -print -quit)" ]; then \
	  echo "==> Collecting static files"; \
	  $(RUN_ENV) $(DOORSTEP) collectstatic --noinput -v 0; \
	else echo "==> Static files are up to date"; fi
	@echo
	@echo "==> Starting Doorstep on http://$(HOST):$(PORT)/  (Ctrl-C stops it)"
	@$(RUN_ENV) $(DOORSTEP) start --bind $(HOST):$(PORT)

# --- make test ---------------------------------------------------------------------------

# Debian packages: checked with dpkg/command -v first, so that an installed machine needs
# no network and no apt-get at all; `apt-get update` runs once, only when something is missing.
deps:
	@missing=""; \
	for p in $(APT_PACKAGES); do dpkg -s "$$p" >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$${DOORSTEP_TEST_DATABASE_URL:-}" ] && ! command -v pg_virtualenv >/dev/null 2>&1; then \
	  missing="$$missing postgresql postgresql-common"; fi; \
	if [ -z "$$missing" ]; then echo "==> System packages: all present"; exit 0; fi; \
	if ! command -v apt-get >/dev/null 2>&1 || [ "$$(id -u)" != 0 ]; then \
	  echo "==> Missing system packages:$$missing"; \
	  echo "    (not Debian or not root: install them yourself; carrying on)"; exit 0; fi; \
	echo "==> Installing system packages:$$missing"; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get update -qq; \
	apt-get install -y -qq --no-install-recommends $$missing </dev/null

# Both passes always run, so one report shows both databases; either failing fails make.
test: deps $(STAMP_DEV)
	@failed=""; \
	$(MAKE) --no-print-directory check || failed="$$failed checks"; \
	$(MAKE) --no-print-directory test-sqlite || failed="$$failed SQLite"; \
	$(MAKE) --no-print-directory test-postgres || failed="$$failed PostgreSQL"; \
	echo; \
	if [ -n "$$failed" ]; then echo "==> make test FAILED on:$$failed"; exit 1; fi; \
	echo "==> make test passed (SQLite today, then PostgreSQL a summer day ahead, unless SKIPPED above)"

# The architecture contract and the code checks, before any test (docs/architecture.md):
# no import cycle between apps, the layers in order (import-linter), ruff, and mypy with
# django-stubs (strict for the modules in the ratchet). All run; any failing fails make.
check: $(STAMP_DEV)
	@echo; echo "==> Checks: app graph, layers, ruff, mypy"
	@start=$$SECONDS; failed=""; \
	$(PY) tools/app_graph.py >/tmp/doorstep-app-graph.$$$$ 2>&1 || { cat /tmp/doorstep-app-graph.$$$$; failed="$$failed app-graph"; }; \
	rm -f /tmp/doorstep-app-graph.$$$$; \
	$(VENV)/bin/lint-imports --no-cache || failed="$$failed import-linter"; \
	$(VENV)/bin/ruff check --quiet . || failed="$$failed ruff"; \
	env -u DATABASE_URL $(VENV)/bin/mypy || failed="$$failed mypy"; \
	$(PY) tools/typing_ratchet.py || failed="$$failed typing-ratchet"; \
	if [ -n "$$failed" ]; then echo "==> Checks FAILED:$$failed ($$((SECONDS - start)) s)"; exit 1; fi; \
	echo "==> Checks passed in $$((SECONDS - start)) s"

# Exit code 5 (no tests collected) is a failure like any other non-zero code.
run_pytest = rc=0; $(1) $(PY) -m pytest -q -ra --durations=15 -n $(TEST_JOBS) --dist loadfile $(2) $(PYTEST_ARGS) </dev/null || rc=$$?; if [ $$rc -eq 5 ]; then echo "FAILED: pytest collected no tests"; fi; exit $$rc

test-sqlite: $(STAMP_DEV)
	@echo; echo "==> Tests on SQLite"
	@start=$$SECONDS; \
	( $(call run_pytest,env -u DATABASE_URL DOORSTEP_DB=sqlite DOORSTEP_EXPECT_DB=sqlite) ) \
	  || { rc=$$?; echo "==> SQLite run FAILED (exit $$rc) after $$((SECONDS - start)) s"; exit $$rc; }; \
	echo "==> SQLite run passed in $$((SECONDS - start)) s"

# Calendar time bombs: a day in the summer holiday at least a year from now (the first
# Wednesday of August, 10:30 UK summer time), so a test that passes only this term, only in
# winter time or only until some date fails the day it is written. `make test` runs the
# PostgreSQL pass under it (below), so every test meets both databases and both dates without a
# third pass; `make test-clocks` runs the SQLite suite under it too.
AHEAD_SUMMER_DAY = $(shell y=$$(( $$(date -u +%Y) + 1 )); [ "$$(date -u +%m%d)" -gt 0801 ] && y=$$((y + 1)); \
	wed=$$(( 1 + (10 - $$(date -u -d "$$y-08-01" +%u)) % 7 )); printf '%s-08-%02d 09:30' $$y $$wed)
test-clocks: $(STAMP_DEV)
	@when="$(AHEAD_SUMMER_DAY)"; \
	echo; echo "==> Tests on SQLite as if it were $$when UTC (a summer-holiday day a year or more ahead; no browser tests)"; \
	start=$$SECONDS; \
	( $(call run_pytest,env -u DATABASE_URL DOORSTEP_DB=sqlite DOORSTEP_EXPECT_DB=sqlite DOORSTEP_TEST_CLOCK="$$when",-m "not browser") ) \
	  || { rc=$$?; echo "==> Run as if it were $$when FAILED (exit $$rc) after $$((SECONDS - start)) s"; exit $$rc; }; \
	echo "==> Run as if it were $$when passed in $$((SECONDS - start)) s"

# PostgreSQL, in two runs against one database: the suite less the browser tests, as if it were
# the summer day above (the browser keeps the real clock, so its tests cannot move), then, today,
# the browser tests marked both_databases: the safety loop on the phone and the board (whose live
# updates use PostgreSQL's LISTEN/NOTIFY) and a school's first afternoon. The other browser tests
# draw the same pages, which the page and view tests load on PostgreSQL too: they run once, on
# SQLite. Even so `make test` takes about 13 minutes on two cores with the install done (SQLite about
# 8½, PostgreSQL about 5).
test-postgres-runs:
	@when="$(AHEAD_SUMMER_DAY)"; rc=0; \
	echo "--> on PostgreSQL as if it were $$when UTC (a summer-holiday day a year or more ahead; no browser tests)"; \
	( $(call run_pytest,env DOORSTEP_TEST_CLOCK="$$when",-m "not browser") ) || rc=$$?; \
	echo "--> on PostgreSQL today: the browser tests marked both_databases"; \
	( $(call run_pytest,env,-m "browser and both_databases") ) || rc=$$?; \
	exit $$rc

# PostgreSQL: DOORSTEP_TEST_DATABASE_URL when set, otherwise a throwaway cluster made by
# pg_virtualenv (it exports PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE, which settings read
# when DOORSTEP_DB=postgres). A marker file tells "the cluster never came up" apart from
# "the tests failed": only the first may be skipped, and not with DOORSTEP_REQUIRE_POSTGRES=1.
test-postgres: $(STAMP_DEV)
	@echo; echo "==> Tests on PostgreSQL"
	@start=$$SECONDS; \
	skip() { \
	  if [ "$${DOORSTEP_REQUIRE_POSTGRES:-0}" = 1 ]; then \
	    echo "==> FAILED: PostgreSQL run impossible ($$1) and DOORSTEP_REQUIRE_POSTGRES=1"; exit 1; fi; \
	  echo; echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"; \
	  echo "!!! SKIPPED: the PostgreSQL test run did not happen: $$1"; \
	  echo "!!! Set DOORSTEP_TEST_DATABASE_URL, or install postgresql (pg_virtualenv)."; \
	  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"; echo; exit 0; }; \
	if [ -n "$${DOORSTEP_TEST_DATABASE_URL:-}" ]; then \
	  echo "    on DOORSTEP_TEST_DATABASE_URL"; \
	  ( DATABASE_URL="$$DOORSTEP_TEST_DATABASE_URL" DOORSTEP_EXPECT_DB=postgresql $(MAKE) --no-print-directory test-postgres-runs ) \
	    || { rc=$$?; echo "==> PostgreSQL run FAILED (exit $$rc) after $$((SECONDS - start)) s"; exit $$rc; }; \
	else \
	  command -v pg_virtualenv >/dev/null 2>&1 || skip "pg_virtualenv is not installed"; \
	  marker=$$(mktemp); rm -f "$$marker"; \
	  echo "    in a throwaway PostgreSQL $(PG_VERSION) cluster (pg_virtualenv)"; \
	  rc=0; pg_virtualenv -t -v $(PG_VERSION) bash -c 'touch "$$0"; env -u DATABASE_URL DOORSTEP_DB=postgres DOORSTEP_EXPECT_DB=postgresql $(MAKE) --no-print-directory test-postgres-runs' "$$marker" </dev/null || rc=$$?; \
	  if [ ! -e "$$marker" ]; then skip "pg_virtualenv could not create a cluster (exit $$rc)"; fi; \
	  rm -f "$$marker"; \
	  if [ $$rc -ne 0 ]; then echo "==> PostgreSQL run FAILED (exit $$rc) after $$((SECONDS - start)) s"; exit $$rc; fi; \
	fi; \
	echo "==> PostgreSQL run passed in $$((SECONDS - start)) s"

bench: bench-attendance bench-safety bench-watchdog bench-board bench-board-size bench-wonde bench-pupils bench-pages bench-checkins

# $(call bench_both,WHAT,SCRIPT,SQLITE ARGS,POSTGRES ARGS,URL): a bench on a fresh SQLite file,
# then in a throwaway PostgreSQL cluster (or, where URL is set and the bench reads it, the
# database DOORSTEP_BENCH_DATABASE_URL names).
define bench_both
	@echo "==> $(1) on SQLite"
	@env -u DATABASE_URL -u DOORSTEP_DB $(PY) $(2) $(3)
	@echo "==> $(1) on PostgreSQL"
	@if [ -n "$(5)" ] && [ -n "$${DOORSTEP_BENCH_DATABASE_URL:-}" ]; then \
	  env -u DATABASE_URL $(PY) $(2) $(4); \
	elif command -v pg_virtualenv >/dev/null 2>&1; then \
	  pg_virtualenv -v $(PG_VERSION) bash -c 'env -u DATABASE_URL DOORSTEP_DB=postgres $(PY) $(2) $(4)' </dev/null; \
	else echo "SKIPPED: pg_virtualenv is not installed"; fi
endef

# Attendance (docs/benchmarks.md): import 1,000,000 marks and the daily referral scan over
# 50,000 pupils, on a fresh SQLite file and in a throwaway PostgreSQL cluster. Not part of
# `make test`. BENCH_ARGS="--pupils 5000 --marks 100000" for a quick run.
BENCH_ARGS ?=
bench-attendance: $(STAMP_DEV)
	$(call bench_both,Attendance bench,bench/attendance_bench.py,$(BENCH_ARGS),$(BENCH_ARGS))

# Safety core (docs/benchmarks.md): delay from a missed check-in to the alert with 1,000 and
# 10,000 visits under way and one or two `doorstep watchdog` processes, and check-ins per
# second through gunicorn; SQLite, then a throwaway PostgreSQL cluster. Not part of `make test`.
# SAFETY_BENCH_ARGS="--visits 1000 --watchdogs 1 --http-seconds 5" for a quick run.
SAFETY_BENCH_ARGS ?=
bench-safety: $(STAMP_DEV)
	$(call bench_both,Safety bench,bench/safety_bench.py,--json var/bench-safety-sqlite.json $(SAFETY_BENCH_ARGS),--json var/bench-safety-postgres.json $(SAFETY_BENCH_ARGS),url)

# Watchdog bursts (docs/benchmarks.md): 10,000 deadlines falling due within 15 s, alerts a
# second from one watchdog raising them in batches against one alert a transaction (the
# watchdog before batching), interleaved; a fresh SQLite file, then a throwaway PostgreSQL
# cluster. Not part of `make test`. WATCHDOG_BENCH_ARGS="--visits 2000 --rounds 1" for a quick run.
WATCHDOG_BENCH_ARGS ?=
bench-watchdog: $(STAMP_DEV)
	$(call bench_both,Watchdog burst bench,bench/watchdog_burst_bench.py,--json var/bench-watchdog-sqlite.json $(WATCHDOG_BENCH_ARGS),--json var/bench-watchdog-postgres.json $(WATCHDOG_BENCH_ARGS),url)

# The office board is pushed (docs/benchmarks.md): from a missed deadline to the alert drawn on
# an open board in Chromium, 1,000 visits under way, 30 alerts, `doorstep start` and its
# watchdog against a fresh SQLite file, then a throwaway PostgreSQL cluster. Not part of `make test`.
# BOARD_BENCH_ARGS="--visits 200 --alerts 5" for a quick run.
BOARD_BENCH_ARGS ?=
bench-board: $(STAMP_DEV)
	$(call bench_both,Board push bench,bench/board_push_bench.py,--json var/bench-board-sqlite.json $(BOARD_BENCH_ARGS),--json var/bench-board-postgres.json $(BOARD_BENCH_ARGS),url)

# The office board at any size (docs/benchmarks.md): server time of the board's requests with
# 500, 1,000 and 2,000 visits under way, side by side with /api/board (the anchor), and an
# unchanged list (304); a fresh SQLite file, then a throwaway PostgreSQL cluster. Not part of
# `make test`. BOARD_SIZE_BENCH_ARGS="--visits 500 --samples 10" for a quick run.
BOARD_SIZE_BENCH_ARGS ?=
bench-board-size: $(STAMP_DEV)
	$(call bench_both,Board size bench,bench/board_bench.py,--json var/bench-board-size-sqlite.json $(BOARD_SIZE_BENCH_ARGS),--json var/bench-board-size-postgres.json $(BOARD_SIZE_BENCH_ARGS),url)

# The sync from Wonde (docs/benchmarks.md, docs/mis-sync.md): a full sync of 2,000 students with
# contacts (pages of 200, a local fake Wonde) under 30 s and an incremental one with nothing
# changed under 2 s, on a fresh SQLite file, then a throwaway PostgreSQL cluster. Not part of `make test`.
bench-wonde: $(STAMP_DEV)
	$(call bench_both,Wonde sync bench,bench/wonde_sync_bench.py)

# Pupils and contacts from a MIS's CSV (docs/benchmarks.md, docs/pupils-import.md): 2,000 pupils
# with 4,000 contacts imported, then the same file again, each under 10 s, on a fresh SQLite
# file, then a throwaway PostgreSQL cluster. Not part of `make test`.
bench-pupils: $(STAMP_DEV)
	$(call bench_both,Pupils import bench,bench/pupils_import_bench.py)

# Check-ins against healthchecks' ping (docs/benchmarks.md, "Check-ins against healthchecks'
# ping"): check-ins a second through gunicorn sync workers (2 and 4) on SQLite, and what one
# check-in costs in process (ms, SQL statements, write transactions). Doorstep alone, unless
# HEALTHCHECKS_DIR names a healthchecks checkout of your own (nothing is fetched): then the two
# side by side, interleaved. About 3 minutes alone, 5 side by side. Not part of `make test`.
# CHECKIN_BENCH_ARGS="--seconds 5 --rounds 1" for a quick run.
CHECKIN_BENCH_ARGS ?=
bench-checkins: $(STAMP_DEV)
	@echo "==> Check-in bench on SQLite$${HEALTHCHECKS_DIR:+, side by side with healthchecks in $$HEALTHCHECKS_DIR}"
	@env -u DATABASE_URL -u DOORSTEP_DB $(PY) bench/checkin_bench.py --json var/bench-checkins.json $(CHECKIN_BENCH_ARGS)

# Page speed (docs/benchmarks.md): the server time of every page and PDF with the demo data, each
# page as the first demo person who may open it, interleaved with the sign-in page as the floor, on a
# fresh SQLite file, then a throwaway PostgreSQL cluster. Not part of `make test`.
# PAGES_BENCH_ARGS="--runs 3" for a quick run.
PAGES_BENCH_ARGS ?=
bench-pages: $(STAMP_DEV)
	$(call bench_both,Page speed bench,bench/pages_bench.py,$(PAGES_BENCH_ARGS),$(PAGES_BENCH_ARGS))

# Fault injection (docs/chaos.md): kill the watchdog and delivery workers at random under
# load, lock SQLite for 30 s and restart PostgreSQL under `doorstep start`, and fake SMS and
# SMTP servers that refuse, hang, greylist and lose answers. Not part of `make test`; about
# 13 minutes, CHAOS_QUICK=1 for a smoke run of about 5. Prints a table, writes
# var/chaos-sqlite.json and var/chaos-postgres.json, and fails when a limit is broken.
CHAOS_ARGS ?=
chaos: $(STAMP_DEV)
	@mkdir -p var
	@failed=""; \
	echo "==> Fault injection on SQLite"; \
	env -u DATABASE_URL -u DOORSTEP_DB $(PY) chaos/run.py $(CHAOS_ARGS) </dev/null || failed="$$failed SQLite"; \
	echo; echo "==> Fault injection on PostgreSQL"; \
	if command -v pg_virtualenv >/dev/null 2>&1; then \
	  pg_virtualenv -t -v $(PG_VERSION) bash -c 'env -u DATABASE_URL DOORSTEP_DB=postgres $(PY) chaos/run.py $(CHAOS_ARGS)' </dev/null \
	    || failed="$$failed PostgreSQL"; \
	else echo "SKIPPED: pg_virtualenv is not installed"; fi; \
	echo; \
	if [ -n "$$failed" ]; then echo "==> make chaos: limits broken on:$$failed (see the tables above)"; exit 1; fi; \
	echo "==> make chaos: every limit met"
