"""The callback hot path: only what a callback needs, the fewest statements."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from hub.testing import load_payload, post_callback
from sms.models import DeliveryReport

pytestmark = pytest.mark.django_db

DLR_URL = "/api/sms/delivery-reports"
USSD_URL = "/api/ussd/session"


def test_a_callback_skips_the_browser_middleware(client):
    client.cookies["sessionid"] = "anything"
    client.cookies["csrftoken"] = "x" * 32
    response = post_callback(client, DLR_URL, load_payload("sms", "delivery_report"))
    assert response.status_code == 200
    assert DeliveryReport.objects.count() == 1
    # No CSP built for a text answer, no session looked up, no cookie set.
    assert "Content-Security-Policy" not in response
    assert "Vary" not in response
    assert not response.cookies
    assert not hasattr(response.wsgi_request, "session")
    # SecurityMiddleware, above the shortcut, still answers for callbacks.
    assert response["X-Content-Type-Options"] == "nosniff"


def test_pages_keep_the_whole_middleware(client):
    response = client.get("/admin/login/")
    assert "Content-Security-Policy" in response
    assert hasattr(response.wsgi_request, "session")
    assert hasattr(response.wsgi_request, "user")


def test_the_shortcut_keeps_the_callback_views_answers(client):
    # Refused, wrong method, unknown path next to a callback: the same answers as through the full stack.
    assert (
        post_callback(client, DLR_URL, load_payload("sms", "delivery_report"), token_value="wrong").status_code == 403
    )
    assert client.get(DLR_URL).status_code == 405
    assert post_callback(client, DLR_URL + "-nope", {}).status_code == 404
    assert DeliveryReport.objects.count() == 0


@pytest.mark.django_db(transaction=True)  # as served: no test transaction around the request
def test_a_delivery_report_costs_the_same_statements_for_n_and_2n_reports(client):
    def statements(first: int, count: int) -> int:
        with CaptureQueriesContext(connection) as captured:
            for n in range(first, first + count):
                payload = {**load_payload("sms", "delivery_report"), "id": f"ATXid_hot_{n}"}
                assert post_callback(client, DLR_URL, payload).status_code == 200
        return len(captured.captured_queries)

    once, twice = statements(0, 5), statements(5, 10)
    assert twice == 2 * once
    if connection.vendor == "postgresql":
        assert once == 5  # stored, linked and applied in one autocommitted statement each


def test_a_ussd_hop_costs_the_same_statements_for_n_and_2n_hops(client):
    def statements(first: int, count: int) -> int:
        with CaptureQueriesContext(connection) as captured:
            for n in range(first, first + count):
                body = {
                    "sessionId": f"ATUid_hot_{n}",
                    "serviceCode": "*384*123#",
                    "phoneNumber": "+254711000001",
                    "networkCode": "63902",
                    "text": "",
                }
                response = post_callback(client, USSD_URL, body)
                assert response.status_code == 200 and response.content.startswith(b"CON ")
        return len(captured.captured_queries)

    statements(0, 1)  # the menu's first load
    once, twice = statements(1, 5), statements(6, 10)
    assert twice == 2 * once
