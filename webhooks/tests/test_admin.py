"""The webhooks' admin pages: registration with the secret shown once, rotation, the SSRF guard, who may replay.
(Not transactional: the staff groups of the data migrations are there.)"""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from webhooks.models import Endpoint

from .conftest import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    started = Receiver()
    yield started
    started.close()


def test_viewers_see_the_pages_but_cannot_replay(client):
    from django.contrib.auth.models import Group

    from hub.groups import VIEWERS

    viewer = get_user_model().objects.create_user("viewer", password="pw", is_staff=True)
    viewer.groups.add(Group.objects.get(name=VIEWERS))
    client.force_login(viewer)
    assert client.get("/admin/webhooks/event/").status_code == 200
    assert client.get("/admin/webhooks/delivery/").status_code == 200
    page = client.get("/admin/webhooks/endpoint/").content.decode()
    assert "replay_failed" not in page


def test_rotation_from_the_admin_shows_the_new_secret_once(staff_client):
    endpoint = Endpoint.objects.create(url="http://127.0.0.1:9/x", events=["sms.sent"])
    form = {"action": "rotate_secret", "_selected_action": [str(endpoint.pk)], "grace_hours": "24"}
    page = staff_client.post("/admin/webhooks/endpoint/", {**form, "step": "confirm", "confirm": "yes"})
    endpoint.refresh_from_db()
    assert endpoint.secret in page.content.decode() and "no-store" in page["Cache-Control"]
    assert endpoint.previous_secret_until > timezone.now() + timedelta(hours=23)
    change = staff_client.get(f"/admin/webhooks/endpoint/{endpoint.pk}/change/").content.decode()
    assert endpoint.secret not in change and endpoint.previous_secret not in change


def test_the_admin_refuses_a_private_address_too(staff_client, settings):
    settings.AT_EVENTS_ALLOW_PRIVATE = False
    page = staff_client.post(
        "/admin/webhooks/endpoint/add/", {"url": "https://169.254.169.254/x", "events": ["sms.sent"], "enabled": "on"}
    )
    assert page.status_code == 200 and "AT_EVENTS_ALLOW_PRIVATE" in page.content.decode()
    assert not Endpoint.objects.exists()


def test_the_admin_registers_an_endpoint_and_shows_its_secret_once(staff_client, receiver):
    page = staff_client.post(
        "/admin/webhooks/endpoint/add/", {"url": receiver.url, "events": ["sms.sent", "sms.failed"], "enabled": "on"}
    )
    endpoint = Endpoint.objects.get()
    assert page.status_code == 200 and endpoint.secret in page.content.decode()
    assert endpoint.events == ["sms.sent", "sms.failed"]
    assert endpoint.secret not in staff_client.get("/admin/webhooks/endpoint/").content.decode()


@pytest.mark.parametrize("page", [
    "endpoint_changelist", "endpoint_change", "event_changelist", "event_change", "delivery_changelist",
    "delivery_change",
])  # fmt: skip
def test_admin_pages_run_as_many_queries_at_2n_rows_as_at_n(staff_client, page):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from webhooks.models import Delivery, Event

    from .growth import grow_webhooks

    def url():
        model = {"endpoint": Endpoint, "event": Event, "delivery": Delivery}[page.split("_")[0]]
        args = [model.objects.order_by("pk").first().pk] if page.endswith("_change") else []
        return reverse(f"admin:webhooks_{page}", args=args)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert staff_client.get(url()).status_code == 200
        return len(captured)

    grow_webhooks(0, 3)
    queries()  # the process's caches first
    at_n = queries()
    grow_webhooks(3, 3)
    assert queries() == at_n
