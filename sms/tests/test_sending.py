"""Outbound SMS: queued by a service, sent by the real task worker, tracked to delivery."""

import logging
from decimal import Decimal

import pytest
import requests
import responses

from hub.callbacks.ingest import reprocess
from hub.callbacks.models import ProcessingState
from hub.outbound import RANK, OutboundStatus, statuses_below
from hub.testing import load_payload, make_deferred_tasks_due, post_callback, queued_tasks, run_worker, table_refuses
from hub.tests.test_gateway import failed_certificate, refused_connection, tls_error_on_open_connection
from sms import services
from sms.models import AutoReplyRule, DeliveryReport, OptOut, OutboundMessage, SendSource, SmsMode
from sms.tests.conftest import SMS_URL

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.queue]

PHONES = ["+254711000001", "+254711000002", "+254711000003"]


def report(client, message, status, **extra):
    payload = {"id": message.at_message_id, "status": status, "phoneNumber": message.phone, **extra}
    return post_callback(client, "/api/sms/delivery-reports", payload)


def test_queueing_creates_one_row_per_recipient_and_a_task_per_chunk(settings):
    settings.AT_SMS_CHUNK_SIZE = 2
    batch = services.queue_sms([*PHONES, "+254 711 000 001"], "Hello")  # a repeat of the first, spaced
    assert batch.recipient_count == 3
    assert list(batch.messages.order_by("pk").values_list("phone", "status")) == [(p, "queued") for p in PHONES]
    assert [len(t.args[0]) for t in queued_tasks()] == [2, 1]


def test_worker_sends_and_stores_ats_answer(stub_at):
    batch = services.queue_sms(PHONES, "Hello", sender="ACME")
    run_worker()
    assert stub_at.requests[0]["to"] == ",".join(PHONES)
    assert stub_at.requests[0]["from"] == "ACME"
    messages = list(batch.messages.order_by("pk"))
    assert {m.status for m in messages} == {OutboundStatus.SUBMITTED}
    assert [m.at_message_id for m in messages] == ["ATXid_1", "ATXid_2", "ATXid_3"]
    assert messages[0].cost == Decimal("0.8000") and messages[0].cost_currency == "KES"
    assert messages[0].at_status_code == 101
    assert messages[0].attempts == 1
    assert messages[0].submitted_at is not None


def test_chunks_go_to_at_as_separate_requests(stub_at, settings):
    settings.AT_SMS_CHUNK_SIZE = 2
    services.queue_sms(PHONES, "Hello")
    run_worker()
    assert [r["to"] for r in stub_at.requests] == [",".join(PHONES[:2]), PHONES[2]]


def test_delivery_report_moves_the_message_to_delivered(stub_at, client):
    services.queue_sms(PHONES[:1], "Hello")
    run_worker()
    message = OutboundMessage.objects.get()
    assert report(client, message, "Sent").status_code == 200
    message.refresh_from_db()
    assert message.status == OutboundStatus.SENT
    report(client, message, "Success")
    message.refresh_from_db()
    assert message.status == OutboundStatus.DELIVERED
    assert message.delivered_at is not None
    assert set(message.delivery_reports.values_list("status", flat=True)) == {"Sent", "Success"}


@pytest.mark.parametrize(
    ("at_status", "expected", "reason"),
    [
        ("Sent", OutboundStatus.SENT, ""),
        ("Submitted", OutboundStatus.SENT, ""),
        ("Buffered", OutboundStatus.BUFFERED, ""),
        ("Success", OutboundStatus.DELIVERED, ""),
        ("Rejected", OutboundStatus.REJECTED, "InvalidLinkId"),
        ("Failed", OutboundStatus.FAILED, "UserInBlackList"),
        ("AbsentSubscriber", OutboundStatus.FAILED, ""),
        ("Expired", OutboundStatus.EXPIRED, ""),
        ("FAILED", OutboundStatus.FAILED, "DeliveryFailure"),
        ("SomethingNew", OutboundStatus.SUBMITTED, ""),
    ],
)
def test_delivery_status_mapping(stub_at, client, at_status, expected, reason):
    services.queue_sms(PHONES[:1], "Hello")
    run_worker()
    message = OutboundMessage.objects.get()
    report(client, message, at_status, **({"failureReason": reason} if reason else {}))
    message.refresh_from_db()
    assert message.status == expected
    assert message.failure_reason == reason
    assert DeliveryReport.objects.get().status == at_status  # the report keeps AT's word


def test_status_only_moves_up(stub_at, client):
    services.queue_sms(PHONES[:1], "Hello")
    run_worker()
    message = OutboundMessage.objects.get()
    report(client, message, "Success")
    report(client, message, "Sent")  # late and out of order
    message.refresh_from_db()
    assert message.status == OutboundStatus.DELIVERED


def test_report_whose_effect_fails_is_kept_failed_until_reprocessed(stub_at, client, caplog):
    services.queue_sms(PHONES[:1], "Hello")
    run_worker()
    message = OutboundMessage.objects.get()
    with table_refuses("sms_outboundmessage", "UPDATE"), caplog.at_level(logging.ERROR):
        assert report(client, message, "Success").status_code == 200
    stored = DeliveryReport.objects.get()
    assert (stored.state, stored.message) == (ProcessingState.FAILED, None)
    assert "refused by test" in stored.error
    assert OutboundMessage.objects.get().status == message.status  # nothing half-applied
    assert any("effect failed" in r.getMessage() for r in caplog.records)
    assert reprocess(stored)
    message.refresh_from_db()
    assert (message.status, DeliveryReport.objects.get().message) == (OutboundStatus.DELIVERED, message)


def test_failed_can_still_become_delivered(stub_at, client):
    """Premium SMS is retried by AT: a Failed report may be followed by Success."""
    services.queue_sms(PHONES[:1], "Hello")
    run_worker()
    message = OutboundMessage.objects.get()
    report(client, message, "Failed", failureReason="UserIsInactive", retryCount="0")
    report(client, message, "Success", retryCount="1")
    message.refresh_from_db()
    assert message.status == OutboundStatus.DELIVERED


def test_rank_rule():
    assert RANK[OutboundStatus.QUEUED] < RANK[OutboundStatus.SENDING] < RANK[OutboundStatus.SUBMITTED]
    assert RANK[OutboundStatus.SUBMITTED] < RANK[OutboundStatus.SENT] == RANK[OutboundStatus.BUFFERED]
    assert RANK[OutboundStatus.BUFFERED] < RANK[OutboundStatus.FAILED] < RANK[OutboundStatus.DELIVERED]
    assert "delivered" not in statuses_below("failed")
    assert "failed" in statuses_below("delivered")
    assert statuses_below("queued") == []


def test_report_before_its_message_is_linked_when_the_message_appears(stub_at, client):
    # AT's answer to our send is slow; its delivery report for ATXid_1 arrives first.
    post_callback(client, "/api/sms/delivery-reports", {"id": "ATXid_1", "status": "Success"})
    assert DeliveryReport.objects.get().message is None
    services.queue_sms(PHONES[:1], "Hello")
    run_worker()
    message = OutboundMessage.objects.get()
    assert DeliveryReport.objects.get().message == message
    assert message.status == OutboundStatus.DELIVERED


def test_per_recipient_rejection_is_stored_with_its_reason(stub_at):
    stub_at.reject[PHONES[1]] = 403
    services.queue_sms(PHONES[:2], "Hello")
    run_worker()
    ok, bad = OutboundMessage.objects.order_by("pk")
    assert ok.status == OutboundStatus.SUBMITTED
    assert (bad.status, bad.failure_reason, bad.at_message_id, bad.at_status_code) == (
        OutboundStatus.REJECTED,
        "InvalidPhoneNumber",
        "",
        403,
    )


def test_opted_out_numbers_are_blocked_not_sent(stub_at, client, settings):
    settings.AT_SENDER_ID = ""
    post_callback(client, "/api/sms/opt-out", {"phoneNumber": PHONES[0], "senderId": "AFRICASTKNG"})
    post_callback(client, "/api/sms/opt-out", {"phoneNumber": PHONES[1], "senderId": "OTHER"})
    services.queue_sms(PHONES[:2], "Hello")
    run_worker()
    blocked, sent = OutboundMessage.objects.order_by("pk")
    assert (blocked.status, blocked.failure_reason) == (OutboundStatus.BLOCKED, "opted out of AFRICASTKNG")
    assert sent.status == OutboundStatus.SUBMITTED  # opted out of another sender only
    assert stub_at.sent_numbers == [PHONES[1]]


def test_lifted_opt_out_no_longer_blocks(stub_at, client):
    post_callback(client, "/api/sms/opt-out", {"phoneNumber": PHONES[0], "senderId": "ACME"})
    OptOut.objects.update(active=False)
    services.queue_sms(PHONES[:1], "Hello", sender="ACME")
    run_worker()
    assert OutboundMessage.objects.get().status == OutboundStatus.SUBMITTED


def test_invalid_numbers_are_rejected_before_any_at_call(stub_at):
    services.queue_sms(["0711000000", "not a number"], "Hello")
    run_worker()
    assert stub_at.requests == []
    assert set(OutboundMessage.objects.values_list("status", "failure_reason")) == {
        (OutboundStatus.REJECTED, "invalid phone number")
    }
    assert queued_tasks() == []


def test_connect_error_is_retried_later_then_fails_after_max_attempts(settings):
    settings.AT_API_URL = "http://127.0.0.1:9"  # nothing listens: the request never reaches AT
    settings.AT_SEND_MAX_ATTEMPTS = 3
    services.queue_sms(PHONES[:1], "Hello")
    run_worker()
    message = OutboundMessage.objects.get()
    assert (message.status, message.attempts) == (OutboundStatus.QUEUED, 1)
    (retry,) = [t for t in queued_tasks() if t.status == "READY"]
    assert retry.run_after > retry.enqueued_at  # deferred with backoff, not immediately
    for attempts in (2, 3):
        assert make_deferred_tasks_due() == 1
        run_worker()
        message.refresh_from_db()
        assert message.attempts == attempts
    assert message.status == OutboundStatus.FAILED
    assert message.failure_reason.startswith("not sent after 3 attempts")
    assert make_deferred_tasks_due() == 0


def accepted(message_id="ATXid_r"):
    recipient = {
        "statusCode": 101,
        "number": PHONES[0],
        "status": "Success",
        "cost": "KES 0.8",
        "messageId": message_id,
    }
    return {"SMSMessageData": {"Recipients": [recipient]}}


@pytest.mark.parametrize("status", [502, 503, 504])
def test_a_gateway_error_ends_unknown_and_is_not_retried_by_default(settings, status):
    """A 502/503/504 can follow a request AT accepted: a retry could send the message twice."""
    settings.AT_API_URL = "http://at.stub"
    with responses.RequestsMock() as mock:
        mock.post(SMS_URL, body="Service Unavailable", status=status)
        services.queue_sms(PHONES[:1], "Hello")
        run_worker()
        assert make_deferred_tasks_due() == 0
        run_worker()
        assert len(mock.calls) == 1
    message = OutboundMessage.objects.get()
    assert (message.status, message.attempts) == (OutboundStatus.UNKNOWN, 1)
    assert message.failure_reason.startswith(f"may have been sent: AT answered HTTP {status}")


def test_with_at_retry_gateway_errors_a_503_is_retried_and_the_retry_sends_once(settings):
    settings.AT_API_URL = "http://at.stub"
    settings.AT_RETRY_GATEWAY_ERRORS = True
    with responses.RequestsMock() as mock:
        mock.post(SMS_URL, body="Service Unavailable", status=503)
        services.queue_sms(PHONES[:1], "Hello")
        run_worker()
        assert OutboundMessage.objects.get().status == OutboundStatus.QUEUED
        mock.replace(responses.POST, SMS_URL, json=accepted())
        make_deferred_tasks_due()
        run_worker()
        run_worker()  # nothing left: no third call
        assert len(mock.calls) == 2
    message = OutboundMessage.objects.get()
    assert (message.status, message.at_message_id, message.attempts) == (OutboundStatus.SUBMITTED, "ATXid_r", 2)


def test_with_at_retry_gateway_errors_the_last_503_still_ends_unknown(settings):
    settings.AT_API_URL = "http://at.stub"
    settings.AT_RETRY_GATEWAY_ERRORS = True
    settings.AT_SEND_MAX_ATTEMPTS = 2
    with responses.RequestsMock() as mock:
        mock.post(SMS_URL, body="Service Unavailable", status=503)
        services.queue_sms(PHONES[:1], "Hello")
        run_worker()
        make_deferred_tasks_due()
        run_worker()
        assert len(mock.calls) == 2
    message = OutboundMessage.objects.get()
    assert (message.status, message.attempts) == (OutboundStatus.UNKNOWN, 2)
    assert message.failure_reason.startswith("may have been sent (tried 2 times)")


@pytest.mark.parametrize(
    "failure",
    [refused_connection(SMS_URL), failed_certificate(SMS_URL)],
    ids=["connection-refused", "tls-handshake-failed"],
)
def test_a_request_that_never_reached_at_is_retried(settings, failure):
    settings.AT_API_URL = "http://at.stub"
    with responses.RequestsMock() as mock:
        mock.post(SMS_URL, body=failure)
        services.queue_sms(PHONES[:1], "Hello")
        run_worker()
        assert OutboundMessage.objects.get().status == OutboundStatus.QUEUED
        mock.replace(responses.POST, SMS_URL, json=accepted())
        assert make_deferred_tasks_due() == 1
        run_worker()
        assert len(mock.calls) == 2
    message = OutboundMessage.objects.get()
    assert (message.status, message.attempts) == (OutboundStatus.SUBMITTED, 2)


@pytest.mark.parametrize(
    "answer",
    [
        {"body": requests.exceptions.ReadTimeout("read timed out")},
        {"body": "Internal Server Error", "status": 500},
        {"body": tls_error_on_open_connection(SMS_URL)},
    ],
    ids=["read-timeout", "http-500", "tls-error-on-open-connection"],
)
def test_ambiguous_failure_ends_unknown_and_is_not_retried(settings, answer):
    settings.AT_API_URL = "http://at.stub"
    settings.AT_RETRY_GATEWAY_ERRORS = True  # covers gateway errors only
    with responses.RequestsMock() as mock:
        mock.post(SMS_URL, **answer)
        services.queue_sms(PHONES[:1], "Hello")
        run_worker()
        make_deferred_tasks_due()
        run_worker()
        assert len(mock.calls) == 1
    message = OutboundMessage.objects.get()
    assert message.status == OutboundStatus.UNKNOWN
    assert message.failure_reason.startswith("may have been sent")


def test_refused_credentials_reject_without_retry(settings):
    settings.AT_API_URL = "http://at.stub"
    with responses.RequestsMock() as mock:
        mock.post(SMS_URL, body="The supplied authentication is invalid", status=401)
        services.queue_sms(PHONES[:1], "Hello")
        run_worker()
        assert len(mock.calls) == 1
    message = OutboundMessage.objects.get()
    assert message.status == OutboundStatus.REJECTED
    assert "401" in message.failure_reason


def test_a_task_run_twice_sends_once(stub_at):
    services.queue_sms(PHONES[:1], "Hello")
    OutboundMessage.enqueue([OutboundMessage.objects.get().pk])  # a duplicate task for the same message
    run_worker()
    assert stub_at.sent_numbers == PHONES[:1]
    assert OutboundMessage.objects.get().attempts == 1


def test_batch_counts_are_aggregated_from_its_messages(stub_at, client):
    stub_at.reject[PHONES[2]] = 406
    batch = services.queue_sms(PHONES, "Hello")
    run_worker()
    report(client, OutboundMessage.objects.get(phone=PHONES[0]), "Success")
    assert batch.status_counts() == {"delivered": 1, "submitted": 1, "rejected": 1}


def test_resend_creates_a_new_linked_message(stub_at):
    stub_at.reject[PHONES[0]] = 405
    services.queue_sms(PHONES[:2], "Hello")
    run_worker()
    failed = OutboundMessage.objects.get(phone=PHONES[0])
    stub_at.reject.clear()
    (batch,) = services.resend(OutboundMessage.objects.all())  # only the rejected one qualifies
    run_worker()
    new = batch.messages.get()
    assert (new.phone, new.resend_of, new.status, batch.source) == (
        PHONES[0],
        failed,
        OutboundStatus.SUBMITTED,
        SendSource.RESEND,
    )


# --- Auto-replies ------------------------------------------------------------------------------


def test_no_auto_reply_until_staff_add_a_rule(stub_at, client):
    post_callback(client, "/api/sms/twoway", load_payload("sms", "inbound_message"))
    assert not OutboundMessage.objects.exists()


def test_keyword_rule_replies_from_the_shortcode(stub_at, client):
    AutoReplyRule.objects.create(keyword="BAL", reply="Your balance is KES 10")
    AutoReplyRule.objects.create(keyword="", reply="Send BAL for your balance")
    payload = {**load_payload("sms", "inbound_message"), "text": "bal please", "linkId": ""}
    post_callback(client, "/api/sms/twoway", payload)
    run_worker()
    reply = OutboundMessage.objects.get()
    assert (reply.text, reply.phone, reply.sender, reply.mode) == (
        "Your balance is KES 10",
        payload["from"],
        payload["to"],
        SmsMode.BULK,
    )
    assert reply.in_reply_to.at_id == payload["id"]
    assert reply.batch.source == SendSource.AUTO_REPLY
    assert stub_at.requests[0]["from"] == payload["to"]


def test_catch_all_rule_and_premium_reply_with_link_id(stub_at, client):
    AutoReplyRule.objects.create(keyword="", reply="Thanks!")
    post_callback(client, "/api/sms/twoway", load_payload("sms", "inbound_message"))  # premium: has a linkId
    run_worker()
    reply = OutboundMessage.objects.get()
    assert (reply.mode, reply.link_id) == (SmsMode.PREMIUM, "SampleLinkId123")
    assert stub_at.requests[0]["bulkSMSMode"] == "0"
    assert stub_at.requests[0]["linkId"] == "SampleLinkId123"


def test_repeated_inbound_message_is_answered_once(stub_at, client):
    AutoReplyRule.objects.create(keyword="", reply="Thanks!")
    payload = load_payload("sms", "inbound_message")
    post_callback(client, "/api/sms/twoway", payload)
    post_callback(client, "/api/sms/twoway", payload)
    assert OutboundMessage.objects.count() == 1


def test_inactive_or_other_shortcode_rules_do_not_answer(stub_at, client):
    AutoReplyRule.objects.create(keyword="", reply="Off", active=False)
    AutoReplyRule.objects.create(keyword="", reply="Elsewhere", short_code="12345")
    post_callback(client, "/api/sms/twoway", load_payload("sms", "inbound_message"))
    assert not OutboundMessage.objects.exists()


def test_ats_texts_are_cut_by_each_columns_own_length_not_a_typed_slice(settings):
    """A status of 40 characters fits its 40-character column (a hand-typed [:32] cut it); longer ones are cut there."""
    settings.AT_API_URL = "http://at.stub"
    settings.AT_API_KEY = "atsk_test_key"
    status_40, reason_300 = "S" * 40, "R" * 300
    answer = {
        "SMSMessageData": {
            "Recipients": [
                {"statusCode": 101, "number": PHONES[0], "status": status_40 + "X", "cost": "0.8", "messageId": "A"},
                {"statusCode": 999, "number": PHONES[1], "status": reason_300, "cost": "0", "messageId": "None"},
            ]
        }
    }
    services.queue_sms(PHONES[:2], "Hello")
    with responses.RequestsMock() as mock:
        mock.post("http://at.stub/version1/messaging", json=answer, status=201)
        run_worker()
    first, second = OutboundMessage.objects.order_by("pk")
    field = OutboundMessage._meta.get_field
    assert first.at_status == status_40 and len(status_40) == field("at_status").max_length
    assert second.status == OutboundStatus.REJECTED
    assert second.failure_reason == reason_300[: field("failure_reason").max_length]
