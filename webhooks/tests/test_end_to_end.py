"""The done-when, end to end: the web server, task workers and the AT simulator as real processes. A receiver
registered for `sms.delivered` gets one correctly signed event per delivered message of a 1,000-recipient send,
although it was down during part of the send and the worker was killed mid-way."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from standardwebhooks import Webhook

from hub.outbound import OutboundStatus
from hub.tests.test_end_to_end import _answers, database_url, free_port, stack_env, wait_until
from sms.models import OutboundMessage

from .conftest import Receiver

pytestmark = [pytest.mark.e2e, pytest.mark.queue, pytest.mark.django_db(transaction=True)]

API_KEY = "e2e-simulator-key"
BASE_DIR = Path(settings.BASE_DIR)
RECIPIENTS = 1000


def _statuses() -> str:
    from django.db.models import Count

    counts = OutboundMessage.objects.values("status").annotate(n=Count("pk"))
    return ", ".join(f"{r['status']}: {r['n']}" for r in counts)


def test_every_delivered_message_of_a_1000_recipient_send_reaches_a_receiver_down_for_a_while(django_db_blocker):
    web_port, sim_port, receiver_port = free_port(), free_port(), free_port()
    with django_db_blocker.unblock():
        env = stack_env(
            database_url(), web_port, sim_port,
            AT_API_KEY=API_KEY,
            AT_EVENTS_ALLOW_PRIVATE="true",
            AT_EVENTS_CONNECT_TIMEOUT="0.5",
            AT_EVENTS_READ_TIMEOUT="1",
        )  # fmt: skip
    manage = [sys.executable, str(BASE_DIR / "manage.py")]
    worker = [*manage, "worker", "--interval", "0.1", "--no-startup-delay"]
    simulator = [*manage, "atsim", "--port", str(sim_port), "--project-url", f"http://127.0.0.1:{web_port}",
                 "--api-key", API_KEY, "--delay", "1", "--failure-rate", "0"]  # fmt: skip

    def start(command):
        return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    # `maintain` as in production: it replays callbacks spooled while the database was too busy, and sweeps.
    processes = [start([str(BASE_DIR / "scripts" / "serve")]), start(simulator), start(worker),
                 start([*manage, "maintain", "--every", "5"])]  # fmt: skip
    receiver = None
    try:
        for port, path in ((web_port, "/healthz"), (sim_port, "/phone/log")):
            wait_until(lambda p=port, q=path: _answers(f"http://127.0.0.1:{p}{q}"), 60, f"port {port}")
        user = get_user_model().objects.create_superuser("e2e", "", "pw")
        api = requests.Session()
        api.headers["Authorization"] = f"Token {Token.objects.create(user=user).key}"
        web = f"http://127.0.0.1:{web_port}"
        registered = api.post(f"{web}/api/v1/webhook-endpoints/", timeout=10, json={
            "url": f"http://127.0.0.1:{receiver_port}/atproject", "events": ["sms.delivered"]})  # fmt: skip
        assert registered.status_code == 201, registered.text
        secret = registered.json()["secret"]
        phones = ",".join(f"+2547{20000000 + n:08d}" for n in range(RECIPIENTS))
        sent = api.post(f"{web}/api/sms/invoke-bulk-sms", data={"phone": phones, "message": "Hello"}, timeout=60)
        assert sent.status_code == 202, sent.text

        def delivered() -> int:
            return OutboundMessage.objects.filter(status=OutboundStatus.DELIVERED).count()

        # The receiver is down while the first reports arrive; then up.
        wait_until(lambda: delivered() >= 200, 120, "200 delivered messages")
        receiver = Receiver(port=receiver_port)
        # The worker is killed while it delivers; another one takes over.
        wait_until(lambda: len(receiver.requests) >= 100, 120, "100 events received")
        processes[2].send_signal(signal.SIGKILL)
        processes[2].wait(timeout=10)
        processes[2] = start(worker)
        unsettled = [OutboundStatus.DELIVERED, OutboundStatus.SENT, OutboundStatus.SUBMITTED]

        def settled() -> int:
            n = delivered()
            return n if n + OutboundMessage.objects.exclude(status__in=unsettled).count() >= RECIPIENTS else 0

        try:
            final = wait_until(settled, 180, "every message's final report")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; messages by status: {_statuses()}") from None
        wanted = set(OutboundMessage.objects.filter(status=OutboundStatus.DELIVERED).values_list("pk", flat=True))
        assert final == len(wanted) > RECIPIENTS * 0.9

        def received() -> set:
            return {Webhook(secret).verify(r["raw"], r["headers"])["data"]["id"] for r in list(receiver.requests)}

        wait_until(lambda: received() >= wanted, 240, "an event for every delivered message")
        time.sleep(2)  # nothing more comes but repeats of what was sent as the worker died
        requests_seen = list(receiver.requests)
        ids = {r["headers"]["webhook-id"] for r in requests_seen}
        assert len(ids) == len(wanted)  # one event per delivered message...
        assert received() == wanted  # ... each correctly signed, about that message
        assert len(requests_seen) - len(ids) <= 20  # at least once: at most the dead worker's batch came twice
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)
        if receiver is not None:
            receiver.close()
