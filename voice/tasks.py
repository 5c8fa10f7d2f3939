"""Voice background tasks, run by `python manage.py worker`."""

from django_tasks import task

from . import services


@task()
def place_calls(call_ids: list[int]) -> None:
    """Ask AT to place queued outbound calls."""
    services.place_queued(call_ids)
