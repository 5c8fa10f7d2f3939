"""Airtime background tasks, run by `python manage.py worker`."""

from django_tasks import task

from . import services


@task()
def send_airtime(transaction_ids: list[int]) -> None:
    """Send queued airtime transactions to AT, one request each (each with its own idempotency key)."""
    for transaction_id in transaction_ids:
        services.send_queued(transaction_id)
