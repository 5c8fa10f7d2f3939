"""The readable SMS admin: what staff read on each page, and what each confirmation says will be sent.

- Networks carry their operator's name, in the lists, the detail pages and the filters.
- AT's status codes and failure reasons come with what they mean and what to do; costs with their currency.
- The reply, resend and compose confirmations show the texts and the senders they go from; the compose preview
  lists every number left out with its reason and estimates the cost from the last 30 days.
- A message waiting for a retry shows its last error and when the retry is due.
- An inbound message lists the replies sent to it; the batch list ("campaigns") leaves replies out by default.
"""

from datetime import timedelta
from decimal import Decimal
from html import unescape

import pytest
import responses
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from hub.outbound import OutboundStatus
from hub.testing import load_payload, make_deferred_tasks_due, post_callback, queued_tasks, run_worker
from hub.tests.test_gateway import refused_connection
from sms import services
from sms.models import AutoReplyRule, DeliveryReport, InboundMessage, OptOut, OutboundBatch, OutboundMessage, SendSource
from sms.tests.conftest import SMS_URL

pytestmark = pytest.mark.django_db

COMPOSE = "/admin/sms/outboundbatch/compose/"


def page(client, url, **query) -> str:
    response = client.get(url, query)
    assert response.status_code == 200, url
    return unescape(response.content.decode())


@pytest.fixture
def operator(client, django_user_model):
    user = django_user_model.objects.create_user("operator", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="AT operators"))
    client.force_login(user)
    return client


def inbound(client, **fields) -> InboundMessage:
    payload = {**load_payload("sms", "inbound_message"), **fields}
    post_callback(client, "/api/sms/twoway", payload)
    return InboundMessage.objects.get(at_id=payload["id"])


def priced(phone, text, cost, *, status=OutboundStatus.DELIVERED, currency="KES", days_ago=1):
    """A message AT answered with a cost, `days_ago` days back."""
    batch = services.queue_sms([phone], text)
    batch.messages.update(
        status=status, cost=Decimal(cost), cost_currency=currency, created_at=timezone.now() - timedelta(days=days_ago)
    )


# --- Networks, codes, reasons and money ------------------------------------------------------------------


def test_delivery_reports_name_the_network_and_explain_the_failure(staff_client, client):
    report = {
        **load_payload("sms", "delivery_report"),
        "status": "Failed",
        "failureReason": "UserInBlacklist",
        "networkCode": "63902",
    }
    post_callback(client, "/api/sms/delivery-reports", report)
    post_callback(client, "/api/sms/delivery-reports", {**report, "id": "ATXid_2", "networkCode": "64110"})
    listing = page(staff_client, reverse("admin:sms_deliveryreport_changelist"))
    assert "Safaricom KE (63902)" in listing and "MTN UG (64110)" in listing
    filters = staff_client.get(reverse("admin:sms_deliveryreport_changelist")).context["cl"].filter_specs
    network = next(f for f in filters if getattr(f, "field_path", "") == "network_code")
    choices = [
        c["display"]
        for c in network.choices(staff_client.get(reverse("admin:sms_deliveryreport_changelist")).context["cl"])
    ]
    assert choices[1:] == ["Safaricom KE (63902)", "MTN UG (64110)"]
    # The reason's meaning and what to do, on hover in the list and written out on the detail page.
    assert 'title="UserInBlacklist: the subscriber blocked messages from this sender' in listing
    detail = page(staff_client, reverse("admin:sms_deliveryreport_change", args=[DeliveryReport.objects.first().pk]))
    assert "the subscriber blocked messages from this sender (or all promotional SMS)" in detail
    assert "What to do: Do not resend; the subscriber must opt in again." in detail


def test_inbound_messages_show_the_network_and_the_cost_with_its_currency(staff_client, client):
    message = inbound(client)
    listing = page(staff_client, reverse("admin:sms_inboundmessage_changelist"))
    assert "Safaricom KE (63902)" in listing
    detail = page(staff_client, reverse("admin:sms_inboundmessage_change", args=[message.pk]))
    assert "KES 0.8000" in detail and "Safaricom KE (63902)" in detail


@pytest.mark.django_db(transaction=True)
def test_outbound_message_shows_ats_status_code_and_reason_with_their_meaning_and_its_cost(staff_client, stub_at):
    stub_at.reject["+254711000002"] = 403
    services.queue_sms(["+254711000001", "+254711000002"], "Hi")
    run_worker()
    sent, refused = OutboundMessage.objects.order_by("phone")
    listing = page(staff_client, reverse("admin:sms_outboundmessage_changelist"))
    assert "KES 0.8000" in listing
    assert "0.8000<" not in listing.replace("KES 0.8000<", "")  # never an amount without its currency
    assert 'title="InvalidPhoneNumber: AT did not accept the number.' in listing  # the rejection, on hover
    detail = page(staff_client, reverse("admin:sms_outboundmessage_change", args=[refused.pk]))
    assert "403 — InvalidPhoneNumber: AT did not accept the number." in detail
    assert "What to do: Check the number (international form)." in detail
    detail = page(staff_client, reverse("admin:sms_outboundmessage_change", args=[sent.pk]))
    assert "101 — Sent: AT passed the message to the network." in detail
    assert "KES 0.8000" in detail


# --- What each confirmation says will be sent ---------------------------------------------------------------


def test_the_reply_confirmation_shows_the_text_and_the_sender_of_each_reply(operator, client):
    premium = inbound(client)
    plain = inbound(client, id="in-2", **{"from": "+254711000002", "to": "22384", "linkId": ""})
    changelist = reverse("admin:sms_inboundmessage_changelist")
    selection = {"action": "reply", "_selected_action": [premium.pk, plain.pk], "step": "form", "text": "Asante"}
    confirmation = unescape(operator.post(changelist, selection).content.decode())
    assert "Send these replies?" in confirmation
    assert "Text: Asante" in confirmation
    assert "to +254711000001 from 8995, premium, with linkId SampleLinkId123" in confirmation
    assert "to +254711000002 from 22384<" in confirmation
    assert not OutboundMessage.objects.exists()


def test_the_resend_confirmation_shows_the_texts_and_their_senders(operator):
    services.queue_sms(["+254711000001", "+254711000002"], "Hi")
    services.queue_sms(["+254711000003"], "Karibu", sender="ACME")
    OutboundMessage.objects.update(status=OutboundStatus.FAILED)
    changelist = reverse("admin:sms_outboundmessage_changelist")
    selection = {"action": "resend", "_selected_action": list(OutboundMessage.objects.values_list("pk", flat=True))}
    confirmation = unescape(operator.post(changelist, selection).content.decode())
    assert "2 × “Hi” from AFRICASTKNG (AT's default) (bulk)" in confirmation
    assert "1 × “Karibu” from ACME (bulk)" in confirmation
    batches = reverse("admin:sms_outboundbatch_changelist")
    selection = {
        "action": "resend_failed",
        "_selected_action": list(OutboundBatch.objects.values_list("pk", flat=True)),
    }
    confirmation = unescape(operator.post(batches, selection).content.decode())
    assert "3 messages will be sent again." in confirmation
    assert "1 × “Karibu” from ACME (bulk)" in confirmation
    assert OutboundMessage.objects.count() == 3  # nothing sent before the confirmation


def test_the_compose_preview_names_each_number_left_out_and_why(operator):
    OptOut.objects.create(phone="+254711000003", sender_id="AFRICASTKNG", opted_out_at=timezone.now())
    numbers = "+254711000001\n254711000001\n07bad\n+254711000002\n+254711000003"
    preview = unescape(
        operator.post(
            COMPOSE, {"step": "form", "numbers": numbers, "text": "Habari", "sender": "bulk"}
        ).content.decode()
    )
    assert "Text: Habari" in preview
    assert "From: AFRICASTKNG (AT's default)" in preview
    assert "3 recipients." in preview
    assert "2 messages will be sent." in preview
    assert "3 numbers left out:" in preview
    assert "<li>07bad: not a valid phone number</li>" in preview
    assert "<li>254711000001: a repeat of +254711000001 (sent once)</li>" in preview
    assert "<li>+254711000003: opted out of AFRICASTKNG</li>" in preview


def test_the_compose_preview_names_fifty_numbers_left_out_then_how_many_more(operator):
    numbers = "\n".join(["+254711000001", *(f"07bad{i}" for i in range(60))])
    preview = unescape(
        operator.post(COMPOSE, {"step": "form", "numbers": numbers, "text": "Hi", "sender": "bulk"}).content.decode()
    )
    assert "60 numbers left out:" in preview
    assert "07bad49: not a valid phone number" in preview
    assert "07bad50:" not in preview
    assert "… and 10 more." in preview


def test_the_compose_preview_estimates_the_cost_from_the_last_30_days(operator):
    priced("+254711000101", "one part", "0.8000")
    priced("+254711000102", "x" * 200, "1.6000", status=OutboundStatus.SUBMITTED)  # two parts: 0.80 a part
    priced("+254711000103", "one part", "0.5000", currency="UGX")
    priced("+254711000104", "old", "99.0000", days_ago=31)  # too old
    priced("+254711000105", "failed", "99.0000", status=OutboundStatus.FAILED)  # never accepted
    numbers = "+254711000001\n+254711000002\n+254711000003"
    preview = unescape(
        operator.post(
            COMPOSE, {"step": "form", "numbers": numbers, "text": "y" * 200, "sender": "bulk"}
        ).content.decode()
    )
    # 3 messages of 2 parts at KES 0.80 a part (2 messages AT accepted), UGX 0.50 a part (1 message).
    assert "Estimated cost: about KES 4.8000 (3 message(s) × 2 part(s) × KES 0.8000 per part)." in preview
    assert "the average cost per SMS part of the 2 message(s) AT accepted in the last 30 days" in preview
    assert "Estimated cost: about UGX 3.0000 (3 message(s) × 2 part(s) × UGX 0.5000 per part)." in preview


def test_the_compose_preview_says_when_there_is_no_recent_cost_to_estimate_from(operator):
    preview = unescape(
        operator.post(
            COMPOSE, {"step": "form", "numbers": "+254711000001", "text": "Hi", "sender": "bulk"}
        ).content.decode()
    )
    assert "Estimated cost: no recent cost to estimate from" in preview


# --- A message waiting for a retry -----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_message_that_could_not_reach_at_shows_its_last_error_and_next_try(staff_client, settings):
    settings.AT_API_URL = "http://at.stub"
    with responses.RequestsMock() as mock:
        mock.post(SMS_URL, body=refused_connection(SMS_URL))
        services.queue_sms(["+254711000001"], "Hello")
        run_worker()
        message = OutboundMessage.objects.get()
        (retry,) = [t for t in queued_tasks() if t.status == "READY"]
        assert message.status == OutboundStatus.QUEUED
        assert "Connection refused" in message.last_error
        assert message.next_attempt_at == retry.run_after
        listing = page(staff_client, reverse("admin:sms_outboundmessage_changelist"))
        assert "retry at" in listing and "Last try: " in listing and "Connection refused" in listing
        detail = page(staff_client, reverse("admin:sms_outboundmessage_change", args=[message.pk]))
        assert "Last error" in detail and "Connection refused" in detail
        assert "Next try at" in detail

        mock.replace(
            responses.POST,
            SMS_URL,
            json={
                "SMSMessageData": {
                    "Recipients": [
                        {
                            "statusCode": 101,
                            "number": "+254711000001",
                            "status": "Success",
                            "cost": "KES 0.8",
                            "messageId": "ATXid_r",
                        }
                    ]
                }
            },
        )
        make_deferred_tasks_due()
        run_worker()
    message.refresh_from_db()
    assert (message.status, message.last_error, message.next_attempt_at) == (OutboundStatus.SUBMITTED, "", None)


# --- Replies ---------------------------------------------------------------------------------------------


def test_an_inbound_message_lists_the_replies_and_auto_replies_sent_to_it(staff_client, client):
    AutoReplyRule.objects.create(keyword="", reply="Thanks, we got it")
    message = inbound(client)
    services.reply_to([message], "Your balance is 42")
    detail = page(staff_client, reverse("admin:sms_inboundmessage_change", args=[message.pk]))
    assert "Replies sent to this message" in detail
    assert "Thanks, we got it" in detail and "Your balance is 42" in detail
    assert "auto-reply" in detail and ">reply<" in detail
    assert detail.count("+254711000001") >= 3  # the message's sender and both replies' phone


def test_the_campaign_list_leaves_replies_and_auto_replies_out_unless_asked(staff_client, client):
    AutoReplyRule.objects.create(keyword="", reply="Thanks")
    message = inbound(client)  # its auto-reply
    services.reply_to([message], "Hello")
    campaign = services.queue_sms(["+254711000001"], "Sale", source=SendSource.ADMIN)
    api = services.queue_sms(["+254711000001"], "Code 1234")
    changelist = reverse("admin:sms_outboundbatch_changelist")

    def shown(**query):
        return {b.pk for b in staff_client.get(changelist, query).context["cl"].result_list}

    replies = set(OutboundBatch.objects.filter(source__in=["reply", "auto-reply"]).values_list("pk", flat=True))
    assert len(replies) == 2
    assert shown() == {campaign.pk, api.pk}
    assert shown(source="all") == {campaign.pk, api.pk, *replies}
    assert shown(source="auto-reply") == set(
        OutboundBatch.objects.filter(source="auto-reply").values_list("pk", flat=True)
    )
    assert "Campaigns (admin, API, resends)" in page(staff_client, changelist)
