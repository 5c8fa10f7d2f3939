"""SIM swap background tasks, run by `python manage.py worker`."""

from django_tasks import task

from . import services


@task()
def check_sim_swap(check_ids: list[int]) -> None:
    """Ask AT for queued SIM swap checks."""
    services.send_queued(check_ids)
