"""The task queue: the one module that knows which backend runs the tasks.

`TASKS_BACKEND=database` (default): django-tasks-db, a task is a row of the
database (`DBTaskResult`), committed with the rows it sends.
`TASKS_BACKEND=redis`: django-tasks-rq, a task is an RQ job in Redis: waiting in
the queue's list, deferred in its scheduled registry, running in its started
registry, then finished or failed.

Everything else goes through these functions and never reads a backend's own
models or keys:

- `enqueue(task, *args, after=None)`: what `OutboundRequest.enqueue` (the one
  way to enqueue a send) and `maintain`'s heartbeat call. With the database the
  task row is written in the caller's transaction; with Redis the job is
  published once that transaction commits (`transaction.on_commit`), so that no
  worker looks for rows not yet committed, and a task is never published for
  rows that were rolled back. A publish that fails (Redis down) is logged and
  left to the sweeper (`pending_ids`: rows queued with no task waiting).
- `reap_dead_tasks`, `prune_results`, `depth`, `note_worker_seen` and
  `worker_seen_at`: the reaper, pruning and /healthz.
- `Worker`: the RQ worker `manage.py worker` runs with Redis.
- Test helpers (`run_queued_tasks`, `make_deferred_tasks_due`, `tasks`,
  `strand_waiting_tasks`, `backdate_tasks`, `clear`), used through hub.testing.
"""

import functools
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import overload

from django.conf import settings
from django.core.cache import cache
from django.db import InterfaceError, OperationalError, connections, transaction
from django.utils import timezone

logger = logging.getLogger("hub.queue")

QUEUE_NAME = "default"
WORKER_SEEN_KEY = "atproject:worker-seen"
#: A task the database failed this many times in a row is left failed (its rows wait for the sweeper).
MAX_DATABASE_RETRIES = 20
#: Longest wait before a task the database failed runs again, in seconds.
MAX_PAUSE = 30


class WorkerLost(Exception):
    """Recorded on a task that was running when its worker died."""


def uses_redis() -> bool:
    """Whether the tasks go through Redis (TASKS_BACKEND=redis) rather than the database."""
    return str(settings.TASKS["default"]["BACKEND"]).startswith("django_tasks_rq")


def backend_name() -> str:
    return "redis" if uses_redis() else "database"


# --- Enqueueing ------------------------------------------------------------------------------------------------


def enqueue(task, *args, after=None) -> None:
    """Enqueue `task(*args)`, to run at `after` (an aware datetime) or as soon as a worker is free.

    Database: the task's row is written now, in the caller's transaction (it
    commits or rolls back with the rows). Redis: published when the
    transaction commits (at once outside one); a publish Redis refuses is
    logged, not raised: the rows are committed, and `maintain`'s sweeper
    enqueues them again.
    """
    if not uses_redis():
        (task.using(run_after=after) if after is not None else task).enqueue(*args)
        return
    if after is not None and after <= timezone.now():
        after = None  # due already: straight to the queue, not through the scheduler
    task = task.using(run_after=after) if after is not None else task
    transaction.on_commit(functools.partial(_publish, task, args))


def _publish(task, args) -> None:
    from redis.exceptions import RedisError

    try:
        task.enqueue(*args)
    except (RedisError, OSError) as exc:
        rows = len(args[0]) if args and isinstance(args[0], list | tuple) else 0
        logger.error(
            "Could not publish %s (%d row(s)) to Redis: %s. The rows stay queued; `maintain` enqueues them again "
            "once Redis answers (AT_SWEEP_AFTER_SECONDS after they were due).",
            task.name,
            rows,
            exc,
        )


def pending_ids(task) -> set:
    """Primary keys carried by `task`'s tasks that wait (due or deferred) or run: the sweeper leaves those alone.

    A task moving between states while this reads may be missed, and its rows
    enqueued once more: harmless, each row is claimed once.
    """
    if not uses_redis():
        from django_tasks_db.models import DBTaskResult

        args = DBTaskResult.objects.filter(status__in=["READY", "RUNNING"], task_path=task.module_path).values_list(
            "args_kwargs", flat=True
        )
        return {pk for a in args if a["args"] for pk in a["args"][0]}
    queue = _queue()
    ids = [
        *queue.get_job_ids(),
        *queue.scheduled_job_registry.get_job_ids(cleanup=False),
        *queue.started_job_registry.get_job_ids(cleanup=False),
    ]
    found = set()
    for job in _fetch(queue, ids):
        if job.func_name == task.module_path and job.args:
            found.update(job.args[0])
    return found


# --- Operations: the reaper, pruning, /healthz --------------------------------------------------------------------


def reap_dead_tasks(cutoff: datetime) -> int:
    """Tasks still running that started before `cutoff` → failed (their worker died); returns how many.

    (Their rows, left `sending`, are the reaper's to settle: `maintenance.reap`.)
    """
    if not uses_redis():
        from django_tasks_db.models import DBTaskResult

        count = 0
        for result in DBTaskResult.objects.filter(status="RUNNING", started_at__lt=cutoff):
            result.set_failed(WorkerLost(f"the worker running this task stopped (running since {result.started_at})"))
            count += 1
        return count
    from rq.exceptions import NoSuchJobError
    from rq.job import JobStatus

    queue = _queue()
    registry, count = queue.started_job_registry, 0
    for job_id, execution_id in registry.get_job_and_execution_ids(cleanup=False):
        entry = f"{job_id}:{execution_id}"
        try:
            job = _job_class().fetch(job_id, connection=queue.connection)
        except NoSuchJobError:
            queue.connection.zrem(registry.key, entry)
            continue
        started = job.started_at
        if started is None or _aware(started) >= cutoff:
            continue
        with queue.connection.pipeline() as pipeline:
            pipeline.zrem(registry.key, entry)
            job.ended_at = _rq_now()
            job.set_status(JobStatus.FAILED, pipeline=pipeline)
            queue.failed_job_registry.add(
                job,
                exc_string=f"{WorkerLost.__name__}: the worker running this task stopped (running since "
                f"{_aware(started)})",
                pipeline=pipeline,
            )
            pipeline.execute()
        count += 1
    return count


def prune_results(cutoff: datetime) -> int:
    """Delete finished (successful or failed) tasks that finished before `cutoff`; returns how many."""
    if not uses_redis():
        from django_tasks_db.models import DBTaskResult

        deleted, _ = DBTaskResult.objects.filter(status__in=["SUCCESSFUL", "FAILED"], finished_at__lt=cutoff).delete()
        return deleted
    # RQ expires finished jobs itself (after 500 s); failed ones are kept a year unless pruned.
    queue, count = _queue(), 0
    for registry in (queue.finished_job_registry, queue.failed_job_registry):
        ids = registry.get_job_ids()
        for job_id, job in zip(ids, _fetch(queue, ids, keep_missing=True), strict=True):
            if job is None:
                registry.remove(job_id)
            elif job.ended_at is not None and _aware(job.ended_at) < cutoff:
                job.delete()
                count += 1
    return count


def depth() -> dict:
    """The queue's state: tasks due and waiting for a worker (and since when the oldest), deferred, running."""
    if not uses_redis():
        from django.db.models import Case, F, Min, When
        from django_tasks_db.models import DBTaskResult, get_date_max

        never = get_date_max()
        ready = DBTaskResult.objects.ready()
        figures = ready.aggregate(
            oldest=Min(Case(When(run_after=never, then=F("enqueued_at")), default=F("run_after")))
        )
        waiting = DBTaskResult.objects.filter(status="READY")
        return {
            "waiting": ready.count(),
            "oldest_waiting_at": figures["oldest"],
            "deferred": waiting.filter(run_after__gt=timezone.now()).exclude(run_after=never).count(),
            "running": DBTaskResult.objects.filter(status="RUNNING").count(),
        }
    from rq import Worker as RQWorker

    queue = _queue()
    connection, scheduled = queue.connection, queue.scheduled_job_registry.key
    now = time.time()
    head = queue.get_job_ids(0, 1)
    oldest: list[datetime] = []
    if head:
        (job,) = _fetch(queue, head, keep_missing=True)
        if job is not None and (job.enqueued_at or job.created_at):
            oldest.append(_aware(job.enqueued_at or job.created_at))
    # Deferred tasks whose time has come wait too (for the scheduler a worker runs).
    due = connection.zrangebyscore(scheduled, 0, now, start=0, num=1, withscores=True)
    if due:
        oldest.append(datetime.fromtimestamp(due[0][1], tz=UTC))
    return {
        "waiting": queue.count + connection.zcount(scheduled, 0, now),
        "oldest_waiting_at": min(oldest) if oldest else None,
        "deferred": connection.zcount(scheduled, f"({now}", "+inf"),
        "running": connection.zcard(queue.started_job_registry.key),
        "workers": RQWorker.count(queue=queue),
    }


def enqueue_due_tasks() -> int:
    """Deferred tasks (retries) whose time has come → the queue; returns how many. With Redis this is the
    scheduler's job, which one worker at a time holds; `maintain` calls it too, so that retries still go out
    while no live worker holds it (its holder was killed: RQ hands the lock to another worker only after up to
    ten minutes). The database's workers take due tasks themselves: 0."""
    return _enqueue_due(_queue()) if uses_redis() else 0


def note_worker_seen() -> None:
    """A worker started a task (django-tasks' `task_started`, both backends) or ran the heartbeat."""
    cache.set(WORKER_SEEN_KEY, timezone.now().isoformat(), timeout=None)


def worker_seen_at() -> datetime | None:
    seen = cache.get(WORKER_SEEN_KEY)
    return None if seen is None else datetime.fromisoformat(seen)


def unavailable_errors() -> tuple:
    """What a call to the queue raises when its backend cannot be reached (Redis down); the database's are
    Django's own DatabaseError."""
    if not uses_redis():
        return ()
    from redis.exceptions import RedisError

    return (RedisError,)


# --- Redis: the worker ----------------------------------------------------------------------------------------


def _retry_after_database_error(job, exc_type, exc_value, traceback) -> bool:
    """RQ exception handler: a task the database failed (not its own logic) runs again, after a growing pause
    (1 s, 2 s, ... at most 30 s), up to MAX_DATABASE_RETRIES times; its rows are claimed at most once."""
    if not (isinstance(exc_type, type) and issubclass(exc_type, (OperationalError, InterfaceError))):
        return True
    for connection in connections.all(initialized_only=True):
        connection.close()  # the next task connects again
    if job.retries_left is None:
        job.retries_left = MAX_DATABASE_RETRIES
        job.retry_intervals = [min(2**i, MAX_PAUSE) for i in range(MAX_DATABASE_RETRIES)]
    if job.retries_left > 0:
        logger.warning(
            "Database unavailable (%s) for task %s; it runs again in %d s",
            exc_type.__name__,
            job.id,
            job.get_retry_interval(),
        )
    else:
        logger.error("Task %s failed on the database %d times: left failed", job.id, MAX_DATABASE_RETRIES)
    return True


def _worker_classes():
    from rq import SimpleWorker
    from rq import Worker as ForkingWorker

    class Worker(ForkingWorker):
        """RQ's worker (a forked work horse per task) for django-tasks-rq's jobs, retrying what the database
        failed. Its scheduler moves deferred tasks (retries) to the queue when due."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.push_exc_handler(_retry_after_database_error)

    class InProcessWorker(SimpleWorker):
        """The same, running each task in this process (`worker --no-fork`: no fork and no new database
        connection per task; the tests: `responses` and the test database apply)."""

        own_signals = True

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.push_exc_handler(_retry_after_database_error)

        def _install_signal_handlers(self):
            if self.own_signals:
                super()._install_signal_handlers()

    class TestWorker(InProcessWorker):
        own_signals = False  # leave the test runner's own

    return Worker, InProcessWorker, TestWorker


def rq_worker(*, name: str | None = None, in_process: bool = False, for_tests: bool = False, **options):
    """An RQ worker on our queue (Redis only), with django-tasks-rq's job class: forking a work horse per task,
    or running tasks `in_process`."""
    queue = _queue()
    worker_class = _worker_classes()[2 if for_tests else 1 if in_process else 0]
    return worker_class(
        [queue], connection=queue.connection, job_class=_job_class(), queue_class=type(queue), name=name, **options
    )


# --- Test helpers ---------------------------------------------------------------------------------------------


@dataclass
class QueuedTask:
    """A task as the tests see it, whatever the backend."""

    id: str
    task_path: str
    args: list
    status: str  # READY, RUNNING, FAILED, SUCCESSFUL (django-tasks' names)
    enqueued_at: datetime | None
    run_after: datetime | None  # when a deferred task is due; None: as soon as possible
    started_at: datetime | None
    finished_at: datetime | None


def run_queued_tasks() -> None:
    """Run every task that is due, in this process, until none is left (deferred ones stay deferred)."""
    if not uses_redis():
        from django.core.management import call_command

        call_command("db_worker", batch=True, interval=0, startup_delay=False, reload=False, verbosity=0)
        return
    queue = _queue()
    while True:
        moved = _enqueue_due(queue)
        worked = rq_worker(for_tests=True).work(burst=True, logging_level="WARNING")
        if not moved and not worked:
            return


def make_deferred_tasks_due() -> int:
    """Let tasks scheduled for later (retries) run now; returns how many were waiting."""
    if not uses_redis():
        from django_tasks_db.models import DBTaskResult, get_date_max

        waiting = DBTaskResult.objects.filter(status="READY", run_after__gt=timezone.now()).exclude(
            run_after=get_date_max()
        )
        return waiting.update(run_after=timezone.now())
    queue = _queue()
    key, now = queue.scheduled_job_registry.key, time.time()
    later = queue.connection.zrangebyscore(key, f"({now}", "+inf")
    if later:
        queue.connection.zadd(key, dict.fromkeys(later, now))
    return len(later)


def tasks() -> list[QueuedTask]:
    """Every task the queue holds (waiting, deferred, running, finished, failed), oldest first."""
    if not uses_redis():
        from django_tasks_db.models import DBTaskResult, get_date_max

        return [
            QueuedTask(
                id=str(r.pk),
                task_path=r.task_path,
                args=r.args_kwargs["args"],
                status=r.status,
                enqueued_at=r.enqueued_at,
                run_after=None if r.run_after == get_date_max() else r.run_after,
                started_at=r.started_at,
                finished_at=r.finished_at,
            )
            for r in DBTaskResult.objects.order_by("enqueued_at", "pk")
        ]
    queue = _queue()
    scheduled = queue.scheduled_job_registry
    places = [
        ("READY", queue.get_job_ids()),
        ("READY", scheduled.get_job_ids(cleanup=False)),
        ("RUNNING", queue.started_job_registry.get_job_ids(cleanup=False)),
        ("SUCCESSFUL", queue.finished_job_registry.get_job_ids(cleanup=False)),
        ("FAILED", queue.failed_job_registry.get_job_ids(cleanup=False)),
    ]
    found = []
    for index, (status, ids) in enumerate(places):
        for job in _fetch(queue, ids):
            found.append(
                QueuedTask(
                    id=job.id,
                    task_path=job.func_name,
                    args=list(job.args),
                    status=status,
                    enqueued_at=_aware(job.enqueued_at or job.created_at),
                    run_after=_aware(scheduled.get_scheduled_time(job)) if index == 1 else None,
                    started_at=_aware(job.started_at),
                    finished_at=_aware(job.ended_at),
                )
            )
    return sorted(found, key=lambda t: (t.enqueued_at or datetime.min.replace(tzinfo=UTC), t.id))


def strand_waiting_tasks() -> int:
    """As if a worker took every task that is due and died while running them; returns how many."""
    if not uses_redis():
        from django_tasks_db.models import DBTaskResult

        return DBTaskResult.objects.ready().update(status="RUNNING", started_at=timezone.now())
    queue, count = _queue(), 0
    _enqueue_due(queue)
    worker = rq_worker(for_tests=True)
    while (result := queue.dequeue_any([queue], None, connection=queue.connection, job_class=_job_class())) is not None:
        job, _ = result
        worker.prepare_execution(job)
        worker.prepare_job_execution(job, remove_from_intermediate_queue=True)
        count += 1
    return count


def backdate_tasks(by: timedelta) -> None:
    """Make every task `by` older: enqueued, started and finished that much earlier."""
    if not uses_redis():
        from django.db.models import F
        from django_tasks_db.models import DBTaskResult

        DBTaskResult.objects.update(
            enqueued_at=F("enqueued_at") - by, started_at=F("started_at") - by, finished_at=F("finished_at") - by
        )
        return
    from rq.utils import utcformat

    queue = _queue()
    ids = [t.id for t in tasks()]
    with queue.connection.pipeline() as pipeline:
        for job in _fetch(queue, ids):
            for field in ("created_at", "enqueued_at", "started_at", "ended_at"):
                value = getattr(job, field)
                if value is not None:
                    pipeline.hset(job.key, field, utcformat(value - by))
        pipeline.execute()


def clear() -> None:
    """Forget every task, as a queue that lost them would (the database: delete its task rows; Redis: RQ's keys
    in REDIS_URL's database)."""
    if not uses_redis():
        from django_tasks_db.models import DBTaskResult

        DBTaskResult.objects.all().delete()
        return
    connection = _queue().connection
    # Jobs, results, registries and the scheduler's lock; not the running workers' own keys.
    kept = ("rq:worker", "rq:queues")  # a dead worker's scheduler lock goes too: the next worker takes it
    keys = [k for k in connection.scan_iter("rq:*", count=1000) if not k.decode().startswith(kept)]
    for start in range(0, len(keys), 1000):
        connection.delete(*keys[start : start + 1000])


# --- Redis: internals -------------------------------------------------------------------------------------------


def _job_class():
    from django_tasks_rq import Job

    return Job


def _queue():
    import django_rq

    return django_rq.get_queue(QUEUE_NAME, job_class=_job_class())


def _fetch(queue, ids, *, keep_missing: bool = False) -> list:
    jobs = _job_class().fetch_many(list(ids), connection=queue.connection) if ids else []
    return jobs if keep_missing else [job for job in jobs if job is not None]


def _enqueue_due(queue) -> int:
    """Deferred tasks whose time has come → the queue (what RQ's scheduler does every second)."""
    registry = queue.scheduled_job_registry
    ids = registry.get_jobs_to_schedule(time.time())
    if not ids:
        return 0
    with queue.connection.pipeline() as pipeline:
        for job in _fetch(queue, ids):
            queue.enqueue_job(job, pipeline=pipeline)
        for job_id in ids:
            registry.remove(job_id, pipeline=pipeline)
        pipeline.execute()
    return len(ids)


def _rq_now() -> datetime:
    return datetime.now(UTC)


@overload
def _aware(value: datetime) -> datetime: ...
@overload
def _aware(value: None) -> None: ...
def _aware(value: datetime | None) -> datetime | None:
    """RQ's times are UTC, naive in some versions."""
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
