"""The one seam to the task queue (hub.queue): one way to enqueue a send, the sweeper for rows no task carries.

Runs on the configured backend: the database (default) or, with TASKS_BACKEND=redis, a real Redis.
"""

from datetime import timedelta

import pytest
import responses
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from airtime.models import AirtimeTransaction
from hub import maintenance, queue
from hub.outbound import OutboundStatus
from hub.testing import clear_tasks, make_deferred_tasks_due, queued_tasks, run_worker
from simswap.models import SimSwapCheck
from sms.models import OutboundMessage
from sms.services import queue_sms
from voice.models import OutboundCall

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.queue]


@pytest.fixture
def at_sms(settings):
    """AT's SMS API answering every send with success."""
    settings.AT_API_URL = "http://at.stub"
    with responses.RequestsMock() as mock:
        mock.post("http://at.stub/version1/messaging", json=ACCEPTED)
        yield mock


ACCEPTED = {
    "SMSMessageData": {
        "Recipients": [
            {"statusCode": 101, "number": "+254711000001", "status": "Success", "cost": "KES 0.8", "messageId": "m1"}
        ]
    }
}


@pytest.mark.parametrize("model", [OutboundMessage, OutboundCall, AirtimeTransaction, SimSwapCheck])
def test_every_model_knows_its_task_by_dotted_path(model):
    assert model.task().module_path == model.send_task


def test_enqueue_puts_one_task_with_the_ids_on_the_queue():
    OutboundMessage.enqueue([3, 1, 2])
    OutboundMessage.enqueue([])  # nothing to send: no task
    (task,) = queued_tasks()
    assert (task.task_path, task.args, task.status) == ("sms.tasks.send_sms", [[3, 1, 2]], "READY")


def test_a_retry_waits_until_its_time():
    later = timezone.now() + timedelta(minutes=5)
    OutboundMessage.enqueue([1], after=later)
    (task,) = queued_tasks()
    assert abs((task.run_after - later).total_seconds()) < 1
    assert queue.depth()["deferred"] == 1 and queue.depth()["waiting"] == 0


def test_a_rolled_back_send_leaves_no_task():
    with pytest.raises(RuntimeError), transaction.atomic():
        queue_sms(["+254711000001"], "Hello")
        raise RuntimeError("the request failed after queueing")
    assert OutboundMessage.objects.count() == 0
    assert queued_tasks() == []


def test_the_sweeper_enqueues_a_row_left_queued_with_no_task_after_the_grace(settings):
    settings.AT_SWEEP_AFTER_SECONDS = 60
    queue_sms(["+254711000001"], "lost")
    lost = OutboundMessage.objects.get()
    clear_tasks()  # as if the queue lost the task (a publish Redis missed)
    queue_sms(["+254711000002"], "carried")  # its task waits
    carried = OutboundMessage.objects.get(text="carried")
    OutboundMessage.objects.update(created_at=timezone.now() - timedelta(seconds=61))

    call_command("maintain")
    args = [t.args[0] for t in queued_tasks() if t.task_path == "sms.tasks.send_sms"]
    assert sorted(args) == sorted([[carried.pk], [lost.pk]])  # the lost row once more, the carried one not
    call_command("maintain")  # the lost row is carried now: not enqueued a third time
    assert len([t for t in queued_tasks() if t.task_path == "sms.tasks.send_sms"]) == 2


def test_the_sweeper_leaves_rows_within_the_grace_and_retries_not_yet_due(settings):
    settings.AT_SWEEP_AFTER_SECONDS = 60
    queue_sms(["+254711000001"], "fresh")
    queue_sms(["+254711000002"], "retry later")
    clear_tasks()  # as if the queue lost the task (a publish Redis missed)
    OutboundMessage.objects.filter(text="retry later").update(
        created_at=timezone.now() - timedelta(hours=1), next_attempt_at=timezone.now() - timedelta(seconds=30)
    )
    assert maintenance.sweep() == {}
    OutboundMessage.objects.filter(text="retry later").update(next_attempt_at=timezone.now() - timedelta(seconds=61))
    assert maintenance.sweep() == {"sms.OutboundMessage": 1}


def test_a_swept_row_is_sent_once(settings, at_sms):
    settings.AT_SWEEP_AFTER_SECONDS = 10
    queue_sms(["+254711000001"], "Hello")
    clear_tasks()  # as if the queue lost the task (a publish Redis missed)
    OutboundMessage.objects.update(created_at=timezone.now() - timedelta(seconds=11))
    assert maintenance.sweep() == {"sms.OutboundMessage": 1}
    OutboundMessage.enqueue(OutboundMessage.objects.values_list("pk", flat=True))  # and a duplicate
    run_worker()
    message = OutboundMessage.objects.get()
    assert (message.status, message.attempts) == (OutboundStatus.SUBMITTED, 1)
    assert len(at_sms.calls) == 1


def test_maintain_moves_retries_that_are_due_to_the_queue_even_with_no_scheduler():
    OutboundMessage.enqueue([1], after=timezone.now() + timedelta(minutes=5))
    call_command("maintain")
    assert queue.depth()["deferred"] == 1  # not due yet: left waiting
    make_deferred_tasks_due()
    call_command("maintain")
    (task,) = [t for t in queued_tasks() if t.task_path == "sms.tasks.send_sms"]
    assert task.status == "READY"
    assert queue.depth()["deferred"] == 0
