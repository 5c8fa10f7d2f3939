"""`manage.py worker` as a process, on whichever backend is configured: a retry waits its time, then the
worker (RQ's scheduler with Redis) sends it, once."""

import os
import signal
import subprocess
import sys

import pytest
import requests
from django.conf import settings

from hub import queue
from hub.outbound import OutboundStatus
from hub.tests.test_end_to_end import _answers, database_url, free_port, wait_until
from sms.models import OutboundMessage
from sms.services import queue_sms

pytestmark = [pytest.mark.e2e, pytest.mark.queue, pytest.mark.django_db(transaction=True)]


def sent_by_sim(port: int) -> int:
    """Messages the simulator accepted (each notes its dropped delivery report)."""
    log = requests.get(f"http://127.0.0.1:{port}/phone/log", timeout=5).json()["log"]
    return len([line for line in log if "delivery reports of" in line])


@pytest.mark.parametrize("options", [[], ["--no-fork"]], ids=["forking", "no-fork"])
def test_a_send_that_never_reached_at_is_retried_by_the_worker_when_due(options):
    if options and not queue.uses_redis():
        pytest.skip("--no-fork is RQ's (TASKS_BACKEND=redis)")
    sim_port = free_port()
    env = {
        **os.environ,
        "AT_ENV_FILE": "",
        "DJANGO_SETTINGS_MODULE": "atproject.settings",
        "DATABASE_URL": database_url(),
        "DEBUG": "false",
        "SECRET_KEY": "queue-worker-tests",
        "AT_API_KEY": "k",
        "AT_API_URL": f"http://127.0.0.1:{sim_port}",  # nothing listens yet: refused, never reached AT
        "AT_RETRY_BACKOFF": "2",
        "LOG_LEVEL": "WARNING",
    }
    manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
    worker = subprocess.Popen(
        [*manage, "worker", "--interval", "0.1", "--no-startup-delay", *options],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    simulator = None
    try:
        queue_sms(["+254711000001"], "Hello")
        wait_until(
            lambda: OutboundMessage.objects.filter(attempts=1, status=OutboundStatus.QUEUED).exists(), 60, "try 1"
        )
        message = OutboundMessage.objects.get()
        assert "could not be reached" in message.last_error and message.next_attempt_at is not None
        simulator = subprocess.Popen(
            [*manage, "atsim", "--port", str(sim_port), "--api-key", "k", "--drop-delivery-reports", "--delay", "0"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: _answers(f"http://127.0.0.1:{sim_port}/phone/log"), 30, "the simulator")
        wait_until(lambda: OutboundMessage.objects.filter(status=OutboundStatus.SUBMITTED).exists(), 60, "the retry")
        message.refresh_from_db()
        assert message.attempts >= 2 and (message.last_error, message.next_attempt_at) == ("", None)
        wait_until(lambda: sent_by_sim(sim_port), 10, "the simulator's log")
        assert sent_by_sim(sim_port) == 1  # AT got it once
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=20)
        if simulator is not None and simulator.poll() is None:
            simulator.terminate()
            simulator.wait(timeout=10)
