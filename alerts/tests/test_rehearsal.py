"""The issue's "done when", end to end: incidents rehearsed with the simulator reach a real webhook receiver.

The web server (scripts/serve), a task worker and the simulator (`atsim`) run
as processes over the test database, as in hub/tests/test_end_to_end.py (whose
helpers and `api` fixture are reused); `manage.py maintain` runs as a process,
one pass at a time, with AT_ALERT_WEBHOOK_URLS pointing at a receiver on
loopback that records every JSON body it is posted. The simulator is switched
through its `/control` endpoint: dropping delivery reports, refusing the API
key, failing every message, and back to normal. Each rule opens one incident
(one "opened" notice) in the first pass after its window, holds it without a
second notice, and sends one "resolved" once the simulator is back to normal.
"""

import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from django.conf import settings

from alerts.models import AlertKind, AlertRule, Scope
from hub.models import RefusedCallback, SendFailure
from hub.outbound import OutboundStatus
from hub.tests import test_end_to_end as e2e
from hub.tests.test_end_to_end import _answers, database_url, free_port, invoke, stack_env, wait_until
from sms.models import OutboundMessage

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

API_KEY = "e2e-rehearsal-key"
BASE_DIR = Path(settings.BASE_DIR)
WRONG_TOKEN = "an-old-token-from-the-tunnel"

#: hub's fixture (the demo rows and an invoke API token), over the `stack` below.
api = e2e.api


class Receiver:
    """A webhook receiver on loopback (a Slack incoming webhook's stand-in): every JSON body posted to it."""

    def __init__(self):
        self.bodies: list[dict] = []
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                bodies.append(json.loads(raw))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T000/B000/secretpart"

    def notices(self) -> list[tuple[str, str, str]]:
        return [(b["kind"], b["key"], b["state"]) for b in self.bodies]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def receiver():
    found = Receiver()
    yield found
    found.close()


@pytest.fixture(scope="module")
def stack(django_db_setup, django_db_blocker, receiver):
    """The project, a worker and the simulator as processes; the alerts' webhook is the receiver. Named as the
    stack of hub's end-to-end tests, so that its `api` fixture runs over this one."""
    web_port, sim_port = free_port(), free_port()
    with django_db_blocker.unblock():
        env = stack_env(
            database_url(), web_port, sim_port,
            AT_API_KEY=API_KEY,
            AT_ALERT_WEBHOOK_URLS=receiver.url,
            AT_ALERT_EMAILS="",
        )  # fmt: skip
    manage = [sys.executable, str(BASE_DIR / "manage.py")]
    sim = [*manage, "atsim", "--port", str(sim_port), "--project-url", f"http://127.0.0.1:{web_port}"]
    commands = [
        [str(BASE_DIR / "scripts" / "serve")],
        [*manage, "worker", "--interval", "0.1", "--no-startup-delay"],
        [*sim, "--api-key", API_KEY, "--delay", "0.2", "--failure-rate", "0"],
    ]
    processes = [subprocess.Popen(c, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for c in commands]
    try:
        for port, path in ((web_port, "/healthz"), (sim_port, "/phone/log")):
            wait_until(lambda p=port, q=path: _answers(f"http://127.0.0.1:{p}{q}"), 30, f"port {port}")
        yield {
            "web": f"http://127.0.0.1:{web_port}",
            "sim": f"http://127.0.0.1:{sim_port}",
            "env": env,
            "manage": manage,
        }
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)


@pytest.fixture
def rehearsal(stack, receiver):
    """The rules under test only (none of the migration's), nothing received yet; the simulator normal after."""
    AlertRule.objects.all().delete()
    receiver.bodies.clear()
    yield stack
    switch(stack, drop_delivery_reports=False, refuse_api_key=False, failure_rate=0)


def switch(stack, **switches) -> dict:
    answer = requests.post(f"{stack['sim']}/control", json=switches, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def maintain(stack) -> str:
    """One maintenance pass, as cron runs it."""
    done = subprocess.run(
        [*stack["manage"], "maintain"], env=stack["env"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def rule(kind, **values) -> AlertRule:
    return AlertRule.objects.create(name=f"rehearsal {kind}", kind=kind, enabled=True, **values)


def received(receiver, expected: list[tuple[str, str, str]], what: str) -> None:
    """The receiver got exactly `expected` (in any order) and nothing more, a moment later still."""
    wait_until(lambda: len(receiver.bodies) >= len(expected), 20, what)
    time.sleep(1.5)  # a second notice would have come by now (the worker polls every 0.1 s)
    assert sorted(receiver.notices()) == sorted(expected), what


def sms_status(status) -> int:
    return OutboundMessage.objects.filter(status=status).count()


def test_dropped_delivery_reports_a_refused_api_key_and_a_wrong_token_each_open_one_incident_then_resolve(
    rehearsal, receiver, api
):
    stack = rehearsal
    rule(AlertKind.AT_SEND_FAILURES, window_minutes=1, min_count=1)
    rule(AlertKind.REFUSED_CALLBACKS, window_minutes=1, threshold=0)
    rule(AlertKind.STUCK_SENT, window_minutes=1, min_count=2)
    rule(AlertKind.CALLBACK_SILENCE, window_minutes=1, min_count=2)

    # AT refuses our API key: the send is refused with AT's 401.
    assert switch(stack, refuse_api_key=True)["refuse_api_key"] is True
    invoke(api, "/api/sms/invoke-bulk-sms", phone="+254711000001", message="Refused")
    wait_until(lambda: SendFailure.objects.filter(http_status=401).exists(), what="the refused send")
    # AT's dashboard points at an old URL: callbacks come with a wrong token.
    for _ in range(3):
        refused = requests.post(
            f"{stack['web']}/api/sms/delivery-reports?token={WRONG_TOKEN}", data={"id": "ATXid_x"}, timeout=10
        )
        assert refused.status_code == 403
    assert sum(RefusedCallback.objects.values_list("count", flat=True)) == 3
    maintain(stack)
    received(
        receiver,
        [("at_send_failures", "credentials", "opened"), ("refused_callbacks", "/api/sms/delivery-reports", "opened")],
        "the refused key's and the wrong token's incidents",
    )

    # The key works again; now AT takes sends and never reports on them.
    switch(stack, refuse_api_key=False, drop_delivery_reports=True)
    invoke(api, "/api/sms/invoke-bulk-sms", phone="+254711000002,+254711000003", message="Never reported")
    wait_until(lambda: sms_status(OutboundStatus.SUBMITTED) == 2, what="two submitted messages")
    submitted_at = time.monotonic()
    wait_until(lambda: requests.get(f"{stack['sim']}/control", timeout=5).json()["held_reports"] == 2)
    maintain(stack)  # within the window: stuck and silence are not yet; the two incidents hold
    received(receiver, [(b["kind"], b["key"], b["state"]) for b in receiver.bodies], "nothing new within the window")
    assert len(receiver.bodies) == 2

    # One pass after the window: stuck and silent; the refusals and the 401 of a minute ago have cleared.
    time.sleep(max(0.0, 61 - (time.monotonic() - submitted_at)))
    assert sms_status(OutboundStatus.SUBMITTED) == 2  # not one report came
    maintain(stack)
    received(
        receiver,
        [
            ("at_send_failures", "credentials", "opened"),
            ("refused_callbacks", "/api/sms/delivery-reports", "opened"),
            ("at_send_failures", "credentials", "resolved"),
            ("refused_callbacks", "/api/sms/delivery-reports", "resolved"),
            ("stuck_sent", "sms", "opened"),
            ("callback_silence", "sms", "opened"),
        ],
        "stuck and silence opened, the refusals resolved",
    )
    maintain(stack)  # they hold: nobody is told twice
    received(receiver, receiver.notices(), "held")
    assert len(receiver.bodies) == 6

    # Back to normal: the reports come (the held ones, late) and the next send is reported as usual.
    switch(stack, drop_delivery_reports=False, release_held=True)
    invoke(api, "/api/sms/invoke-bulk-sms", phone="+254711000004", message="Reported")
    wait_until(lambda: sms_status(OutboundStatus.DELIVERED) == 3, what="three delivered messages")
    maintain(stack)
    received(
        receiver,
        [
            ("at_send_failures", "credentials", "opened"),
            ("refused_callbacks", "/api/sms/delivery-reports", "opened"),
            ("at_send_failures", "credentials", "resolved"),
            ("refused_callbacks", "/api/sms/delivery-reports", "resolved"),
            ("stuck_sent", "sms", "opened"),
            ("callback_silence", "sms", "opened"),
            ("stuck_sent", "sms", "resolved"),
            ("callback_silence", "sms", "resolved"),
        ],
        "stuck and silence resolved",
    )

    # What a Slack or Teams webhook shows, and what never leaves.
    for body in receiver.bodies:
        assert body["text"] and body["link"] and body["opened_at"]
        sent = json.dumps(body)
        for secret in (API_KEY, settings.AT_WEBHOOK_TOKEN[0], WRONG_TOKEN, "secretpart"):
            assert secret not in sent
        for number in ("+254711000002", "254711000003"):
            assert number not in sent
    silence = next(b for b in receiver.bodies if b["kind"] == "callback_silence" and b["state"] == "opened")
    assert "/api/sms/delivery-reports" in silence["summary"] and silence["figures"]["submitted"] == 2
    stuck = next(b for b in receiver.bodies if b["kind"] == "stuck_sent" and b["state"] == "opened")
    assert stuck["figures"]["messages"] == 2


def test_every_message_failed_opens_the_failure_rate_incident_and_normal_sends_resolve_it(rehearsal, receiver, api):
    stack = rehearsal
    rule(AlertKind.SMS_FAILURE_RATE, window_minutes=60, min_count=2, threshold=50, scope=Scope.OVERALL)
    switch(stack, failure_rate=1)
    invoke(api, "/api/sms/invoke-bulk-sms", phone="+254711000011,+254711000012", message="Fails")
    wait_until(lambda: sms_status(OutboundStatus.FAILED) == 2, what="two failed messages")
    maintain(stack)
    received(receiver, [("sms_failure_rate", "overall", "opened")], "the failure rate's incident")
    assert receiver.bodies[0]["figures"]["failure_rate_percent"] == 100.0
    maintain(stack)
    received(receiver, [("sms_failure_rate", "overall", "opened")], "held")

    switch(stack, failure_rate=0)  # back to normal: 2 failed of 5 is 40%, under the threshold
    invoke(api, "/api/sms/invoke-bulk-sms", phone="+254711000014,+254711000015,+254711000016", message="Fine")
    wait_until(lambda: sms_status(OutboundStatus.DELIVERED) == 3, what="three delivered messages")
    maintain(stack)
    received(
        receiver,
        [("sms_failure_rate", "overall", "opened"), ("sms_failure_rate", "overall", "resolved")],
        "the failure rate's resolution",
    )
