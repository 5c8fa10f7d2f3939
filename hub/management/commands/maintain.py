"""Periodic jobs in one command: replay the spool, reap dead workers' leftovers, sweep up rows the queue lost,
prune, heartbeat, and the jobs apps register (`maintenance.periodic`: AT's balance, the console's figures).

From cron: `python manage.py maintain` (every minute or few). Locally, the run
command starts `maintain --every 30`.
"""

import time

from django.core.management.base import BaseCommand
from django.db import InterfaceError, OperationalError

from hub import maintenance, queue
from hub.callbacks.replay import replay
from hub.tasks import heartbeat


class Command(BaseCommand):
    help = (
        "Replay spooled callbacks, reap stuck sends and dead tasks, enqueue rows the queue lost, prune old rows, "
        "enqueue a worker heartbeat."
    )

    def add_arguments(self, parser):
        parser.add_argument("--every", type=float, default=0, help="Repeat every N seconds (0: run once).")

    def handle(self, *args, every, **options):
        while True:
            try:
                self.run_once()
            except (OperationalError, InterfaceError) as exc:
                self.stderr.write(f"database unavailable: {type(exc).__name__}")
            if not every:
                return
            time.sleep(every)

    def run_once(self):
        stored, waiting, quarantined = replay()
        if stored or waiting or quarantined:
            self.stdout.write(f"spool: {stored} stored, {waiting} waiting, {quarantined} unreadable (quarantined)")
        reaped = maintenance.reap()
        if any(reaped.values()):
            self.stdout.write(f"reaped: {reaped}")
        due = queue.enqueue_due_tasks()
        if due:
            self.stdout.write(f"retries due, moved to the queue: {due}")
        swept = maintenance.sweep()
        if swept:
            self.stdout.write(f"enqueued again (queued with no task): {swept}")
        pruned = maintenance.prune()
        if pruned:
            self.stdout.write(f"pruned: {pruned}")
        if not maintenance.queue_health()["waiting"]:
            queue.enqueue(heartbeat)
        for name, result in maintenance.run_due_jobs().items():
            self.stdout.write(f"{name}: {result}")
