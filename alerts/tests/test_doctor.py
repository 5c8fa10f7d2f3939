"""The set-up doctor: each check's OK / WARNING / ERROR, the callback URLs, the self-test through a real server,
the command's exit status and the superusers' admin page.

AT's HTTP API is replaced by `responses`; the self-test posts through real HTTP servers on loopback
(pytest-django's live server in a thread; the production server as a process for the done-when case).
"""

import hashlib
import os
import subprocess
import sys
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import responses
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from alerts import doctor
from hub import queue
from hub.callbacks.registry import kinds
from hub.callbacks.views import CallbackView
from hub.models import BalanceSnapshot
from hub.testing import load_payload, post_callback
from hub.tests import test_end_to_end as e2e
from hub.tests.test_gateway import refused_connection
from sms.models import InboundMessage, OutboundBatch, OutboundMessage
from voice.models import Call

SANDBOX_USER = "https://api.sandbox.africastalking.com/version1/user"
LIVE_USER = "https://api.africastalking.com/version1/user"
GOOD_TOKEN = "Zq3xV8pL2mN9rT5wY7bC1dF4gH6jK0s"
#: The end-to-end tests' fixture: the production server, a worker and the simulator as processes.
stack = e2e.stack


@pytest.fixture(autouse=True)
def sane_settings(settings):
    """A deployment that is right in every respect; each test breaks one thing."""
    settings.AT_USERNAME = "sandbox"
    settings.AT_API_KEY = "atsk_doctor_test_key"
    settings.AT_API_URL = ""
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["hub.example.com", "testserver", "127.0.0.1", "localhost"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://hub.example.com"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = False
    settings.AT_WEBHOOK_TOKEN = [GOOD_TOKEN]
    settings.AT_SENDER_ID = "ACME"
    settings.AT_SHORTCODE = "8995"
    settings.AT_VOICE_NUMBER = "+254711082000"
    settings.AT_ALERT_EMAILS = ["ops@example.com"]
    settings.AT_ALERT_WEBHOOK_URLS = []
    settings.AT_METRICS_TOKEN = ""
    cache.clear()
    return settings


@pytest.fixture
def at_balance():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(SANDBOX_USER, json={"UserData": {"balance": "KES 1234.5000"}})
        mock.get(LIVE_USER, json={"UserData": {"balance": "KES 99.0000"}})
        yield mock


def lines(report, level=None, topic=None):
    return [
        line
        for line in report.lines
        if (level is None or line.level == level) and (topic is None or line.topic.startswith(topic))
    ]


def only(report, topic):
    found = lines(report, topic=topic)
    assert len(found) == 1, [str(x) for x in report.lines]
    return found[0]


# --- A sound deployment --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_sound_deployment_has_no_error_and_lists_every_callback_url(at_balance, settings):
    settings.AT_USERNAME = "acme"
    BalanceSnapshot.objects.create(fetched_at=timezone.now(), amount="99", currency="KES")  # maintain runs
    queue.note_worker_seen()
    report = doctor.run("https://hub.example.com")
    assert not report.failed, [x for x in report.lines if x.level != doctor.OK]
    assert lines(report, doctor.WARNING) == []
    assert "the live account 'acme'; balance KES 99.0000" in only(report, "AT credentials").text
    urls = {u.kind: u for u in report.callback_urls}
    assert set(urls) == set(kinds())
    assert urls["sms.delivery-reports"].url == f"https://hub.example.com/api/sms/delivery-reports?token={GOOD_TOKEN}"
    assert urls["sms.delivery-reports"].field == "SMS → Settings → Delivery Reports"
    assert urls["ussd.session"].url.startswith("https://hub.example.com/api/ussd/session?token=")
    assert not urls["ussd.session"].passive and urls["ussd.status"].passive


# --- AT's credentials (AT answered by `responses`) --------------------------------------------------------


@pytest.mark.django_db
def test_the_balance_call_goes_through_the_gateway_to_the_sandbox(at_balance):
    report = doctor.run()
    line = only(report, "AT credentials")
    assert line.level == doctor.OK and "sandbox" in line.text and "KES 1234.5000" in line.text
    call = at_balance.calls[0]
    assert call.request.url.startswith(SANDBOX_USER) and "username=sandbox" in call.request.url
    assert call.request.headers["apiKey"] == "atsk_doctor_test_key"


@pytest.mark.django_db
def test_a_sandbox_username_with_a_live_key_is_an_error_saying_so():
    with responses.RequestsMock() as mock:
        mock.get(SANDBOX_USER, body="The supplied authentication is invalid", status=401)
        report = doctor.run()
    line = only(report, "AT credentials")
    assert line.level == doctor.ERROR
    assert "not a sandbox key" in line.text and "set AT_USERNAME to that app's username" in line.todo


@pytest.mark.django_db
def test_a_live_username_with_a_sandbox_key_is_an_error_saying_so(settings):
    settings.AT_USERNAME = "acme"
    with responses.RequestsMock() as mock:
        mock.get(LIVE_USER, body="The supplied authentication is invalid", status=401)
        report = doctor.run()
    line = only(report, "AT credentials")
    assert line.level == doctor.ERROR and "'acme'" in line.text
    assert "A sandbox key needs AT_USERNAME=sandbox" in line.todo


@pytest.mark.django_db
def test_the_command_tells_a_sandbox_key_given_with_a_live_username(settings, capsys):
    settings.AT_USERNAME = "acme"
    with responses.RequestsMock() as mock:
        mock.get(LIVE_USER, body="The supplied authentication is invalid", status=401)
        mock.get(SANDBOX_USER, json={"UserData": {"balance": "KES 100.0000"}})
        with pytest.raises(CommandError):
            call_command("doctor")
        assert "username=sandbox" in mock.calls[1].request.url
    out = capsys.readouterr().out
    assert "AT_API_KEY is a sandbox key (AT's sandbox accepts it), but AT_USERNAME is the live 'acme'" in out
    assert settings.AT_USERNAME == "acme"  # as it was


@pytest.mark.django_db
def test_a_refused_key_first_seen_minutes_ago_is_said_to_be_within_the_activation_delay(settings):
    settings.AT_USERNAME = "acme"
    with responses.RequestsMock() as mock:
        mock.get(LIVE_USER, body="The supplied authentication is invalid", status=401)
        first = only(doctor.run(), "AT credentials")
        assert "If you created this key in the last 20 minutes" in first.todo
        # Seen 5 minutes ago (the fingerprint's time moved back), refused again.
        key = doctor.KEY_SEEN_PREFIX + hashlib.sha256(b"atsk_doctor_test_key").hexdigest()[:16]
        cache.set(key, (timezone.now() - timedelta(minutes=5)).isoformat(), timeout=None)
        second = only(doctor.run(), "AT credentials")
        cache.set(key, (timezone.now() - timedelta(minutes=45)).isoformat(), timeout=None)
        third = only(doctor.run(), "AT credentials")
    assert second.level == doctor.ERROR and "first seen 5 min ago: AT may still be activating it" in second.text
    assert "run the doctor again after" in second.todo
    assert "activating" not in third.text and "run the doctor again" not in third.todo


@pytest.mark.django_db
def test_at_unreachable_and_a_missing_key_are_errors(settings):
    with responses.RequestsMock() as mock:
        mock.get(SANDBOX_USER, body=refused_connection(SANDBOX_USER))
        unreachable = only(doctor.run(), "AT credentials")
    assert unreachable.level == doctor.ERROR and "AT could not be reached" in unreachable.text
    settings.AT_API_KEY = ""
    missing = only(doctor.run(), "AT credentials")  # no request: `responses` is off and nothing is called
    assert missing.level == doctor.ERROR and "AT_API_KEY is not set" in missing.text


@pytest.mark.django_db
def test_the_sandbox_or_a_simulator_in_production_is_a_warning(at_balance, settings):
    report = doctor.run()
    assert only(report, "AT account").level == doctor.WARNING  # sandbox with DEBUG off
    settings.AT_API_URL = "http://127.0.0.1:9"
    with responses.RequestsMock() as mock:
        mock.get("http://127.0.0.1:9/version1/user", json={"UserData": {"balance": "KES 5.0000"}})
        report = doctor.run()
    assert only(report, "AT host").level == doctor.WARNING and "127.0.0.1:9" in only(report, "AT host").text


# --- Senders for the products in use -----------------------------------------------------------------------


def an_sms(**fields):
    batch = OutboundBatch.objects.create(source="api", text="Hi")
    return OutboundMessage.objects.create(batch=batch, phone="+254711000001", text="Hi", **fields)


@pytest.mark.django_db
def test_senders_are_errors_only_for_the_products_in_use(at_balance, settings, client):
    settings.AT_SENDER_ID = settings.AT_SHORTCODE = settings.AT_VOICE_NUMBER = ""
    report = doctor.run()
    assert [only(report, t).level for t in ("Sender id", "Shortcode", "Voice number")] == [doctor.OK] * 3

    an_sms()
    post_callback(client, "/api/sms/twoway", load_payload("sms", "inbound_message"), token_value=GOOD_TOKEN)
    assert InboundMessage.objects.filter(state="processed").exists() or InboundMessage.objects.exists()
    Call.objects.create(session_id="ATVId_doctor", started_at=timezone.now())
    report = doctor.run()
    assert only(report, "Sender id").level == doctor.WARNING
    assert only(report, "Shortcode").level == doctor.ERROR and "AT_SHORTCODE" in only(report, "Shortcode").todo
    voice = only(report, "Voice number")
    assert voice.level == doctor.ERROR and "outbound calls need it" in voice.text


@pytest.mark.django_db
def test_a_sender_id_at_refused_today_is_an_error(at_balance):
    an_sms(sender="ACME", status="rejected", failure_reason="InvalidSenderId")
    an_sms(sender="ACME", status="rejected", failure_reason="InvalidSenderId")
    line = only(doctor.run(), "Sender id")
    assert line.level == doctor.ERROR and "for 2 messages today" in line.text


# --- Workers, maintenance, alert channels, the metrics token ------------------------------------------------


@pytest.mark.django_db
def test_no_worker_no_maintenance_and_no_alert_channel_are_warnings(at_balance, settings):
    settings.AT_ALERT_EMAILS = []
    settings.AT_METRICS_TOKEN = "short"
    BalanceSnapshot.objects.create(fetched_at=timezone.now() - timedelta(hours=2), amount="1", currency="KES")
    report = doctor.run()
    worker = only(report, "Worker")
    assert worker.level == doctor.WARNING and "No worker has ever run here" in worker.text
    assert "manage.py worker" in worker.todo
    maintenance = only(report, "Maintenance")
    assert maintenance.level == doctor.WARNING and "cron" in maintenance.todo
    assert only(report, "Alert channels").level == doctor.WARNING
    assert only(report, "Metrics token").level == doctor.WARNING and "short" not in only(report, "Metrics token").text
    queue.note_worker_seen()
    BalanceSnapshot.objects.create(fetched_at=timezone.now(), amount="1", currency="KES")
    settings.AT_ALERT_WEBHOOK_URLS = ["https://hooks.example.com/x"]
    report = doctor.run()
    assert [only(report, t).level for t in ("Worker", "Maintenance", "Alert channels")] == [doctor.OK] * 3


# --- The webhook token -------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("tokens", "debug", "levels", "words"),
    [
        ([], False, [doctor.ERROR], "every callback is refused"),
        ([], True, [doctor.WARNING], "anyone may post fake callbacks"),
        (["short-token"], False, [doctor.ERROR], "fewer than 16"),
        (["aaaaaaaaaaaaaaaaaaaaaaaa"], False, [doctor.ERROR], "easy to guess"),
        (["k3Jd9sLq0Wm2Xz7A1b"], False, [doctor.WARNING], "24 or more is safer"),
        ([GOOD_TOKEN], False, [doctor.OK], "is set (31 characters)"),
        ([GOOD_TOKEN, GOOD_TOKEN[::-1]], False, [doctor.OK, doctor.OK, doctor.WARNING], "a rotation under way"),
    ],
)
def test_the_webhook_token_is_checked_for_presence_and_strength(at_balance, settings, tokens, debug, levels, words):
    settings.AT_WEBHOOK_TOKEN, settings.DEBUG = tokens, debug
    found = lines(doctor.run(), topic="Webhook token")
    assert [x.level for x in found] == levels
    assert words in found[-1].text
    assert all(t not in x.text + x.todo for x in found for t in tokens)  # the token itself is never in a line


# --- Web settings against the public base URL --------------------------------------------------------------


@pytest.mark.django_db
def test_web_settings_against_the_public_url(at_balance, settings):
    settings.DEBUG = True
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    settings.CSRF_TRUSTED_ORIGINS = []
    settings.SECURE_SSL_REDIRECT = True
    del settings.SECURE_PROXY_SSL_HEADER
    report = doctor.run("https://abc123.ngrok-free.app")
    assert only(report, "DEBUG").level == doctor.ERROR
    hosts = only(report, "ALLOWED_HOSTS")
    assert hosts.level == doctor.ERROR and "Add abc123.ngrok-free.app to ALLOWED_HOSTS" in hosts.todo
    csrf = only(report, "CSRF_TRUSTED_ORIGINS")
    assert csrf.level == doctor.WARNING and "https://abc123.ngrok-free.app" in csrf.todo
    proxy = only(report, "Proxy header")
    assert proxy.level == doctor.ERROR and "SECURE_PROXY_SSL_HEADER=true" in proxy.todo

    settings.ALLOWED_HOSTS = [".ngrok-free.app"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://*.ngrok-free.app"]
    report = doctor.run("https://abc123.ngrok-free.app")
    assert only(report, "ALLOWED_HOSTS").level == only(report, "CSRF_TRUSTED_ORIGINS").level == doctor.OK

    plain = only(doctor.run("http://hub.example.com"), "Proxy header")
    assert plain.level == doctor.ERROR and "SECURE_SSL_REDIRECT is on" in plain.text


@pytest.mark.django_db
def test_no_base_url_is_a_warning_and_a_bad_one_an_error(at_balance):
    assert only(doctor.run(), "Public base URL").level == doctor.WARNING
    bad = only(doctor.run("ftp://hub.example.com"), "Public base URL")
    assert bad.level == doctor.ERROR and "ftp://hub.example.com" in bad.text


@pytest.mark.django_db
def test_a_pasted_callback_url_keeps_its_prefix_and_its_token_is_checked(at_balance, settings):
    settings.AT_WEBHOOK_TOKEN = [GOOD_TOKEN, "older-token-still-accepted-0123"]
    report = doctor.run("https://hub.example.com/at/api/sms/delivery-reports?token=wrong-token-0123456789")
    wrong = only(report, "Token in the base URL")
    assert wrong.level == doctor.ERROR and "not one AT_WEBHOOK_TOKEN accepts" in wrong.text
    assert "wrong-token" not in wrong.text + wrong.todo
    urls = {u.kind: u.url for u in report.callback_urls}
    assert urls["sms.twoway"] == f"https://hub.example.com/at/api/sms/twoway?token={GOOD_TOKEN}"
    old = only(doctor.run("https://at:older-token-still-accepted-0123@hub.example.com"), "Token in the base URL")
    assert old.level == doctor.WARNING
    assert only(doctor.run(f"https://hub.example.com?token={GOOD_TOKEN}"), "Token in the base URL").level == doctor.OK


@pytest.mark.django_db
def test_a_token_with_reserved_characters_is_escaped_in_the_urls(at_balance, settings):
    settings.AT_WEBHOOK_TOKEN = ["a&b=c d/e?f#g+h%i-0123456789"]
    url = {u.kind: u.url for u in doctor.run("https://hub.example.com").callback_urls}["sms.opt-out"]
    assert url == "https://hub.example.com/api/sms/opt-out?token=a%26b%3Dc%20d%2Fe%3Ff%23g%2Bh%25i-0123456789"


@pytest.mark.django_db
def test_an_unmigrated_database_is_an_error(at_balance):
    from django.db import connection
    from django.db.migrations.recorder import MigrationRecorder

    MigrationRecorder(connection).migration_qs.filter(app="alerts").delete()
    line = only(doctor.run(), "Database")
    assert line.level == doctor.ERROR and "Run python manage.py migrate" in line.todo


# --- The self-test, through a real server on loopback --------------------------------------------------------


@pytest.fixture
def loopback(live_server, at_balance):
    at_balance.add_passthru(live_server.url)
    return live_server.url


PASSIVE = sorted(name for name, kind in kinds().items() if kind.view is CallbackView)


@pytest.mark.django_db(transaction=True)
def test_the_self_test_posts_each_passive_kind_finds_it_stored_and_removes_it(loopback):
    report = doctor.run(loopback, self_test=True)
    found = {x.topic.removeprefix("Self-test "): x for x in lines(report, topic="Self-test")}
    assert sorted(found) == PASSIVE and "sms.delivery-reports" in PASSIVE and "ussd.session" not in PASSIVE
    assert all(x.level == doctor.OK and "stored, removed (answered 400)" in x.text for x in found.values())
    assert all(not kinds()[name].model.objects.exists() for name in PASSIVE)  # removed
    assert not OutboundMessage.objects.exists()  # no effect ran: nothing sent


@pytest.mark.django_db(transaction=True)
def test_the_self_test_with_a_wrong_token_is_refused_and_says_so(loopback):
    report = doctor.run(f"{loopback}/?token=not-the-token-0123456789", self_test=True)
    failed = lines(report, doctor.ERROR, "Self-test")
    assert len(failed) == len(PASSIVE) and all("refused the token (403)" in x.text for x in failed)
    assert "the token in the base URL is wrong" in failed[0].text


@pytest.mark.django_db(transaction=True)
def test_the_self_test_tells_another_server_and_no_server(at_balance):
    class Other(BaseHTTPRequestHandler):
        def do_POST(self):
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"OK")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Other)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    other = f"http://127.0.0.1:{server.server_address[1]}"
    at_balance.add_passthru(other)
    try:
        report = doctor.run(other, self_test=True)
    finally:
        server.shutdown()
    assert all("nothing was stored in this hub's database" in x.text for x in lines(report, doctor.ERROR, "Self-test"))
    nobody = f"http://127.0.0.1:{e2e.free_port()}"
    at_balance.add_passthru(nobody)
    report = doctor.run(nobody, self_test=True, timeout=2)
    assert all("could not be reached" in x.text for x in lines(report, doctor.ERROR, "Self-test"))


# --- The command -------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_command_prints_the_report_and_exits_non_zero_on_an_error(at_balance, capsys):
    call_command("doctor", "--base-url", "https://hub.example.com")
    out = capsys.readouterr().out
    assert "OK      AT credentials" in out and f"/api/sms/delivery-reports?token={GOOD_TOKEN}" in out
    with pytest.raises(CommandError) as failed:
        call_command("doctor", "--base-url", "https://hub.example.com/?token=wrong-token-0123456789")
    assert failed.value.returncode == 1
    assert "The token in the base URL is not one AT_WEBHOOK_TOKEN accepts" in str(failed.value)


# --- The admin page ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_admin_page_is_for_superusers_only(at_balance, staff_client):
    url = reverse("admin:doctor")
    assert Client().get(url).status_code == 302  # to the login page
    viewer = get_user_model().objects.create_user("viewer", password="pw", is_staff=True)
    other = Client()
    other.force_login(viewer)
    refused = other.get(url)
    assert refused.status_code == 403 and GOOD_TOKEN not in refused.content.decode()
    page = staff_client.get(url, {"base_url": "https://hub.example.com"})
    assert page.status_code == 200 and "no-store" in page["Cache-Control"] and "private" in page["Cache-Control"]
    html = page.content.decode()
    assert f"https://hub.example.com/api/voice/events?token={GOOD_TOKEN}" in html
    assert "Voice → your number → Events URL" in html and "doctor-ok" in html


@pytest.mark.django_db(transaction=True)
def test_the_admin_page_runs_the_self_test_on_post(loopback, client):
    admin = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(admin)
    assert "Self-test" not in client.get(reverse("admin:doctor"), {"base_url": loopback}).content.decode()
    html = client.post(reverse("admin:doctor"), {"base_url": loopback, "self_test": "1"}).content.decode()
    assert html.count("stored, removed") == len(PASSIVE)


# --- Done when: the production server on loopback, the doctor as a process ------------------------------------


def run_doctor(stack, base_url):
    env = {
        **os.environ,
        "AT_ENV_FILE": "",
        "DJANGO_SETTINGS_MODULE": "atproject.settings",
        "DATABASE_URL": e2e.database_url(),
        "DEBUG": "false",
        "SECRET_KEY": "end-to-end-tests",
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "CSRF_TRUSTED_ORIGINS": stack["web"],
        "AT_WEBHOOK_TOKEN": "test-webhook-token",
        "AT_API_URL": stack["sim"],
        "AT_API_KEY": e2e.API_KEY,
        "AT_USERNAME": "sandbox",
        "AT_SENDER_ID": "ACME",
        "AT_VOICE_NUMBER": "+254711082000",
        "AT_SHORTCODE": "8995",
    }
    command = [sys.executable, str(e2e.BASE_DIR / "manage.py"), "doctor", "--base-url", base_url, "--self-test"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_done_when_the_doctor_with_a_wrong_token_in_the_public_url_exits_non_zero_naming_it(stack):
    wrong = run_doctor(stack, f"{stack['web']}/api/sms/delivery-reports?token=wrong-token-0123456789")
    assert wrong.returncode == 1, wrong.stdout + wrong.stderr
    assert "The token in the base URL is not one AT_WEBHOOK_TOKEN accepts" in wrong.stdout
    assert "refused the token (403): the token in the base URL is wrong" in wrong.stdout
    assert "wrong-token-0123456789" not in wrong.stdout + wrong.stderr

    right = run_doctor(stack, f"{stack['web']}/api/sms/delivery-reports?token=test-webhook-token")
    assert right.returncode == 0, right.stdout + right.stderr
    assert right.stdout.count("stored, removed") == len(PASSIVE)
    assert "AT accepted the key for AT's sandbox" in right.stdout  # the simulator's balance, through the gateway
    assert all(not kinds()[name].model.objects.exists() for name in PASSIVE)
