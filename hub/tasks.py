"""Project-wide background tasks."""

from django_tasks import task

from .maintenance import note_worker_seen


@task()
def heartbeat() -> None:
    """Enqueued by `maintain`: when a worker runs it, /healthz knows a worker is alive."""
    note_worker_seen()
