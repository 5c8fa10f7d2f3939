"""`python manage.py worker`: run queued tasks (sends) on whichever backend is configured, and outlive
database outages.

TASKS_BACKEND=redis: an RQ worker (`hub.queue.rq_worker`: a forked work horse
per task) with its scheduler, which moves delayed retries to the queue when they
are due (one worker at a time holds the scheduler's lock; another takes over when
it stops). A task the database failed runs again after a growing pause
(`hub.queue`'s exception handler). Start as many as you like, on any node that
reaches Redis and the database.

TASKS_BACKEND=database (default): django-tasks-db's `db_worker` exits on the first database error (an SQLite
lock held longer than its busy timeout, a PostgreSQL restart), and sends stop
until someone restarts it. This worker waits for the database instead, with a
growing pause (1 s, 2 s, ... at most 30 s), and carries on by itself. A task
that a database error interrupted (or failed: the database went away, or a
lock outlasted the busy timeout) is put back in the queue once the database
answers again: its rows are claimed at most once, so running it again sends
only what it had not sent (a row already `sending` is not claimed twice; the
reaper settles those).
"""

import logging
import time
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, InterfaceError, OperationalError, connections
from django.utils import timezone
from django.utils.crypto import get_random_string
from django_tasks_db.compat import DEFAULT_TASK_BACKEND_ALIAS, DEFAULT_TASK_QUEUE_NAME
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult

from hub import queue
from hub.startup import require_secret_key

logger = logging.getLogger("atproject.worker")

MAX_PAUSE = 30.0
#: A task failed by the database this many times in a row is left failed (its rows wait for the sweeper).
MAX_DATABASE_RETRIES = 20
_OUTAGES = tuple(f"{cls.__module__}.{cls.__qualname__}" for cls in (OperationalError, InterfaceError))


class ResilientWorker(Worker):
    """django-tasks-db's worker loop, resumed after every database error."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.interrupted: set = set()
        self._current = None

    def run_task(self, db_task_result) -> None:
        self._current = db_task_result.pk
        super().run_task(db_task_result)  # a database error while recording the result escapes from here
        self._current = None
        if db_task_result.status == "FAILED" and db_task_result.exception_class_path in _OUTAGES:
            self.retry_later(db_task_result)

    def retry_later(self, db_task_result) -> None:
        """A task the database failed (not its own logic): run it again in a moment."""
        tries = len(db_task_result.worker_ids)
        if tries >= MAX_DATABASE_RETRIES:
            logger.error("Task %s failed on the database %d times: left failed", db_task_result.pk, tries)
            return
        run_after = timezone.now() + timedelta(seconds=min(2 ** len(db_task_result.worker_ids), MAX_PAUSE))
        DBTaskResult.objects.filter(pk=db_task_result.pk, status="FAILED").update(
            status="READY", started_at=None, finished_at=None, run_after=run_after
        )
        logger.warning("Task %s failed on the database; it runs again after %s", db_task_result.pk, run_after)

    def run(self) -> None:
        pause = 1.0
        while self.running:
            try:
                self.requeue_interrupted()
                super().run()
                return  # batch or max-tasks mode finished, or a signal stopped it
            except DatabaseError as exc:
                if self._current is not None:
                    self.interrupted.add(self._current)
                    self._current = None
                self.running_task = False
                logger.warning(
                    "Database unavailable (%s); the worker waits %.0f s and carries on", type(exc).__name__, pause
                )
                for connection in connections.all(initialized_only=True):
                    connection.close_if_unusable_or_obsolete()
                    connection.close()
                self.startup_delay = False
                time.sleep(pause)
                pause = min(pause * 2, MAX_PAUSE)

    def requeue_interrupted(self) -> None:
        """Tasks a database error cut short, back to the queue (their rows are claimed at most once)."""
        if not self.interrupted:
            return
        requeued = DBTaskResult.objects.filter(pk__in=self.interrupted, status="RUNNING").update(
            status="READY", started_at=None
        )
        logger.warning("%d task(s) interrupted by the database outage queued again", requeued)
        self.interrupted.clear()


class Command(BaseCommand):
    help = (
        "Run the task worker (sends to AT) for the configured backend (TASKS_BACKEND: the database, or RQ on "
        "Redis); it waits out database outages instead of exiting."
    )

    def add_arguments(self, parser):
        parser.add_argument("--queue-name", default=DEFAULT_TASK_QUEUE_NAME, help="Queues, comma-separated ('*': all).")
        parser.add_argument("--interval", type=float, default=1.0, help="Seconds between looks at an empty queue.")
        parser.add_argument("--batch", action="store_true", help="Run what is queued, then exit.")
        parser.add_argument("--max-tasks", type=int, default=None, help="Exit after this many tasks.")
        parser.add_argument("--worker-id", default=None, help="Unique across the worker pool (default: random).")
        parser.add_argument("--no-startup-delay", action="store_false", dest="startup_delay")
        parser.add_argument(
            "--no-fork",
            action="store_true",
            help="TASKS_BACKEND=redis: run each task in this process rather than a forked work horse (faster for "
            "short tasks: no fork, the database connection kept; a task past RQ's timeout is still stopped).",
        )

    def handle(
        self, *args, queue_name, interval, batch, max_tasks, worker_id, startup_delay, no_fork, verbosity, **options
    ):
        require_secret_key()
        if queue.uses_redis():
            self.run_rq(queue_name, batch, max_tasks, worker_id, no_fork, verbosity)
            return
        if verbosity > 1:
            logging.getLogger("django_tasks_db").setLevel(logging.DEBUG)
        worker = ResilientWorker(
            queue_names=queue_name.split(","),
            interval=interval,
            batch=batch,
            backend_name=DEFAULT_TASK_BACKEND_ALIAS,
            startup_delay=startup_delay,
            max_tasks=max_tasks,
            worker_id=worker_id or get_random_string(32),
            excluded_queue_names=[],
        )
        worker.configure_signals()
        worker.run()

    def run_rq(self, queue_name, batch, max_tasks, worker_id, no_fork, verbosity) -> None:
        if queue_name not in (DEFAULT_TASK_QUEUE_NAME, "*"):
            raise CommandError(f"--queue-name: with TASKS_BACKEND=redis the one queue is {DEFAULT_TASK_QUEUE_NAME!r}")
        # The work horses are forked: none may share this process's database connections.
        for connection in connections.all(initialized_only=True):
            connection.close()
        worker = queue.rq_worker(name=worker_id, in_process=no_fork)
        worker.work(
            burst=batch,
            max_jobs=max_tasks,
            with_scheduler=True,
            logging_level="DEBUG" if verbosity > 1 else "WARNING" if verbosity == 0 else "INFO",
        )
