"""SMS background tasks, run by `python manage.py worker`."""

from django_tasks import task

from . import services


@task()
def send_sms(message_ids: list[int]) -> None:
    """Send queued outbound messages to AT (one request per sender and text)."""
    services.send_queued(message_ids)
