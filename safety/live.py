"""The office board is pushed: how an open board learns, at once, that something changed.

Two halves:

- A **change stamp** per set of schools (`stamp`): a short string read from the safety
  tables, that changes whenever the board would draw something different because of what
  someone did or the watchdog decided: a new alert (its id), a step climbed (the AlertStep
  id), an alert acknowledged, resolved or word come (their times), an event recorded (the
  VisitEvent id), a watch moved (its updated_at), a test alarm (drill) started or ended (its id,
  its end). Never the audit trail: it records reads too,
  so the board's own loads would wake every board. Time alone (a countdown running out, the
  watchdog's heartbeat going stale) does not change it: the page refreshes itself slowly for
  those.
- A **wake-up**. The writers call `changed(school_id)` inside their transaction. On PostgreSQL
  that is `pg_notify('doorstep_board', '<school id>')`, which PostgreSQL delivers at commit
  (never for a rolled-back change), from whichever process wrote it (the watchdog, a web
  worker, the API); each web process has one thread LISTENing (`Listener`), which wakes
  the boards it serves. On SQLite there is nothing to notify: a waiting board reads the stamp
  every `SQLITE_POLL` seconds, a few cheap indexed queries. Either way the stamp is the
  truth: a notification only says "look now", and a lost one costs at most `PG_RECHECK`.

`wait_for_change(school_ids, since, timeout)` is what the board's event stream calls
(safety/alerts/views.py `board_stream`). It imports only models, so every safety module may
call `changed()` (it is the lowest of the safety package's layers).
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

from django.db import DatabaseError, connection, connections
from django.db.models import Max

from safety.alerts.models import Alert, AlertStep
from safety.checkins.models import VisitEvent, Watch
from safety.readiness.models import Drill

log = logging.getLogger("doorstep.board")

CHANNEL = "doorstep_board"
SQLITE_POLL = 0.25   # seconds between two reads of the stamp when nothing can notify
PG_RECHECK = 5.0     # with LISTEN, still read the stamp this often (a notification lost with a dropped connection)


def changed(school_id: int) -> None:
    """Tell the open boards of this school to look again. Call it inside the transaction
    that makes the change: PostgreSQL delivers the notification when (and only if) that
    commits, and folds repeats within one transaction into one. Elsewhere it does nothing:
    the boards read the stamp themselves."""
    changed_all([school_id])


def changed_all(school_ids: Iterable[int]) -> None:
    """changed() for several schools in one statement (a watchdog's batch spans many)."""
    ids = sorted({str(pk) for pk in school_ids})
    if connection.vendor != "postgresql" or not ids:
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_notify(%s, school) FROM unnest(%s::text[]) AS school", [CHANNEL, ids])


def _iso(value: Any) -> str:
    return value.isoformat() if value is not None else "-"


def stamp(school_ids: Iterable[int]) -> str:
    """What the board's data looks like now, in a few characters: equal stamps, same board
    (but for the passing of time). Six small aggregate queries, each on an indexed column."""
    ids = list(school_ids)
    alerts = Alert.objects.filter(school__in=ids).aggregate(
        id=Max("id"), ack=Max("acknowledged_at"), res=Max("resolved_at"), contact=Max("contact_at"))
    step = AlertStep.objects.filter(alert__school__in=ids).aggregate(id=Max("id"))["id"]
    event = VisitEvent.objects.filter(school__in=ids).aggregate(id=Max("id"))["id"]
    watch = Watch.objects.filter(school__in=ids).aggregate(at=Max("updated_at"))["at"]
    drill = Drill.objects.filter(school__in=ids).aggregate(id=Max("id"), ended=Max("ended_at"))
    parts = [alerts["id"] or 0, step or 0, event or 0, _iso(alerts["ack"]), _iso(alerts["res"]),
             _iso(alerts["contact"]), _iso(watch), drill["id"] or 0, _iso(drill["ended"])]
    return ".".join(str(p).replace(".", "_") for p in parts)


class Listener:
    """One thread per web process LISTENing on PostgreSQL's `doorstep_board` channel, on a
    connection of its own (autocommit: it never holds a transaction open, which would stop
    PostgreSQL from clearing its notification queue). `generation` counts the notifications
    seen; waiters sleep on `condition` until it moves. If the connection drops, the thread
    says so in the log, `alive` goes false (waiters fall back to polling the stamp) and it
    connects again after a second."""

    def __init__(self, alias: str = "default") -> None:
        self.alias = alias
        self.condition = threading.Condition()
        self.generation = 0
        self.alive = False
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name="doorstep-board-listener", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        wrapper = connections[self.alias]
        while not self.stopping:
            raw: Any = None
            try:
                raw = wrapper.get_new_connection(wrapper.get_connection_params())
                raw.autocommit = True
                raw.execute(f"LISTEN {CHANNEL}")
                self.wake(alive=True)  # anything missed while away: every waiter looks again
                while not self.stopping:
                    for _ in raw.notifies(timeout=1.0):  # a second at a time, to notice stop()
                        self.wake(alive=True)
            except Exception as exc:  # noqa: BLE001 - any failure: poll instead, say so, and try again
                log.warning("The office board's LISTEN connection failed (%s); boards poll until it is back", exc)
            finally:
                self.wake(alive=False)
                if raw is not None:
                    try:
                        raw.close()
                    except Exception:  # noqa: BLE001, S110 - closing a broken connection
                        pass
            if not self.stopping:
                time.sleep(1.0)

    def stop(self) -> None:
        """Close the connection and end the thread (within a second): tests, before their database goes."""
        self.stopping = True
        self.thread.join(5.0)

    def wake(self, alive: bool | None = None) -> None:
        """Every waiter looks again now; `alive` says whether notifications are coming."""
        with self.condition:
            if alive is not None:
                self.alive = alive
            self.generation += 1
            self.condition.notify_all()

    def wait(self, generation: int, timeout: float) -> None:
        """Until a notification newer than `generation` arrives, or `timeout` seconds."""
        with self.condition:
            self.condition.wait_for(lambda: self.generation != generation, timeout)


_listener: Listener | None = None
_listener_lock = threading.Lock()


def listener() -> Listener:
    """This process's listener, started by the first board that waits (after gunicorn forks)."""
    global _listener
    with _listener_lock:
        if _listener is None or not _listener.thread.is_alive():
            _listener = Listener()
        return _listener


def stop_listener() -> None:
    """End this process's listener, if any (the next waiter starts a new one)."""
    global _listener
    with _listener_lock:
        if _listener is not None:
            _listener.stop()
        _listener = None


# Set while this process's open event streams are to end: a waiting stream returns at once
# instead of after its next ping, which can be 15 s away. The test suite sets it when a browser test ends: that test's board page is
# gone, and on SQLite its stream would go on reading the test database's one connection, which
# the next test uses (the two once deadlocked there).
_closing = threading.Event()


def end_waits() -> None:
    """End every wait_for_change() in this process at once, and refuse new ones until
    allow_waits(). A web worker calls it from its SIGTERM handler, in the main thread, which with
    gthread workers serves no stream itself: the listener is read without the lock that guards
    its start, and its condition is reentrant."""
    _closing.set()
    watcher = _listener
    if watcher is not None:
        watcher.wake()


def allow_waits() -> None:
    _closing.clear()


def waits_ended() -> bool:
    return _closing.is_set()


def wait_for_change(school_ids: Iterable[int], since: str, timeout: float) -> str | None:
    """The new stamp as soon as it differs from `since`, or None after `timeout` seconds of no
    change (or at once after end_waits()). On PostgreSQL it sleeps until a
    notification (or PG_RECHECK); elsewhere, or while the listener is down, it reads the stamp
    every SQLITE_POLL seconds."""
    ids = list(school_ids)
    pg = connection.vendor == "postgresql"
    watcher = listener() if pg else None
    deadline = time.monotonic() + timeout
    while not _closing.is_set():
        # The generation is read before the stamp: a notification that lands between the
        # two moves it, so the wait below returns at once instead of missing it.
        generation = watcher.generation if watcher is not None else 0
        try:
            now = stamp(ids)
        except DatabaseError as exc:  # a locked or restarting database: the board says so when its fetch fails
            log.warning("Could not read the office board's change stamp: %s", exc)
            now = since
        if now != since:
            return now
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        if watcher is not None and watcher.alive:
            watcher.wait(generation, min(left, PG_RECHECK))
        else:
            _closing.wait(min(left, SQLITE_POLL))
    return None
