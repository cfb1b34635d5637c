"""`doorstep deliver`: the delivery worker. Sends the outbox's email and SMS rows.

    doorstep deliver                  # loop until stopped (SIGTERM/SIGINT finish the current message)
    doorstep deliver --channel sms    # texts only (run another for email): separate processes
    doorstep deliver --channel voice  # phone calls only (a ladder step with ring = true)
    doorstep deliver --once           # one round, then exit (tests, cron)
    doorstep deliver --interval 0.5   # seconds to wait when there was nothing to send

Without --channel, email, SMS and phone calls are sent from three threads of this process, each with its
own database connection, so a hanging text provider never holds back email. The loop never
exits on an error (a locked or restarting database): it logs it, waits and carries on
(notify.delivery.serve). Several may run at once against PostgreSQL: rows are leased."""
import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from notify import delivery
from notify.delivery import Counts
from notify.models import Channel


class Command(BaseCommand):
    help = "Send pending email and SMS messages, with leases, retries and provider fallback."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Run one round and exit.")
        parser.add_argument("--channel", choices=[Channel.EMAIL, Channel.SMS, Channel.VOICE],
                            help="Send only this channel (default: all three, each from its own thread).")
        parser.add_argument("--interval", type=float, default=1.0, help="Seconds to wait when nothing was due (default 1).")
        parser.add_argument("--batch", type=int, default=20, help="Messages to send per round (default 20).")
        parser.add_argument("--worker", default="", help="Name for this worker's heartbeat (default host:pid).")

    def handle(self, *args: Any, once: bool = False, channel: str | None = None, interval: float = 1.0, batch: int = 20,
               worker: str = "", **options: Any) -> None:
        worker = worker or delivery.default_worker_name()
        if channel:
            worker = f"{worker} {channel}"
        verbose = options.get("verbosity", 1) > 1
        if once:
            # One round: an error here is the caller's to see (exit status), not ridden out.
            self._report(delivery.run_once(worker=worker, limit=batch, channel=channel), always=True)
            return

        stop = threading.Event()
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: stop.set())
        what = f"{channel} only" if channel else "email, SMS and phone calls side by side"
        self.stdout.write(f"Delivery worker {worker} running ({what}); every {interval}s when idle. Stop with Ctrl-C.")

        def report(counts: Counts) -> None:
            self._report(counts, always=verbose)

        if channel:
            delivery.serve(worker=worker, channel=channel, limit=batch, interval=interval, stop=stop, report=report)
        else:
            delivery.serve_channels(worker=worker, limit=batch, interval=interval, stop=stop, report=report)
        self.stdout.write("Delivery worker stopped.")

    def _report(self, counts: Counts, *, always: bool) -> None:
        if always or counts["sent"] or counts["failed"]:
            self.stdout.write(
                f"sent {counts['sent']}, to retry {counts['retry']}, failed {counts['failed']}, lost lease {counts['lost']}"
            )
