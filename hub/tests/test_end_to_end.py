"""End to end: the web server, a task worker and the AT simulator as real processes, the real SDK between them.

Nothing is replaced: the project sends through the africastalking SDK to the
simulator (AT_API_URL), which answers as AT does and calls the project back.
"""

import importlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import requests
from django.apps import apps as django_apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from rest_framework.authtoken.models import Token

from airtime.models import AirtimeStatusEvent, AirtimeTransaction, AirtimeValidation
from hub.outbound import OutboundStatus
from simswap.models import SimSwapCheck
from sms.models import OutboundMessage
from ussd.models import UssdEnd, UssdSession
from voice.models import Call, KeyAction, KeypadOption, VoiceFlow

pytestmark = [pytest.mark.e2e, pytest.mark.queue, pytest.mark.django_db(transaction=True)]

API_KEY = "e2e-simulator-key"
BASE_DIR = Path(settings.BASE_DIR)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def wait_until(check, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def stack_env(url: str, web_port: int, sim_port: int, **extra: str) -> dict:
    """The environment of the stack's processes (the production server, workers, the simulator) over the
    database at `url`: production settings, AT at the simulator; `extra` adds or overrides variables."""
    return {
        **os.environ,
        "AT_ENV_FILE": "",
        "DJANGO_SETTINGS_MODULE": "atproject.settings",
        "DATABASE_URL": url,
        "DEBUG": "false",
        "SECRET_KEY": "end-to-end-tests",
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "AT_WEBHOOK_TOKEN": settings.AT_WEBHOOK_TOKEN[0],
        "AT_API_URL": f"http://127.0.0.1:{sim_port}",
        "AT_API_KEY": API_KEY,
        "AT_USERNAME": "sandbox",
        "AT_VOICE_NUMBER": "+254711082000",
        "AT_SHORTCODE": "8995",
        "AT_RETRY_BACKOFF": "1",
        "LOG_LEVEL": "WARNING",
        "HOST": "127.0.0.1",
        "PORT": str(web_port),
        "WEB_CONCURRENCY": "1",
        "WEB_ACCESS_LOG": "0",
        "PYTHON_BIN": str(Path(sys.executable).parent),
        **extra,
    }


@pytest.fixture(scope="module")
def stack(django_db_setup, django_db_blocker):
    """The project (the production server, scripts/serve), one task worker and the simulator, over the test database."""
    web_port, sim_port = free_port(), free_port()
    with django_db_blocker.unblock():
        env = stack_env(database_url(), web_port, sim_port)
    manage = [sys.executable, str(BASE_DIR / "manage.py")]
    commands = [
        [str(BASE_DIR / "scripts" / "serve")],
        [*manage, "worker", "--interval", "0.1", "--no-startup-delay"],
        [
            *manage,
            "atsim",
            "--port",
            str(sim_port),
            "--project-url",
            f"http://127.0.0.1:{web_port}",
            "--api-key",
            API_KEY,
            "--delay",
            "0.2",
            "--failure-rate",
            "0",
        ],
    ]
    processes = [subprocess.Popen(c, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for c in commands]
    try:
        for port, path in ((web_port, "/healthz"), (sim_port, "/phone/log")):
            wait_until(lambda p=port, q=path: _answers(f"http://127.0.0.1:{p}{q}"), 30, f"port {port}")
        yield {"web": f"http://127.0.0.1:{web_port}", "sim": f"http://127.0.0.1:{sim_port}"}
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)


def _answers(url) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1)
        return True
    except OSError:
        return False


@pytest.fixture
def api(stack):
    """The data migrations' rows (flushed by transactional tests) and a token for the invoke API."""
    for module, name in (
        ("ussd.migrations.0002_demo_menu", "install"),
        ("voice.migrations.0002_default_flow", "install"),
    ):
        getattr(importlib.import_module(module), name)(django_apps, None)
    user = get_user_model().objects.create_superuser("e2e", "", "pw")
    session = requests.Session()
    session.headers["Authorization"] = f"Token {Token.objects.create(user=user).key}"
    session.base_url = stack["web"]
    return session


def invoke(api, path, **params):
    response = api.get(api.base_url + path, params=params, timeout=10)
    assert response.status_code == 202, response.text
    return response.json()


def test_an_sms_sent_from_the_api_ends_delivered(api):
    invoke(api, "/api/sms/invoke-bulk-sms", phone="+254711000001", message="Hello end to end")
    message = wait_until(
        lambda: OutboundMessage.objects.filter(status=OutboundStatus.DELIVERED).first(), what="delivery"
    )
    assert message.at_message_id.startswith("ATXid_")
    assert list(message.delivery_reports.order_by("pk").values_list("status", flat=True)) == ["Sent", "Success"]


def test_a_failed_sms_ends_failed_with_its_reason(api):
    invoke(api, "/api/sms/invoke-bulk-sms", phone="+254711000099", message="This one fails")
    message = wait_until(lambda: OutboundMessage.objects.filter(status=OutboundStatus.FAILED).first(), what="fail")
    assert message.failure_reason == "UserInBlackList"


def test_an_invalid_number_is_rejected_by_at(api):
    invoke(api, "/api/sms/invoke-bulk-sms", phone="+254711000013", message="Hi")
    message = wait_until(lambda: OutboundMessage.objects.filter(status=OutboundStatus.REJECTED).first())
    assert message.failure_reason == "InvalidPhoneNumber"


def test_a_call_ends_completed_with_its_events_and_a_pressed_digit(api):
    flow = VoiceFlow.objects.get(number="")
    flow.menu_prompt = "Press 1 to hear our hours."
    flow.save()
    KeypadOption.objects.create(flow=flow, digits="1", action=KeyAction.SAY, text="We open at 8.")
    invoke(api, "/api/voice/invoke-call", phone="+254711000002")
    call = wait_until(
        lambda: Call.objects.filter(state="Completed", events__isnull=False).first(), what="the call's end event"
    )
    assert (call.direction, call.dtmf_digits, call.duration_seconds is not None) == ("Outbound", "1", True)
    # AT's numbers on every request of the call: callerNumber the subscriber, destinationNumber ours.
    assert (call.caller_number, call.destination_number, call.phone_e164) == (
        "+254711000002",
        "+254711082000",
        "+254711000002",
    )
    assert set(call.instructions.values_list("caller_number", "destination_number")) == {
        ("+254711000002", "+254711082000")
    }
    assert Call.objects.count() == 1
    assert call.events.exists()
    assert "We open at 8." in call.instructions.order_by("pk")[1].response


def test_airtime_is_validated_then_delivered(api):
    invoke(api, "/api/airtime/invoke-send-airtime", phone="+254711000003", amount="10", currency="KES")
    txn = wait_until(lambda: AirtimeTransaction.objects.filter(status=OutboundStatus.DELIVERED).first())
    assert txn.validated and txn.at_request_id.startswith("ATQid_")


def test_airtime_we_did_not_send_is_refused(stack, api):
    """Someone with our API key sends airtime directly: our validation refuses it, AT reports it failed."""
    response = requests.post(
        f"{stack['sim']}/version1/airtime/send",
        data={"username": "sandbox", "recipients": '[{"phoneNumber": "+254711000004", "amount": "KES 500"}]'},
        headers={"apiKey": API_KEY, "Accept": "application/json"},
        timeout=10,
    )
    assert response.status_code == 201
    validation = wait_until(lambda: AirtimeValidation.objects.first())
    assert (validation.decision, validation.reason) == ("Failed", "no transaction of ours for this number")
    status = wait_until(lambda: AirtimeStatusEvent.objects.first())
    assert (status.status, status.transaction) == ("Failed", None)


def test_a_sim_swap_check_gets_its_result(api):
    invoke(api, "/api/sim-swap/invoke-check-simswap", phone="+254711000005")
    check = wait_until(lambda: SimSwapCheck.objects.exclude(swap_status="").first(), what="the result")
    assert (check.swap_status, check.carrier_name) == ("Swapped", "Safaricom")


def test_a_ussd_walk_stores_every_hop_and_the_end(stack, api):
    screens = []
    for reply in (None, "1", "1"):
        body = {"session": "ATUid_e2e", "phone": "+254711000006", "code": "*384*123#", "reply": reply}
        screens.append(requests.post(f"{stack['sim']}/phone/ussd", json=body, timeout=10).json()["screen"])
    assert screens[-1] == "END Your account number is ACC1001"
    session = wait_until(lambda: UssdSession.objects.filter(session_id="ATUid_e2e", status="Success").first())
    assert list(session.hops.order_by("pk").values_list("text", flat=True)) == ["", "1", "1*1"]
    assert UssdEnd.objects.get().hops_count == 3


def test_the_simulator_refuses_a_wrong_api_key_like_at(stack, settings):
    from hub import gateway

    settings.AT_API_URL, settings.AT_API_KEY = stack["sim"], "not-the-key"
    with pytest.raises(gateway.ATError) as refused:
        gateway.send_sms("Hi", ["+254711000001"])
    assert (refused.value.status, refused.value.body) == (401, "The supplied authentication is invalid")


def test_the_balance_goes_down_as_you_send(stack, api, settings):
    from hub import gateway

    settings.AT_API_URL, settings.AT_API_KEY = stack["sim"], API_KEY
    before = gateway.application_data()["UserData"]["balance"]
    invoke(api, "/api/sms/invoke-bulk-sms", phone="+254711000007", message="Hi")
    wait_until(
        lambda: (
            OutboundMessage.objects.filter(status=OutboundStatus.SUBMITTED).exists()
            or OutboundMessage.objects.filter(status=OutboundStatus.DELIVERED).exists()
        )
    )
    after = gateway.application_data()["UserData"]["balance"]
    assert float(after.split()[1]) == pytest.approx(float(before.split()[1]) - 0.8)
