"""Sending from the admin: compose, reply, resend; each confirmed, permitted and reported."""

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from hub.outbound import OutboundStatus
from hub.testing import load_payload, post_callback, run_worker
from sms.models import InboundMessage, OutboundBatch, OutboundMessage, SmsMode

pytestmark = pytest.mark.django_db

COMPOSE = "/admin/sms/outboundbatch/compose/"


@pytest.fixture
def operator(client, django_user_model):
    user = django_user_model.objects.create_user("operator", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="AT operators"))
    client.force_login(user)
    return client


@pytest.fixture
def viewer(client, django_user_model):
    user = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="AT viewers"))
    client.force_login(user)
    return client


def test_groups_exist_with_their_permissions():
    operators = set(Group.objects.get(name="AT operators").permissions.values_list("codename", flat=True))
    viewers = set(Group.objects.get(name="AT viewers").permissions.values_list("codename", flat=True))
    assert {"add_outboundmessage", "lift_optout", "view_deliveryreport", "view_outboundmessage"} <= operators
    assert "view_deliveryreport" in viewers
    assert not any(c.startswith(("add_", "change_", "delete_", "lift_")) for c in viewers)


def test_compose_previews_then_sends(operator):
    page = operator.get(COMPOSE)
    assert page.status_code == 200
    preview = operator.post(
        COMPOSE, {"step": "form", "numbers": "+254711000001\n254711000002, 07bad", "text": "Habari ✓", "sender": "bulk"}
    )
    content = preview.content.decode()
    assert "2 recipients." in content
    assert "Encoding: UCS-2, 8 characters, 1 SMS part(s) per recipient." in content
    assert "UCS-2 because of: ✓" in content
    assert "07bad" in content  # named as left out
    assert not OutboundMessage.objects.exists()  # a preview sends nothing

    response = operator.post(
        COMPOSE,
        {
            "step": "confirm",
            "confirm": "yes",
            "numbers": "+254711000001\n+254711000002",
            "text": "Habari ✓",
            "sender": "bulk",
        },
        follow=True,
    )
    batch = OutboundBatch.objects.get()
    assert response.redirect_chain[-1][0] == reverse("admin:sms_outboundbatch_change", args=[batch.pk])
    assert "Queued 2 messages in batch #" in response.content.decode()
    assert list(batch.messages.order_by("pk").values_list("phone", flat=True)) == ["+254711000001", "+254711000002"]
    assert batch.requested_by.username == "operator"


def test_compose_from_a_csv_file(operator):
    upload = SimpleUploadedFile("numbers.csv", b"name,phone\nAmina,+254711000001\nBaraka,254711000002\n", "text/csv")
    preview = operator.post(
        COMPOSE, {"step": "form", "numbers": "", "csv_file": upload, "text": "Hi", "sender": "bulk"}
    )
    content = preview.content.decode()
    assert "2 recipients." in content
    assert "Encoding: GSM-7, 2 characters, 1 SMS part(s) per recipient." in content
    # The numbers from the file are carried to the confirmation as plain text.
    assert "+254711000001\n+254711000002" in preview.context["form"]["numbers"].value()


def test_compose_needs_at_least_one_valid_number(operator):
    response = operator.post(COMPOSE, {"step": "form", "numbers": "", "text": "Hi", "sender": "bulk"})
    assert "Paste at least one phone number" in response.content.decode()


def test_long_text_shows_its_parts(operator):
    preview = operator.post(COMPOSE, {"step": "form", "numbers": "+254711000001", "text": "a" * 161, "sender": "bulk"})
    assert "161 characters, 2 SMS part(s)" in preview.content.decode()


def test_viewers_cannot_compose(viewer):
    assert viewer.get(COMPOSE).status_code == 403
    response = viewer.post(
        COMPOSE, {"step": "confirm", "confirm": "yes", "numbers": "+254711000001", "text": "Hi", "sender": "bulk"}
    )
    assert response.status_code == 403
    assert not OutboundMessage.objects.exists()


def test_reply_asks_for_the_text_then_confirms(operator, client):
    post_callback(client, "/api/sms/twoway", load_payload("sms", "inbound_message"))
    inbound = InboundMessage.objects.get()
    changelist = reverse("admin:sms_inboundmessage_changelist")
    selection = {"action": "reply", "_selected_action": [inbound.pk]}
    form_page = operator.post(changelist, selection)
    assert 'name="text"' in form_page.content.decode()
    confirm_page = operator.post(changelist, {**selection, "step": "form", "text": "Asante"})
    assert "Send these replies?" in confirm_page.content.decode()
    assert "premium" in confirm_page.content.decode()
    assert not OutboundMessage.objects.exists()
    operator.post(changelist, {**selection, "step": "confirm", "confirm": "yes", "text": "Asante"})
    reply = OutboundMessage.objects.get()
    assert (reply.text, reply.mode, reply.link_id, reply.sender, reply.in_reply_to) == (
        "Asante",
        SmsMode.PREMIUM,
        "SampleLinkId123",
        "8995",
        inbound,
    )


def test_viewers_have_no_send_actions(viewer, client):
    post_callback(client, "/api/sms/twoway", load_payload("sms", "inbound_message"))
    inbound = InboundMessage.objects.get()
    changelist = reverse("admin:sms_inboundmessage_changelist")
    page = viewer.get(changelist)
    assert page.context["action_form"] is None  # no action this user may run
    viewer.post(
        changelist,
        {"action": "reply", "_selected_action": [inbound.pk], "step": "confirm", "confirm": "yes", "text": "x"},
    )
    assert not OutboundMessage.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_resend_confirms_and_links(staff_client, settings):
    operator = staff_client
    from sms.services import queue_sms

    settings.AT_API_URL = "http://127.0.0.1:9"
    settings.AT_SEND_MAX_ATTEMPTS = 1
    queue_sms(["+254711000001"], "Hi")
    run_worker()
    failed = OutboundMessage.objects.get()
    assert failed.status == OutboundStatus.FAILED
    changelist = reverse("admin:sms_outboundmessage_changelist")
    selection = {"action": "resend", "_selected_action": [failed.pk]}
    page = operator.post(changelist, selection)
    assert "Resend these messages?" in page.content.decode()
    assert OutboundMessage.objects.count() == 1
    response = operator.post(changelist, {**selection, "confirm": "yes"}, follow=True)
    assert "Queued 1 message in batch #" in response.content.decode()
    assert OutboundMessage.objects.get(resend_of=failed).status == OutboundStatus.QUEUED


def test_batch_pages_show_counts_without_n_plus_one(operator, django_assert_max_num_queries):
    from sms.services import queue_sms

    for i in range(5):
        queue_sms([f"+25471100000{i}", "bad"], "Hi")
    with django_assert_max_num_queries(10):
        page = operator.get(reverse("admin:sms_outboundbatch_changelist"))
    assert page.status_code == 200
    batch = OutboundBatch.objects.first()
    detail = operator.get(reverse("admin:sms_outboundbatch_change", args=[batch.pk])).content.decode()
    assert "queued: 1" in detail and "rejected: 1" in detail
    assert "+254711000004" in detail


def test_outbound_message_list_and_detail(operator, django_assert_max_num_queries):
    from sms.services import queue_sms

    queue_sms([f"+25471100000{i}" for i in range(5)], "Hi")
    with django_assert_max_num_queries(10):
        assert operator.get(reverse("admin:sms_outboundmessage_changelist")).status_code == 200
    message = OutboundMessage.objects.first()
    assert operator.get(reverse("admin:sms_outboundmessage_change", args=[message.pk])).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_report_links_to_its_message_and_the_message_lists_its_reports(staff_client, client, stub_at):
    from sms.models import DeliveryReport
    from sms.services import queue_sms

    post_callback(client, "/api/sms/delivery-reports", {"id": "ATXid_unrelated", "status": "Success"})
    queue_sms(["+254711000001"], "Hi")
    run_worker()
    message = OutboundMessage.objects.get()
    post_callback(client, "/api/sms/delivery-reports", {"id": message.at_message_id, "status": "Buffered"})
    reports = staff_client.get(reverse("admin:sms_deliveryreport_changelist")).content.decode()
    assert "unmatched" in reports
    assert reverse("admin:sms_outboundmessage_change", args=[message.pk]) in reports
    detail = staff_client.get(reverse("admin:sms_outboundmessage_change", args=[message.pk])).content.decode()
    assert "Buffered" in detail
    report = DeliveryReport.objects.get(message=message)
    assert reverse("admin:sms_deliveryreport_change", args=[report.pk]) in detail
