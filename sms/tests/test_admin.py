"""SMS in the admin: pages render with bounded queries, events are read-only, opt-outs lifted with care."""

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.urls import reverse

from hub.testing import load_payload, post_callback
from sms.models import DeliveryReport, InboundMessage, OptOut, OptOutEvent, Subscription, SubscriptionEvent

pytestmark = pytest.mark.django_db

EVENT_MODELS = [DeliveryReport, InboundMessage, OptOutEvent, SubscriptionEvent]
ALL_MODELS = [*EVENT_MODELS, OptOut, Subscription]


@pytest.fixture
def stored_callbacks(client):
    """Several of every SMS callback, through the real endpoints."""
    for i in range(5):
        dlr = {**load_payload("sms", "delivery_report"), "id": f"ATXid_{i}"}
        post_callback(client, "/api/sms/delivery-reports", dlr)
        post_callback(client, "/api/sms/twoway", {**load_payload("sms", "inbound_message"), "id": f"in-{i}"})
        post_callback(client, "/api/sms/opt-out", {**load_payload("sms", "opt_out"), "phoneNumber": f"+25471100010{i}"})
        subscription = {**load_payload("sms", "subscription"), "phoneNumber": f"+25471100020{i}"}
        post_callback(client, "/api/sms/subscription", subscription)
    for model in ALL_MODELS:
        assert model.objects.count() == 5


def admin_url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.__name__)
def test_list_page_renders_with_bounded_queries(staff_client, stored_callbacks, model, django_assert_max_num_queries):
    with django_assert_max_num_queries(12):
        response = staff_client.get(admin_url(model, "changelist"))
    assert response.status_code == 200
    assert response.context["cl"].result_count == 5


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.__name__)
def test_list_page_search_and_filters(staff_client, stored_callbacks, model):
    response = staff_client.get(admin_url(model, "changelist"), {"q": "+2547"})
    assert response.status_code == 200
    assert response.context["cl"].result_count >= 1


@pytest.mark.parametrize("model", EVENT_MODELS, ids=lambda m: m.__name__)
def test_detail_page_shows_the_payload_pretty_printed(staff_client, stored_callbacks, model):
    event = model.objects.first()
    response = staff_client.get(admin_url(model, "change", event.pk))
    assert response.status_code == 200
    content = response.content.decode()
    assert "<pre" in content
    first_key = sorted(event.payload)[0]
    assert f"&quot;{first_key}&quot;: " in content  # indented JSON, escaped in HTML
    assert 'name="_save"' not in content  # read-only: no save button


@pytest.mark.parametrize("model", EVENT_MODELS, ids=lambda m: m.__name__)
def test_events_cannot_be_added_or_changed(staff_client, stored_callbacks, model):
    event = model.objects.first()
    assert staff_client.get(admin_url(model, "add")).status_code == 403
    response = staff_client.post(admin_url(model, "change", event.pk), {"state": "processed"})
    assert response.status_code == 403


def test_only_superusers_may_delete_events(client, stored_callbacks, django_user_model):
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_deliveryreport", "delete_deliveryreport"])
    )
    client.force_login(viewer)
    report = DeliveryReport.objects.first()
    assert client.get(admin_url(DeliveryReport, "change", report.pk)).status_code == 200
    assert client.get(admin_url(DeliveryReport, "delete", report.pk)).status_code == 403


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.__name__)
def test_anonymous_users_are_sent_to_login(client, stored_callbacks, model):
    response = client.get(admin_url(model, "changelist"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_lifting_an_opt_out_asks_for_confirmation_first(staff_client, stored_callbacks):
    opt_out = OptOut.objects.first()
    data = {"action": "lift", "_selected_action": [opt_out.pk]}
    response = staff_client.post(admin_url(OptOut, "changelist"), data)
    assert response.status_code == 200
    assert "Lift opt-outs?" in response.content.decode()
    opt_out.refresh_from_db()
    assert opt_out.active is True

    response = staff_client.post(admin_url(OptOut, "changelist"), {**data, "confirm": "yes"}, follow=True)
    assert "Lifted 1 opt-out." in response.content.decode()
    opt_out.refresh_from_db()
    assert opt_out.active is False
    assert opt_out.lifted_by.username == "admin"
    assert LogEntry.objects.get(object_id=str(opt_out.pk)).get_change_message() == "Lifted the opt-out."


def test_lifting_needs_its_permission(client, stored_callbacks, django_user_model):
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_optout"))
    client.force_login(viewer)
    opt_out = OptOut.objects.first()
    data = {"action": "lift", "_selected_action": [opt_out.pk], "confirm": "yes"}
    client.post(admin_url(OptOut, "changelist"), data)
    opt_out.refresh_from_db()
    assert opt_out.active is True
