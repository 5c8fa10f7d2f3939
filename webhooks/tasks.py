"""Webhook tasks, run by `python manage.py worker`."""

from django_tasks import task

from . import delivery


@task()
def dispatch() -> None:
    """Fan the events written since the last run out into deliveries, and wake their endpoints."""
    delivery.dispatch()


@task()
def deliver(endpoint_id: int) -> None:
    """Send the endpoint's due deliveries, oldest first; then schedule its next retry."""
    delivery.deliver_due(endpoint_id)
