"""`doorstep deliver`: the delivery worker. Sends the outbox's email and SMS rows.

    doorstep deliver                 # loop until stopped (SIGTERM/SIGINT finish the current message)
    doorstep deliver --once          # one round, then exit (tests, cron)
    doorstep deliver --interval 0.5  # seconds to wait when there was nothing to send

Several may run at once against PostgreSQL: rows are leased (notify/delivery.py)."""
import signal
import threading

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from notify import delivery


class Command(BaseCommand):
    help = "Send pending email and SMS messages, with leases, retries and provider fallback."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Run one round and exit.")
        parser.add_argument("--interval", type=float, default=1.0, help="Seconds to wait when nothing was due (default 1).")
        parser.add_argument("--batch", type=int, default=20, help="Messages to lease per round (default 20).")
        parser.add_argument("--worker", default="", help="Name for this worker's heartbeat (default host:pid).")

    def handle(self, *args, once=False, interval=1.0, batch=20, worker="", **options):
        worker = worker or delivery.default_worker_name()
        stop = threading.Event()
        if not once and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: stop.set())
            self.stdout.write(f"Delivery worker {worker} running; every {interval}s when idle. Stop with Ctrl-C.")
        while True:
            if not once:
                close_old_connections()  # a long-lived loop must not keep a dead or stale connection
            counts = delivery.run_once(worker=worker, limit=batch)
            if once or options.get("verbosity", 1) > 1 or counts["sent"] or counts["failed"]:
                self.stdout.write(
                    f"sent {counts['sent']}, to retry {counts['retry']}, failed {counts['failed']}, lost lease {counts['lost']}"
                )
            if once or stop.is_set():
                break
            if not any(counts.values()):
                stop.wait(interval)
            if stop.is_set():
                break
        if not once:
            self.stdout.write("Delivery worker stopped.")
