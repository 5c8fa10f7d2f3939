"""A real webhook receiver on loopback (http.server in a thread), endpoints registered for it, and the steps
of time a retry waits for."""

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from hub.testing import make_deferred_tasks_due, run_worker
from sms.tests.conftest import stub_at  # noqa: F401 - AT's SMS API answered by `responses`
from webhooks import outbox
from webhooks.models import Delivery, DeliveryStatus, Endpoint


class Receiver:
    """Records every POST; answers each with the next of `answers` (a status, or (status, headers, body)), then 200."""

    def __init__(self, answers=(), port: int = 0):
        self.answers = list(answers)
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # http.server calls it so
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "raw": body})
                answer = receiver.answers.pop(0) if receiver.answers else 200
                status, headers, text = answer if isinstance(answer, tuple) else (answer, {}, b"ok")
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            do_GET = do_POST

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/atproject?team=ops"

    def bodies(self) -> list[dict]:
        return [json.loads(r["raw"]) for r in self.requests]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def fresh_outbox(settings):
    """Loopback receivers allowed; nothing a test learnt about wanted types or wake-ups kept for the next."""
    settings.AT_EVENTS_ALLOW_PRIVATE = True
    settings.AT_EVENTS_READ_TIMEOUT = 2
    outbox.forget_wanted_types()
    outbox.reset_kick()
    yield
    outbox.forget_wanted_types()
    outbox.reset_kick()


@pytest.fixture
def receiver():
    started = Receiver()
    yield started
    started.close()


def free_port() -> int:
    """A loopback port nothing listens on (yet)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def endpoint_for(url: str, *events: str) -> Endpoint:
    return Endpoint.objects.create(url=url, events=list(events))


def deliver_all() -> None:
    """The worker runs until nothing is due, the dispatcher's one-second wait included."""
    for _ in range(3):
        outbox.reset_kick()  # the dispatcher ran early (its second made due now): later events wake it again
        make_deferred_tasks_due()
        run_worker()


def retries_come_due() -> None:
    """Time passes: every waiting retry is due now."""
    Delivery.objects.filter(status=DeliveryStatus.PENDING).update(next_attempt_at=timezone.now())
    deliver_all()
