"""AT's four SMS callbacks: what each one stores and what it changes."""

import logging
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from hub.callbacks.models import ProcessingState
from hub.testing import load_payload, post_callback, table_refuses
from sms.models import DeliveryReport, InboundMessage, OptOut, OptOutEvent, Subscription, SubscriptionEvent

pytestmark = pytest.mark.django_db

DLR_URL = "/api/sms/delivery-reports"
TWOWAY_URL = "/api/sms/twoway"
OPT_OUT_URL = "/api/sms/opt-out"
SUBSCRIPTION_URL = "/api/sms/subscription"


def test_urls_are_the_reference_apps_paths():
    assert reverse("sms:delivery-reports") == DLR_URL
    assert reverse("sms:twoway") == TWOWAY_URL
    assert reverse("sms:opt-out") == OPT_OUT_URL
    assert reverse("sms:subscription") == SUBSCRIPTION_URL


# --- Delivery reports ---------------------------------------------------------------


def test_delivery_report_answers_ok_and_stores_its_fields(client):
    response = post_callback(client, DLR_URL, load_payload("sms", "delivery_report_failed"))
    assert response.status_code == 200
    assert response.content == b"OK"
    assert response["Content-Type"].startswith("text/plain")
    report = DeliveryReport.objects.get()
    assert report.at_message_id == "ATXid_0a1b2c3d4e5f60718293a4b5c6d7e8f9"
    assert report.status == "Failed"
    assert report.phone_number == "+2348030000000"
    assert report.phone_e164 == "+2348030000000"
    assert report.network_code == "62130"
    assert report.failure_reason == "UserInBlackList"
    assert report.retry_count == 0
    assert report.state == ProcessingState.PROCESSED
    assert report.source_ip == "127.0.0.1"


def test_delivery_report_without_retry_count_or_failure_reason(client):
    payload = {"id": "ATXid_1", "status": "Sent", "phoneNumber": "+254711000000", "networkCode": "63902"}
    assert post_callback(client, DLR_URL, payload).status_code == 200
    report = DeliveryReport.objects.get()
    assert report.retry_count is None
    assert report.failure_reason == ""


def test_unknown_delivery_status_is_kept(client):
    payload = {**load_payload("sms", "delivery_report"), "status": "TeleportedToMars"}
    assert post_callback(client, DLR_URL, payload).status_code == 200
    assert DeliveryReport.objects.get().status == "TeleportedToMars"


@pytest.mark.parametrize("missing", ["id", "status"])
def test_delivery_report_missing_a_required_field_is_kept_with_the_error(client, missing):
    payload = load_payload("sms", "delivery_report")
    del payload[missing]
    response = post_callback(client, DLR_URL, payload)
    assert response.status_code == 400
    assert response.json() == {"error": f"missing required field '{missing}'"}
    report = DeliveryReport.objects.get()
    assert report.state == ProcessingState.FAILED
    assert report.error == f"missing required field '{missing}'"
    assert report.payload == payload


@pytest.mark.parametrize("retry_count", ["two", "-1", "1.5", "99999999999"])
def test_malformed_retry_count_is_named(client, retry_count):
    payload = {**load_payload("sms", "delivery_report"), "retryCount": retry_count}
    response = post_callback(client, DLR_URL, payload)
    assert response.status_code == 400
    assert "'retryCount'" in response.json()["error"]


def test_overlong_id_is_refused_not_a_database_error(client):
    payload = {**load_payload("sms", "delivery_report"), "id": "A" * 500}
    response = post_callback(client, DLR_URL, payload)
    assert response.status_code == 400
    assert "'id'" in response.json()["error"]
    assert DeliveryReport.objects.get().at_message_id == ""


def test_delivery_report_repeat_key_is_id_status_and_retry_count(client):
    payload = load_payload("sms", "delivery_report")
    post_callback(client, DLR_URL, payload)
    post_callback(client, DLR_URL, {**payload, "status": "success"})  # same status, other case: a repeat
    post_callback(client, DLR_URL, {**payload, "retryCount": "1"})  # AT's next attempt: a new report
    post_callback(client, DLR_URL, {**payload, "status": "Failed"})
    assert DeliveryReport.objects.count() == 3
    assert DeliveryReport.objects.get(retry_count=0, status="Success").times_received == 2


# --- Inbound messages -------------------------------------------------------------


def test_inbound_message_stored_with_unicode_text_exact(client):
    payload = load_payload("sms", "inbound_message")
    payload["text"] = "  Habari 💡 ñ — مرحبا\nline two  "
    assert post_callback(client, TWOWAY_URL, payload).status_code == 200
    message = InboundMessage.objects.get()
    assert message.text == payload["text"]
    assert message.at_id == payload["id"]
    assert message.from_number == "+254711000001"
    assert message.from_e164 == "+254711000001"
    assert message.to_number == "8995"
    assert message.link_id == "SampleLinkId123"
    assert message.network_code == "63902"
    assert message.cost == Decimal("0.8000")
    assert message.cost_currency == "KES"


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ("2026-11-27 10:15:03", datetime(2026, 11, 27, 10, 15, 3, tzinfo=UTC)),
        ("2026-11-27T10:15:03Z", datetime(2026, 11, 27, 10, 15, 3, tzinfo=UTC)),
        ("2026-11-27T13:15:03.250+03:00", datetime(2026, 11, 27, 10, 15, 3, 250000, tzinfo=UTC)),
    ],
)
def test_inbound_dates_in_both_formats(client, date, expected):
    payload = {**load_payload("sms", "inbound_message"), "date": date}
    assert post_callback(client, TWOWAY_URL, payload).status_code == 200
    assert InboundMessage.objects.get().sent_at == expected


def test_date_without_zone_is_read_in_at_timezone(client, settings):
    settings.AT_TIMEZONE = "Africa/Nairobi"
    payload = {**load_payload("sms", "inbound_message"), "date": "2026-11-27 13:15:03"}
    post_callback(client, TWOWAY_URL, payload)
    assert InboundMessage.objects.get().sent_at == datetime(2026, 11, 27, 10, 15, 3, tzinfo=UTC)


def test_malformed_date_is_named(client):
    payload = {**load_payload("sms", "inbound_message"), "date": "yesterday"}
    response = post_callback(client, TWOWAY_URL, payload)
    assert response.status_code == 400
    assert "'date'" in response.json()["error"]


@pytest.mark.parametrize("link_id", [None, ""])
def test_link_id_is_optional_and_may_be_empty(client, link_id):
    payload = load_payload("sms", "inbound_message")
    if link_id is None:
        del payload["linkId"]
    else:
        payload["linkId"] = link_id
    assert post_callback(client, TWOWAY_URL, payload).status_code == 200
    assert InboundMessage.objects.get().link_id == ""


@pytest.mark.parametrize("missing", ["id", "from", "to", "date"])
def test_inbound_message_required_fields(client, missing):
    payload = load_payload("sms", "inbound_message")
    del payload[missing]
    response = post_callback(client, TWOWAY_URL, payload)
    assert response.status_code == 400
    assert response.json()["error"] == f"missing required field '{missing}'"


def test_inbound_repeat_is_keyed_on_id(client):
    payload = load_payload("sms", "inbound_message")
    post_callback(client, TWOWAY_URL, payload)
    post_callback(client, TWOWAY_URL, payload, as_json=True)
    post_callback(client, TWOWAY_URL, {**payload, "id": "another"})
    assert InboundMessage.objects.count() == 2


@pytest.mark.parametrize(
    ("cost", "amount", "currency"), [("KES 0.8000", "0.8", "KES"), ("0", "0", ""), (1.5, "1.5", "")]
)
def test_cost_is_decimal_with_currency(client, cost, amount, currency):
    payload = {**load_payload("sms", "inbound_message"), "cost": cost}
    post_callback(client, TWOWAY_URL, payload, as_json=True)
    message = InboundMessage.objects.get()
    assert message.cost == Decimal(amount)
    assert message.cost_currency == currency


def test_sip_sender_kept_as_given_without_e164(client):
    payload = {**load_payload("sms", "inbound_message"), "from": "sip:agent@example.com"}
    post_callback(client, TWOWAY_URL, payload)
    message = InboundMessage.objects.get()
    assert message.from_number == "sip:agent@example.com"
    assert message.from_e164 == ""


# --- Opt-outs ------------------------------------------------------------------------


def test_opt_out_is_stored_and_sets_the_state(client):
    assert post_callback(client, OPT_OUT_URL, load_payload("sms", "opt_out")).status_code == 200
    event = OptOutEvent.objects.get()
    assert (event.phone_number, event.sender_id) == ("+254711000002", "AFRICASTKNG")
    opt_out = OptOut.objects.get()
    assert (opt_out.phone, opt_out.sender_id, opt_out.active) == ("+254711000002", "AFRICASTKNG", True)
    assert opt_out.last_event == event


def test_opt_out_again_after_a_lift_reactivates(client, staff_user):
    from sms.services import lift_opt_outs

    post_callback(client, OPT_OUT_URL, load_payload("sms", "opt_out"))
    lift_opt_outs(OptOut.objects.all(), staff_user)
    assert OptOut.objects.get().active is False
    OptOutEvent.objects.update(last_received_at=datetime(2020, 1, 1, tzinfo=UTC))  # out of the repeat window
    post_callback(client, OPT_OUT_URL, load_payload("sms", "opt_out"))
    opt_out = OptOut.objects.get()
    assert opt_out.active is True
    assert opt_out.lifted_by is None
    assert OptOutEvent.objects.count() == 2


def test_identical_opt_out_within_a_minute_is_a_repeat(client):
    payload = load_payload("sms", "opt_out")
    post_callback(client, OPT_OUT_URL, payload)
    post_callback(client, OPT_OUT_URL, payload)
    post_callback(client, OPT_OUT_URL, {**payload, "senderId": "OTHER"})
    assert OptOutEvent.objects.count() == 2
    assert OptOutEvent.objects.get(sender_id="AFRICASTKNG").times_received == 2


@pytest.mark.parametrize("missing", ["phoneNumber", "senderId"])
def test_opt_out_required_fields(client, missing):
    payload = load_payload("sms", "opt_out")
    del payload[missing]
    response = post_callback(client, OPT_OUT_URL, payload)
    assert response.status_code == 400
    assert response.json()["error"] == f"missing required field '{missing}'"
    assert not OptOut.objects.exists()


def test_failed_effect_keeps_the_row_as_failed_and_answers_ok(client, caplog):
    with table_refuses("sms_optout"), caplog.at_level(logging.ERROR):
        response = post_callback(client, OPT_OUT_URL, load_payload("sms", "opt_out"))
    assert response.status_code == 200
    event = OptOutEvent.objects.get()
    assert event.state == ProcessingState.FAILED
    assert "refused by test" in event.error
    assert not OptOut.objects.exists()  # the effect was rolled back to its savepoint
    assert any(r.levelno == logging.ERROR and "effect failed" in r.getMessage() for r in caplog.records)


# --- Subscriptions ---------------------------------------------------------------------


@pytest.mark.parametrize("update_type", ["addition", "Addition", "ADDITION"])
def test_subscription_addition_in_any_case(client, update_type):
    payload = {**load_payload("sms", "subscription"), "updateType": update_type}
    assert post_callback(client, SUBSCRIPTION_URL, payload).status_code == 200
    subscription = Subscription.objects.get()
    assert (subscription.phone, subscription.short_code, subscription.keyword) == ("+254711000003", "8995", "NEWS")
    assert subscription.active is True
    assert SubscriptionEvent.objects.get().update_type == update_type


def test_subscription_deletion_deactivates(client):
    payload = load_payload("sms", "subscription")
    post_callback(client, SUBSCRIPTION_URL, payload)
    post_callback(client, SUBSCRIPTION_URL, {**payload, "updateType": "Deletion"})
    subscription = Subscription.objects.get()
    assert subscription.active is False
    assert subscription.unsubscribed_at is not None


def test_unknown_update_type_is_kept_and_changes_nothing(client):
    payload = {**load_payload("sms", "subscription"), "updateType": "Renewal"}
    assert post_callback(client, SUBSCRIPTION_URL, payload).status_code == 200
    event = SubscriptionEvent.objects.get()
    assert event.update_type == "Renewal"
    assert event.state == ProcessingState.PROCESSED
    assert not Subscription.objects.exists()


@pytest.mark.parametrize("missing", ["phoneNumber", "shortCode", "keyword", "updateType"])
def test_subscription_required_fields(client, missing):
    payload = load_payload("sms", "subscription")
    del payload[missing]
    response = post_callback(client, SUBSCRIPTION_URL, payload)
    assert response.status_code == 400
    assert response.json()["error"] == f"missing required field '{missing}'"
