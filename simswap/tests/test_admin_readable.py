"""The readable SIM swap admin: checks in their own words, networks by operator, retries shown.

- A check is queued, "asking AT", "asked AT", "result received", refused, failed or unknown, never "delivered".
- Its network is named after the operator, in the list, the detail page and the filter.
- A check that could not reach AT shows its last error and its next try.
"""

from html import unescape

import pytest
import responses
from django.urls import reverse

from hub.outbound import OutboundStatus
from hub.testing import load_payload, post_callback, run_worker
from hub.tests.test_gateway import refused_connection
from simswap.models import SimSwapCheck
from simswap.services import queue_checks
from simswap.tests.test_simswap import AT_SIM_SWAP, STATUS, at_answer

pytestmark = pytest.mark.django_db(transaction=True)

CHANGELIST = "admin:simswap_simswapcheck_changelist"


@pytest.fixture(autouse=True)
def stub_host(settings):
    settings.AT_API_URL = "http://at.stub"


def text_of(client, url) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return unescape(response.content.decode())


def test_checks_speak_of_checks_and_name_the_network(staff_client, client):
    queue_checks(["+254711000000", "+254711000001"])
    with responses.RequestsMock() as mock:
        mock.post(AT_SIM_SWAP, json=at_answer("+254711000000", "+254711000001"))
        run_worker()
    answered, _waiting = SimSwapCheck.objects.order_by("phone")
    post_callback(
        client, STATUS, {**load_payload("simswap", "status"), "requestId": answered.at_request_id}, as_json=True
    )
    answered.refresh_from_db()
    assert answered.status == OutboundStatus.DELIVERED
    listing = text_of(staff_client, reverse(CHANGELIST))
    assert ">result received<" in listing and ">asked AT<" in listing
    assert ">delivered<" not in listing
    assert "Safaricom KE (63902)" in listing
    cl = staff_client.get(reverse(CHANGELIST)).context["cl"]
    status_filter = next(f for f in cl.filter_specs if getattr(f, "field_path", "") == "status")
    assert [str(c["display"]) for c in status_filter.choices(cl)] == [
        "All",
        "queued",
        "asking AT",
        "asked AT",
        "unknown (AT may have it)",
        "failed",
        "refused",
        "result received",
    ]
    network_filter = next(f for f in cl.filter_specs if getattr(f, "field_path", "") == "network_code")
    assert [c["display"] for c in network_filter.choices(cl)] == ["All", "Safaricom KE (63902)"]
    detail = text_of(staff_client, reverse("admin:simswap_simswapcheck_change", args=[answered.pk]))
    assert "result received" in detail and "Safaricom KE (63902)" in detail


def test_a_check_that_could_not_reach_at_shows_its_last_error_and_next_try(staff_client):
    queue_checks(["+254711000000"])
    with responses.RequestsMock() as mock:
        mock.post(AT_SIM_SWAP, body=refused_connection(AT_SIM_SWAP))
        run_worker()
    check = SimSwapCheck.objects.get()
    assert check.status == OutboundStatus.QUEUED and check.next_attempt_at is not None
    assert "Connection refused" in check.last_error
    listing = text_of(staff_client, reverse(CHANGELIST))
    assert "retry at" in listing and "Connection refused" in listing
    detail = text_of(staff_client, reverse("admin:simswap_simswapcheck_change", args=[check.pk]))
    assert "Last error" in detail and "Next try at" in detail
