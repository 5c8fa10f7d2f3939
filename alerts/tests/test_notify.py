"""Notifications: e-mail and a webhook POST on open and on resolve, through the task queue, retried with backoff,
every try recorded; a test button; nothing secret or personal in them.

The webhook receiver is a real HTTP server on loopback (http.server in a thread);
the worker is the real database worker (`hub.testing.run_worker`).
"""

import json
import socket
import threading
import time
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core import mail
from django.core.cache import cache
from django.utils import timezone

from alerts import incidents, notify
from alerts.models import AlertKind, AlertRule, Incident, NotificationAttempt
from hub.callbacks.payload import mask_phones_in
from hub.groups import OPERATORS, VIEWERS
from hub.models import BalanceSnapshot, SendFailure
from hub.testing import make_deferred_tasks_due, run_worker

SECRET_PATH = "/services/T0001/B0002/sEcReTpArT"


class Receiver:
    """A webhook receiver on 127.0.0.1: records every request; answers each with the next of `answers` (then 200).

    An answer is a status code, or (status, headers); "hang" holds the request until the test ends.
    """

    def __init__(self, answers=(), port: int = 0):
        self.answers = list(answers)
        self.requests: list[dict] = []
        self.released = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # http.server calls it so
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "raw": body,
                                          "json": json.loads(body or b"null")})  # fmt: skip
                answer = receiver.answers.pop(0) if receiver.answers else 200
                if answer == "hang":
                    receiver.released.wait(30)
                    return
                status, headers = answer if isinstance(answer, tuple) else (answer, {})
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{SECRET_PATH}"

    def states(self) -> list[str]:
        return [r["json"]["state"] for r in self.requests]

    def close(self):
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


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


@pytest.fixture(autouse=True)
def channels(settings):
    settings.AT_API_URL = "http://127.0.0.1:9"  # AT is never asked
    settings.AT_ALERT_EMAILS = ["ops@example.com", "oncall@example.com"]
    settings.AT_ALERT_WEBHOOK_URLS = []
    cache.clear()


def only_rule(kind=AlertKind.BALANCE_LOW, **values) -> AlertRule:
    """`kind`'s rule alone (no other rule speaks in these tests)."""
    AlertRule.objects.exclude(kind=kind).delete()
    defaults = {"name": "AT balance low", "threshold": Decimal(500), "enabled": True, "severity": "critical"}
    found, _ = AlertRule.objects.update_or_create(kind=kind, defaults={**defaults, **values})
    return found


def balance(amount):
    return BalanceSnapshot.objects.create(fetched_at=timezone.now(), amount=Decimal(amount), currency="KES")


def maintain():
    from io import StringIO

    from django.core.management import call_command

    call_command("maintain", stdout=StringIO())


@pytest.mark.django_db(transaction=True)
def test_a_webhook_gets_one_opened_and_one_resolved_and_email_goes_out(settings, receiver):
    settings.AT_ALERT_WEBHOOK_URLS = [receiver.url]
    only_rule()
    balance("120")
    maintain()
    run_worker()
    maintain()  # still low: the incident holds, nobody is told again
    run_worker()
    assert receiver.states() == ["opened"]
    opened = receiver.requests[0]["json"]
    incident = Incident.objects.get()
    assert opened["rule"] == "AT balance low" and opened["severity"] == "critical" and opened["key"] == "KES"
    assert opened["figures"]["balance"] == "120.0000" and opened["resolved_at"] is None
    assert opened["opened_at"] == incident.opened_at.isoformat()
    assert opened["text"].startswith("CRITICAL: AT balance low [KES]") and "below KES 500" in opened["text"]
    assert opened["link"] == incident.link and opened["link"].startswith("/admin/")  # no AT_PUBLIC_BASE_URL
    assert receiver.requests[0]["headers"]["Content-Type"] == "application/json"
    [email] = mail.outbox
    assert email.to == ["ops@example.com", "oncall@example.com"] and email.from_email == settings.DEFAULT_FROM_EMAIL
    assert "AT balance low" in email.subject and incident.link in email.body

    balance("5000")
    maintain()
    run_worker()
    assert receiver.states() == ["opened", "resolved"]
    resolved = receiver.requests[1]["json"]
    incident.refresh_from_db()
    assert resolved["resolved_at"] == incident.resolved_at.isoformat() and resolved["text"].startswith("RESOLVED")
    assert len(mail.outbox) == 2 and "RESOLVED" in mail.outbox[1].subject
    attempts = NotificationAttempt.objects.order_by("pk")
    assert [(a.event, a.channel, a.success) for a in attempts] == [
        ("opened", "email", True), ("opened", "webhook", True), ("resolved", "email", True),
        ("resolved", "webhook", True),
    ]  # fmt: skip
    assert attempts[1].status_code == 200
    assert attempts[1].target == "webhook 1: http://127.0.0.1/…"  # the secret path is not kept
    assert SECRET_PATH not in str(list(attempts.values()))


@pytest.mark.django_db(transaction=True)
def test_links_are_absolute_on_the_public_base_url_when_settings_have_one(settings, receiver):
    settings.AT_ALERT_WEBHOOK_URLS = [receiver.url]
    settings.AT_PUBLIC_BASE_URL = "https://hub.example.com/"
    only_rule()
    balance("120")
    incidents.evaluate()
    run_worker()
    body = receiver.requests[0]["json"]
    assert body["link"] == "https://hub.example.com" + Incident.objects.get().link
    assert body["incident_link"] == f"https://hub.example.com/admin/alerts/incident/{Incident.objects.get().pk}/change/"


@pytest.mark.django_db(transaction=True)
def test_a_receiver_that_was_down_gets_the_notice_on_a_later_try(settings):
    port = free_port()
    settings.AT_ALERT_EMAILS = []
    settings.AT_ALERT_WEBHOOK_URLS = [f"http://127.0.0.1:{port}{SECRET_PATH}"]
    only_rule()
    balance("120")
    incidents.evaluate()
    run_worker()  # nothing listens: refused
    [failed] = NotificationAttempt.objects.all()
    assert (failed.attempt, failed.success, failed.status_code) == (1, False, None)
    assert "ConnectionError" in failed.error and SECRET_PATH not in failed.error
    assert timedelta(minutes=3) < failed.next_attempt_at - failed.at <= timedelta(minutes=4, seconds=5)
    started = Receiver(port=port)
    try:
        run_worker()  # the retry is not due yet
        assert started.requests == []
        assert make_deferred_tasks_due() == 1
        run_worker()
    finally:
        started.close()
    assert started.states() == ["opened"]
    second = NotificationAttempt.objects.order_by("pk").last()
    assert (second.attempt, second.success, second.status_code) == (2, True, 200)


@pytest.mark.django_db(transaction=True)
def test_retries_back_off_and_give_up_after_the_last_try(settings):
    failing = Receiver(answers=[500] * 10)
    try:
        settings.AT_ALERT_EMAILS = []
        settings.AT_ALERT_WEBHOOK_URLS = [failing.url]
        only_rule()
        balance("120")
        incidents.evaluate()
        for _ in range(notify.MAX_ATTEMPTS + 2):
            run_worker()
            make_deferred_tasks_due()
    finally:
        failing.close()
    attempts = list(NotificationAttempt.objects.order_by("pk"))
    assert len(failing.requests) == len(attempts) == notify.MAX_ATTEMPTS == 5
    assert all(not a.success and a.status_code == 500 and a.error.startswith("HTTP 500") for a in attempts)
    waits = [round((a.next_attempt_at - a.at).total_seconds() / 60) for a in attempts[:-1]]
    assert waits == [4, 8, 16, 32]  # an hour in all
    assert attempts[-1].next_attempt_at is None
    assert make_deferred_tasks_due() == 0  # no further try waits


@pytest.mark.django_db(transaction=True)
def test_a_redirect_is_not_followed(settings, receiver):
    elsewhere = Receiver()
    try:
        redirecting = Receiver(answers=[(302, {"Location": elsewhere.url})] * 5)
        settings.AT_ALERT_EMAILS = []
        settings.AT_ALERT_WEBHOOK_URLS = [redirecting.url]
        only_rule()
        balance("120")
        incidents.evaluate()
        run_worker()
        redirecting.close()
    finally:
        elsewhere.close()
    [attempt] = NotificationAttempt.objects.all()
    assert (attempt.success, attempt.status_code) == (False, 302)
    assert elsewhere.requests == []


@pytest.mark.django_db(transaction=True)
def test_notifications_never_carry_the_api_key_the_webhook_token_or_a_phone_number(settings, receiver):
    settings.AT_API_KEY = "atsk_live_abcdef0123456789"
    settings.AT_ALERT_WEBHOOK_URLS = [receiver.url]
    only_rule(AlertKind.AT_SEND_FAILURES, name="AT refuses", window_minutes=15, min_count=1)
    error = (
        "AT answered 401 for +254711000001 (key atsk_live_abcdef0123456789) from "
        f"https://hub.example.com/api/sms/delivery-reports?token={settings.AT_WEBHOOK_TOKEN[0]}"
    )
    SendFailure.objects.create(at=timezone.now(), product="sms.OutboundMessage", outcome="rejected", rows=1,
                               http_status=401, error=error)  # fmt: skip
    incidents.evaluate()
    run_worker()
    raw = receiver.requests[0]["raw"].decode() + mail.outbox[0].body + mail.outbox[0].subject
    for secret in ("+254711000001", "atsk_live_abcdef0123456789", settings.AT_WEBHOOK_TOKEN[0], SECRET_PATH):
        assert secret not in raw
    assert mask_phones_in("+254711000001") in receiver.requests[0]["json"]["figures"]["last_error"]


@pytest.mark.django_db(transaction=True)
def test_phone_numbers_are_told_when_at_log_pii_is_on(settings, receiver):
    settings.AT_LOG_PII = True
    settings.AT_ALERT_WEBHOOK_URLS = [receiver.url]
    only_rule(AlertKind.AT_SEND_FAILURES, name="AT refuses", window_minutes=15, min_count=1)
    SendFailure.objects.create(at=timezone.now(), product="sms.OutboundMessage", outcome="rejected", rows=1,
                               http_status=401, error="AT answered 401 for +254711000001")  # fmt: skip
    incidents.evaluate()
    run_worker()
    assert "+254711000001" in receiver.requests[0]["json"]["figures"]["last_error"]


def staff(name, group):
    user = get_user_model().objects.create_user(name, f"{name}@example.com", "pw", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


@pytest.mark.django_db
def test_the_test_button_sends_to_every_channel_and_shows_each_answer(settings, client, receiver):
    down = f"http://127.0.0.1:{free_port()}/hooks/secret-two"
    settings.AT_ALERT_WEBHOOK_URLS = [receiver.url, down]
    client.force_login(staff("olive", OPERATORS))
    listing = client.get("/admin/alerts/alertrule/")
    assert b"Send a test notification" in listing.content
    page = client.get("/admin/alerts/alertrule/test-notification/")
    assert page.status_code == 200
    assert "ops@example.com, oncall@example.com" in page.content.decode()
    assert "webhook 1: http://127.0.0.1/…" in page.content.decode() and SECRET_PATH not in page.content.decode()
    assert receiver.requests == [] and mail.outbox == []  # nothing sent by looking
    sent = client.post("/admin/alerts/alertrule/test-notification/", {"confirm": "yes"})
    content = sent.content.decode()
    assert receiver.states() == ["test"] and receiver.requests[0]["json"]["text"].startswith("Test notification")
    assert len(mail.outbox) == 1 and mail.outbox[0].subject == "[AT hub] Test notification"
    assert 'id="test-results"' in content and "ConnectionError" in content and "secret-two" not in content
    results = list(NotificationAttempt.objects.order_by("pk").values_list("event", "channel", "success"))
    assert results == [("test", "email", True), ("test", "webhook", True), ("test", "webhook", False)]
    assert "2 of 3 channels answered" in content


@pytest.mark.django_db
def test_viewers_have_no_test_button(client):
    client.force_login(staff("victor", VIEWERS))
    assert b"Send a test notification" not in client.get("/admin/alerts/alertrule/").content
    assert client.get("/admin/alerts/alertrule/test-notification/").status_code == 403


@pytest.mark.django_db
def test_a_webhook_that_does_not_answer_is_given_up_on_after_the_read_timeout(settings):
    hanging = Receiver(answers=["hang"])
    try:
        settings.AT_ALERT_EMAILS = []
        settings.AT_ALERT_WEBHOOK_URLS = [hanging.url]
        started = time.monotonic()
        [attempt] = notify.send_test()
        elapsed = time.monotonic() - started
    finally:
        hanging.close()
    assert not attempt.success and "Timeout" in attempt.error
    assert notify.READ_TIMEOUT - 0.5 < elapsed < notify.READ_TIMEOUT + 3
