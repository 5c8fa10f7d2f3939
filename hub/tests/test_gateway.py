"""The AT gateway against AT's HTTP API, replaced by `responses` at the HTTP layer."""

import json
import socket
import ssl
import threading
from contextlib import contextmanager
from decimal import Decimal
from urllib.parse import parse_qs

import pytest
import requests
import responses
import urllib3
from urllib3.exceptions import MaxRetryError, NewConnectionError

from hub import gateway

# The gateway remembers AT's recent trouble in the shared cache, which lives in the database.
pytestmark = pytest.mark.django_db

SANDBOX_SMS = "https://api.sandbox.africastalking.com/version1/messaging"
LIVE_SMS = "https://api.africastalking.com/version1/messaging"
STUB = "http://at.stub"


def sms_answer(*recipients):
    return {
        "SMSMessageData": {"Message": f"Sent to {len(recipients)}/{len(recipients)}", "Recipients": list(recipients)}
    }


def recipient(number, code=101, status="Success", message_id="ATXid_1", cost="KES 0.8000"):
    return {"statusCode": code, "number": number, "status": status, "cost": cost, "messageId": message_id}


@pytest.fixture(autouse=True)
def at_credentials(settings):
    settings.AT_USERNAME = "sandbox"
    settings.AT_API_KEY = "atsk_test_key_0123456789"
    settings.AT_API_URL = ""


def form(call) -> dict:
    return {k: v[0] for k, v in parse_qs(call.request.body).items()}


# --- Transport failures, built as requests raises them (for `responses` to raise) ----------------------


def refused_connection(url=STUB) -> requests.exceptions.ConnectionError:
    """Nothing listens on AT's port: the connection was never made."""
    reason = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")
    return requests.exceptions.ConnectionError(MaxRetryError(None, url, reason))


def failed_certificate(url=STUB) -> requests.exceptions.SSLError:
    """The TLS handshake failed: the server's certificate did not verify, so no request was sent."""
    error = ssl.SSLCertVerificationError(
        1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate (_ssl.c:1006)"
    )
    return requests.exceptions.SSLError(MaxRetryError(None, url, urllib3.exceptions.SSLError(error)))


def tls_error_on_open_connection(url=STUB) -> requests.exceptions.SSLError:
    """A TLS error with nothing showing it happened in the handshake: AT may have the request."""
    error = ssl.SSLError(1, "[SSL: DECRYPTION_FAILED_OR_BAD_RECORD_MAC] decryption failed or bad record mac")
    return requests.exceptions.SSLError(MaxRetryError(None, url, urllib3.exceptions.SSLError(error)))


@contextmanager
def tcp_server(handle):
    """A local plain-TCP server calling `handle(connection)` for each client; yields its port."""
    listener = socket.create_server(("127.0.0.1", 0))
    held = []

    def serve():
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            held.append(connection)
            handle(connection)

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()
        for connection in held:
            connection.close()


def answers_plain_http(connection):
    connection.recv(1024)
    connection.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    connection.close()


def stays_silent(connection):
    pass


@responses.activate
def test_bulk_sms_request_and_answer():
    responses.post(SANDBOX_SMS, json=sms_answer(recipient("+254711000000", message_id="ATXid_a")))
    results = gateway.send_sms("Hello", ["+254711000000"], sender_id="ACME")
    sent = form(responses.calls[0])
    assert sent == {
        "username": "sandbox",
        "to": "+254711000000",
        "message": "Hello",
        "bulkSMSMode": "1",
        "from": "ACME",
    }
    assert responses.calls[0].request.headers["apiKey"] == "atsk_test_key_0123456789"
    assert responses.calls[0].request.headers["Accept"] == "application/json"
    assert results == [
        gateway.SmsRecipientResult("+254711000000", 101, "Success", "ATXid_a", Decimal("0.8000"), "KES")
    ]
    assert results[0].accepted


@responses.activate
def test_live_username_uses_live_hosts(settings):
    settings.AT_USERNAME = "myapp"
    responses.post(LIVE_SMS, json=sms_answer(recipient("+254711000000")))
    gateway.send_sms("Hello", ["+254711000000"])
    assert "from" not in form(responses.calls[0])  # no sender id: AT's default


@responses.activate
def test_at_api_url_points_every_product_at_the_stub(settings):
    settings.AT_API_URL = STUB
    responses.post(f"{STUB}/version1/messaging", json=sms_answer(recipient("+254711000000")))
    responses.post(f"{STUB}/call", json={"entries": [], "errorMessage": "None"})
    responses.post(f"{STUB}/version1/airtime/send", json={"responses": [], "errorMessage": "None"})
    responses.post(f"{STUB}/v1/sim-swap", json={"status": "Processed", "responses": []})
    responses.get(f"{STUB}/version1/user", json={"userData": {"balance": "KES 10.00"}})
    gateway.send_sms("Hi", ["+254711000000"])
    gateway.send_premium_sms("Hi", "8995", ["+254711000000"], link_id="L1", keyword="NEWS")
    gateway.call("+254711000999", ["+254711000000"])
    gateway.send_airtime("+254711000000", Decimal("10"), "KES", idempotency_key="k1")
    gateway.check_sim_swap(["+254711000000"])
    assert gateway.application_data() == {"userData": {"balance": "KES 10.00"}}
    premium = form(responses.calls[1])
    assert (premium["bulkSMSMode"], premium["from"], premium["linkId"], premium["keyword"]) == (
        "0",
        "8995",
        "L1",
        "NEWS",
    )
    assert json.loads(responses.calls[4].request.body) == {"username": "sandbox", "phoneNumbers": ["+254711000000"]}


@responses.activate
def test_per_recipient_rejections_carry_their_reason():
    responses.post(
        SANDBOX_SMS,
        json=sms_answer(
            recipient("+254711000000", code=102, status="Queued"),
            recipient("+254711000001", code=406, status="UserInBlacklist", message_id="None", cost="0"),
            recipient("+254711000002", code=999, status="Weird", message_id="None", cost="0"),
        ),
    )
    queued, blacklisted, weird = gateway.send_sms("Hello", ["+254711000000", "+254711000001", "+254711000002"])
    assert queued.accepted and queued.reason == "Queued"
    assert not blacklisted.accepted
    assert blacklisted.reason == "UserInBlacklist"
    assert blacklisted.message_id == ""  # AT's string "None" is no id
    assert (weird.accepted, weird.reason) == (False, "Weird")


@responses.activate
def test_do_not_disturb_409_still_gives_per_recipient_results():
    body = sms_answer(recipient("+2348030000000", code=409, status="DoNotDisturbRejection", message_id="None"))
    responses.post(SANDBOX_SMS, json=body, status=409)
    (result,) = gateway.send_sms("Promo", ["+2348030000000"])
    assert (result.accepted, result.reason) == (False, "DoNotDisturbRejection")


@responses.activate
def test_json_with_charset_is_parsed():
    responses.post(
        SANDBOX_SMS,
        body=json.dumps(sms_answer(recipient("+254711000000"))),
        content_type="application/json; charset=utf-8",
    )
    assert gateway.send_sms("Hello", ["+254711000000"])[0].accepted


@pytest.mark.parametrize(
    ("status", "body", "gateway_error"),
    [
        (401, "The supplied authentication is invalid", False),
        (500, "Internal Server Error", False),
        (502, "Bad Gateway", True),
        (503, "Service Unavailable", True),
        (504, "Gateway Timeout", True),
    ],
)
@responses.activate
def test_http_errors_reached_at_and_are_never_retryable(status, body, gateway_error):
    """Any answer, a 502/503/504 included, means AT had the request: only AT_RETRY_GATEWAY_ERRORS may retry those."""
    responses.post(SANDBOX_SMS, body=body, status=status)
    with pytest.raises(gateway.ATError) as caught:
        gateway.send_sms("Hello", ["+254711000000"])
    error = caught.value
    assert (error.status, error.body, error.reached, error.retryable, error.gateway_error) == (
        status,
        body,
        True,
        False,
        gateway_error,
    )
    assert "atsk_test_key" not in str(error)


def test_connect_error_never_reached_at(settings):
    settings.AT_API_URL = "http://127.0.0.1:9"  # nothing listens on the discard port
    with pytest.raises(gateway.ATError) as caught:
        gateway.send_sms("Hello", ["+254711000000"])
    assert (caught.value.status, caught.value.reached, caught.value.retryable) == (None, False, True)


@pytest.mark.parametrize(
    ("failure", "reached"),
    [
        (refused_connection(SANDBOX_SMS), False),
        (failed_certificate(SANDBOX_SMS), False),
        (tls_error_on_open_connection(SANDBOX_SMS), True),
        (requests.exceptions.ConnectionError("Connection aborted: RemoteDisconnected"), True),
        (requests.exceptions.ChunkedEncodingError("Connection broken"), True),
    ],
    ids=["refused", "certificate-not-verified", "tls-error-on-open-connection", "aborted", "broken-answer"],
)
@responses.activate
def test_only_a_failed_connection_proves_the_request_never_reached_at(failure, reached):
    responses.post(SANDBOX_SMS, body=failure)
    with pytest.raises(gateway.ATError) as caught:
        gateway.send_sms("Hello", ["+254711000000"])
    assert (caught.value.reached, caught.value.retryable) == (reached, not reached)


def test_a_tls_handshake_that_fails_never_reached_at(settings):
    """A real handshake with a server that does not speak TLS: requests raises SSLError before sending anything."""
    with tcp_server(answers_plain_http) as port:
        settings.AT_API_URL = f"https://127.0.0.1:{port}"
        with pytest.raises(gateway.ATError) as caught:
            gateway.send_sms("Hello", ["+254711000000"])
    assert "SSLError" in str(caught.value)
    assert (caught.value.reached, caught.value.retryable) == (False, True)


def test_a_tls_handshake_that_times_out_never_reached_at(settings):
    """requests calls a stalled handshake a ReadTimeout; it still happened before anything was sent."""
    settings.AT_CONNECT_TIMEOUT = settings.AT_READ_TIMEOUT = 0.3
    with tcp_server(stays_silent) as port:
        settings.AT_API_URL = f"https://127.0.0.1:{port}"
        with pytest.raises(gateway.ATError) as caught:
            gateway.send_sms("Hello", ["+254711000000"])
    assert (caught.value.reached, caught.value.retryable) == (False, True)


def test_silence_after_the_request_was_sent_may_have_reached_at(settings):
    settings.AT_CONNECT_TIMEOUT = settings.AT_READ_TIMEOUT = 0.3
    with tcp_server(stays_silent) as port:
        settings.AT_API_URL = f"http://127.0.0.1:{port}"
        with pytest.raises(gateway.ATError) as caught:
            gateway.send_sms("Hello", ["+254711000000"])
    assert "did not answer in time" in str(caught.value)
    assert (caught.value.reached, caught.value.retryable) == (True, False)


@responses.activate
def test_read_timeout_may_have_reached_at():
    responses.post(SANDBOX_SMS, body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(gateway.ATError) as caught:
        gateway.send_sms("Hello", ["+254711000000"])
    assert (caught.value.status, caught.value.reached, caught.value.retryable) == (None, True, False)


def test_a_request_that_cannot_be_built_is_refused_before_sending(settings):
    settings.AT_API_URL = "http://"  # no host: requests refuses to send
    with pytest.raises(gateway.ATError) as caught:
        gateway.send_sms("Hello", ["+254711000000"])
    assert (caught.value.invalid, caught.value.reached, caught.value.retryable) == (True, False, False)


def test_invalid_number_is_refused_before_any_request():
    with responses.RequestsMock() as stub, pytest.raises(gateway.ATError) as caught:
        gateway.send_sms("Hello", ["0711"])
    assert len(stub.calls) == 0
    assert (caught.value.invalid, caught.value.reached, caught.value.retryable) == (True, False, False)


@responses.activate
def test_airtime_idempotency_key_does_not_leak_into_the_next_send():
    url = "https://api.sandbox.africastalking.com/version1/airtime/send"
    responses.post(url, json={"responses": [], "errorMessage": "None"})
    gateway.send_airtime("+254711000000", Decimal("10.00"), "KES", idempotency_key="txn-1")
    gateway.send_airtime("+254711000001", Decimal("5"), "KES", idempotency_key="txn-2")
    first, second = (c.request for c in responses.calls)
    assert first.headers["Idempotency-Key"] == "txn-1"
    assert second.headers["Idempotency-Key"] == "txn-2"
    assert json.loads(form(responses.calls[1])["recipients"]) == [{"phoneNumber": "+254711000001", "amount": "KES 5"}]


@responses.activate
def test_ats_recent_trouble_is_remembered_until_it_answers_again(client):
    assert gateway.last_unreachable() is None
    responses.post(SANDBOX_SMS, body=refused_connection(SANDBOX_SMS))
    with pytest.raises(gateway.ATError):
        gateway.send_sms("Hello", ["+254711000000"])
    trouble = gateway.last_unreachable()
    assert "could not be reached" in trouble["error"]
    assert client.get("/healthz").json()["at"]["recent_failure"]["error"] == trouble["error"]
    responses.replace(responses.POST, SANDBOX_SMS, json=sms_answer(recipient("+254711000000")))
    gateway.send_sms("Hello", ["+254711000000"])
    assert gateway.last_unreachable() is None
    assert client.get("/healthz").json()["at"]["recent_failure"] is None
