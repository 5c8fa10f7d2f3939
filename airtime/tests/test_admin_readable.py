"""The readable airtime admin: money always with its currency, airtime in its own words, failures explained.

- Amounts, discounts, values and daily totals read "KES 10.0000", never "10.0000" alone.
- A transaction is queued, "sending to AT", "sent to AT", delivered, refused, failed or unknown (may have been
  sent), never "buffered"; its failure says what it means and what to do.
- A transaction that could not reach AT shows its last error and its next try.
"""

from decimal import Decimal
from html import unescape

import pytest
import responses
from django.urls import reverse

from airtime import services
from airtime.models import AirtimeStatusEvent, AirtimeTransaction
from hub.outbound import OutboundStatus
from hub.testing import load_payload, post_callback, run_worker
from hub.tests.test_gateway import refused_connection

pytestmark = pytest.mark.django_db

AT_SEND = "http://at.stub/version1/airtime/send"
CHANGELIST = "admin:airtime_airtimetransaction_changelist"


@pytest.fixture(autouse=True)
def limits(settings):
    settings.AT_AIRTIME_MAX_AMOUNT = {"KES": Decimal("1000"), "UGX": Decimal("30000")}
    settings.AT_AIRTIME_DAILY_LIMIT = {"KES": Decimal("2000"), "UGX": Decimal("3000000")}
    settings.AT_API_URL = "http://at.stub"


def text_of(client, url, **query) -> str:
    response = client.get(url, query)
    assert response.status_code == 200, url
    return unescape(response.content.decode())


def test_every_amount_carries_its_currency(staff_client, client):
    services.queue_airtime(["+254711000000", "+254711000001"], "10", "KES")
    services.queue_airtime(["+254711000002"], "500", "UGX")
    txn = AirtimeTransaction.objects.get(phone="+254711000000")
    AirtimeTransaction.objects.filter(pk=txn.pk).update(
        status=OutboundStatus.SUBMITTED, at_request_id="ATQid_SampleTxnId123", discount=Decimal("0.4")
    )
    AirtimeTransaction.objects.filter(pk=txn.pk).update(discount_currency="KES")
    post_callback(client, "/api/airtime/status", load_payload("airtime", "status"), as_json=True)
    listing = text_of(staff_client, reverse(CHANGELIST))
    assert "KES 10.0000" in listing and "UGX 500.0000" in listing and "KES 0.4000" in listing
    detail = text_of(staff_client, reverse("admin:airtime_airtimetransaction_change", args=[txn.pk]))
    assert "KES 10.0000" in detail and "KES 0.4000" in detail
    assert "KES 0.6000" in detail and "KES 100.0000" in detail  # the status callback's discount and value
    event = AirtimeStatusEvent.objects.get()
    assert "KES 100.0000" in text_of(staff_client, reverse("admin:airtime_airtimestatusevent_changelist"))
    assert "KES 0.6000" in text_of(staff_client, reverse("admin:airtime_airtimestatusevent_change", args=[event.pk]))
    spend = text_of(staff_client, reverse("admin:airtime_dailyairtimespend_changelist"))
    assert "KES 20.0000" in spend and "UGX 500.0000" in spend


def test_airtime_statuses_are_airtime_words(staff_client):
    services.queue_airtime(["+254711000000", "+254711000001", "+254711000002", "+254711000003"], "10", "KES")
    sent, delivered, refused, unknown = AirtimeTransaction.objects.order_by("phone")
    for txn, status in (
        (sent, OutboundStatus.SUBMITTED),
        (delivered, OutboundStatus.DELIVERED),
        (refused, OutboundStatus.REJECTED),
        (unknown, OutboundStatus.UNKNOWN),
    ):
        AirtimeTransaction.objects.filter(pk=txn.pk).update(status=status)
    listing = text_of(staff_client, reverse(CHANGELIST))
    for words in (">sent to AT<", ">delivered<", ">refused<", ">unknown (may have been sent)<"):
        assert words in listing
    cl = staff_client.get(reverse(CHANGELIST)).context["cl"]
    status_filter = next(f for f in cl.filter_specs if getattr(f, "field_path", "") == "status")
    labels = [str(c["display"]) for c in status_filter.choices(cl)]
    assert labels == [
        "All",
        "queued",
        "sending to AT",
        "sent to AT",
        "unknown (may have been sent)",
        "failed",
        "refused",
        "delivered",
    ]
    assert "buffered" not in " ".join(labels)


def test_a_failure_says_what_it_means_and_what_to_do(staff_client):
    (txn,) = services.queue_airtime(["+254711000000"], "10", "KES")
    AirtimeTransaction.objects.filter(pk=txn.pk).update(
        status=OutboundStatus.FAILED, failure_reason="not sent after 3 attempts: connection refused"
    )
    listing = text_of(staff_client, reverse(CHANGELIST))
    assert 'title="not sent after 3 attempts: connection refused — AT could not be reached' in listing
    detail = text_of(staff_client, reverse("admin:airtime_airtimetransaction_change", args=[txn.pk]))
    assert "What it means" in detail
    assert "AT could not be reached after every retry: never sent." in detail
    assert "What to do: Check AT's status, then resend." in detail


@pytest.mark.django_db(transaction=True)
def test_a_transaction_that_could_not_reach_at_shows_its_last_error_and_next_try(staff_client):
    (txn,) = services.queue_airtime(["+254711000000"], "10", "KES")
    with responses.RequestsMock() as mock:
        mock.post(AT_SEND, body=refused_connection(AT_SEND))
        run_worker()
    txn.refresh_from_db()
    assert txn.status == OutboundStatus.QUEUED and txn.next_attempt_at is not None
    assert "Connection refused" in txn.last_error
    listing = text_of(staff_client, reverse(CHANGELIST))
    assert "retry at" in listing and "Connection refused" in listing
    detail = text_of(staff_client, reverse("admin:airtime_airtimetransaction_change", args=[txn.pk]))
    assert "Last error" in detail and "Connection refused" in detail and "Next try at" in detail
