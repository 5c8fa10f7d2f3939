"""SIM swap: checks sent through the worker, results linked by requestId in either order."""

from datetime import date

import pytest
import responses
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token

from hub.outbound import OutboundStatus
from hub.testing import load_payload, make_deferred_tasks_due, post_callback, run_worker
from hub.tests.test_gateway import refused_connection
from simswap.models import SimSwapCheck, SimSwapStatusEvent
from simswap.services import queue_checks

pytestmark = pytest.mark.django_db

STATUS = "/api/sim-swap/status"
AT_SIM_SWAP = "http://at.stub/v1/sim-swap"


def at_answer(*numbers):
    return {
        "transactionId": "738e202b-ea2f-43e5-b451-a85334e90fb5",
        "status": "Processed",
        "totalCost": {"amount": 0.5, "currencyCode": "KES"},
        "responses": [
            {
                "phoneNumber": {
                    "carrierName": "Safaricom",
                    "countryCode": "254",
                    "networkCode": "63902",
                    "number": number,
                    "numberType": "mobile",
                },
                "status": "Queued",
                "requestId": f"ATSwpid_{i}",
                "cost": "KES 0.5",
            }
            for i, number in enumerate(numbers)
        ],
    }


@pytest.fixture(autouse=True)
def stub_host(settings):
    settings.AT_API_URL = "http://at.stub"


@pytest.fixture
def api(django_user_model):
    user = django_user_model.objects.create_user("fraud", password="pw", is_staff=True)  # tokens: staff only
    user.user_permissions.add(Permission.objects.get(codename="add_simswapcheck"))
    return Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")


@pytest.mark.django_db(transaction=True)
def test_invoke_then_worker_stores_request_id_and_carrier(api):
    response = api.get("/api/sim-swap/invoke-check-simswap", {"phone": "254711000000,254711000001"})
    assert response.status_code == 202
    assert response.json()["message"] == "Sim swap check queued for 2 number(s)"
    with responses.RequestsMock() as mock:
        mock.post(AT_SIM_SWAP, json=at_answer("+254711000000", "+254711000001"))
        run_worker()
        import json

        assert json.loads(mock.calls[0].request.body)["phoneNumbers"] == ["+254711000000", "+254711000001"]
    first = SimSwapCheck.objects.order_by("pk").first()
    assert (first.status, first.at_request_id, first.at_status, first.carrier_name, first.number_type) == (
        OutboundStatus.SUBMITTED,
        "ATSwpid_0",
        "Queued",
        "Safaricom",
        "mobile",
    )
    assert first.swap_status == ""  # pending until the callback


def test_needs_its_permission(django_user_model):
    user = django_user_model.objects.create_user("nobody", password="pw", is_staff=True)
    client = Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    assert client.get("/api/sim-swap/invoke-check-simswap", {"phone": "+254711000000"}).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_a_503_ends_unknown_by_default_and_is_checked_once():
    queue_checks(["+254711000000"])
    with responses.RequestsMock() as mock:
        mock.post(AT_SIM_SWAP, body="Service Unavailable", status=503)
        run_worker()
        make_deferred_tasks_due()
        run_worker()
        assert len(mock.calls) == 1
    check = SimSwapCheck.objects.get()
    assert (check.status, check.attempts) == (OutboundStatus.UNKNOWN, 1)


@pytest.mark.django_db(transaction=True)
def test_with_at_retry_gateway_errors_a_503_is_retried(settings):
    settings.AT_RETRY_GATEWAY_ERRORS = True
    queue_checks(["+254711000000"])
    with responses.RequestsMock() as mock:
        mock.post(AT_SIM_SWAP, body="Service Unavailable", status=503)
        run_worker()
        mock.replace(responses.POST, AT_SIM_SWAP, json=at_answer("+254711000000"))
        assert make_deferred_tasks_due() == 1
        run_worker()
        assert len(mock.calls) == 2
    check = SimSwapCheck.objects.get()
    assert (check.status, check.attempts, check.at_request_id) == (OutboundStatus.SUBMITTED, 2, "ATSwpid_0")


@pytest.mark.django_db(transaction=True)
def test_a_check_that_never_reached_at_is_retried():
    queue_checks(["+254711000000"])
    with responses.RequestsMock() as mock:
        mock.post(AT_SIM_SWAP, body=refused_connection(AT_SIM_SWAP))
        run_worker()
        mock.replace(responses.POST, AT_SIM_SWAP, json=at_answer("+254711000000"))
        assert make_deferred_tasks_due() == 1
        run_worker()
    assert SimSwapCheck.objects.get().status == OutboundStatus.SUBMITTED


def submitted(request_id="ATSwpid_4032b7bfddd5fdca0c401184a84cbb0d"):
    (check,) = queue_checks(["+254711000000"])
    SimSwapCheck.objects.filter(pk=check.pk).update(status=OutboundStatus.SUBMITTED, at_request_id=request_id)
    return check


@pytest.mark.parametrize(
    ("status", "swap_date", "expected_date"),
    [("Swapped", "01-01-1900", None), ("NotSwapped", "15-03-2026", date(2026, 3, 15)), ("Weird", "", None)],
)
def test_status_applied_by_request_id(client, status, swap_date, expected_date):
    check = submitted()
    payload = {**load_payload("simswap", "status"), "status": status, "lastSimSwapDate": swap_date}
    assert post_callback(client, STATUS, payload, as_json=True).status_code == 200
    check.refresh_from_db()
    assert (check.swap_status, check.last_swap_date, check.provider_ref_id) == (
        status,
        expected_date,
        "fe3b-46fd-931c-b2ef3a64da93311064104",
    )
    assert SimSwapStatusEvent.objects.get().swap_check == check


def test_form_encoded_status_works_too(client):
    check = submitted()
    post_callback(client, STATUS, load_payload("simswap", "status"))
    check.refresh_from_db()
    assert check.swap_status == "Swapped"


def test_malformed_date_is_named(client):
    submitted()
    response = post_callback(client, STATUS, {**load_payload("simswap", "status"), "lastSimSwapDate": "soon"})
    assert response.status_code == 400
    assert "'lastSimSwapDate'" in response.json()["error"]


@pytest.mark.django_db(transaction=True)
def test_status_before_the_checks_answer_is_linked_later(client):
    post_callback(client, STATUS, {**load_payload("simswap", "status"), "requestId": "ATSwpid_0"}, as_json=True)
    assert SimSwapStatusEvent.objects.get().swap_check is None
    queue_checks(["+254711000000"])
    with responses.RequestsMock() as mock:
        mock.post(AT_SIM_SWAP, json=at_answer("+254711000000"))
        run_worker()
    check = SimSwapCheck.objects.get()
    assert (check.swap_status, SimSwapStatusEvent.objects.get().swap_check) == ("Swapped", check)


def test_check_sim_swap_action_on_lists_with_phones(staff_client, client):
    from sms.models import InboundMessage

    post_callback(client, "/api/sms/twoway", load_payload("sms", "inbound_message"))
    url = reverse("admin:sms_inboundmessage_changelist")
    selection = {"action": "check_sim_swap", "_selected_action": [InboundMessage.objects.get().pk]}
    assert "Check these numbers for a SIM swap?" in staff_client.post(url, selection).content.decode()
    assert not SimSwapCheck.objects.exists()
    staff_client.post(url, {**selection, "confirm": "yes"})
    assert SimSwapCheck.objects.get().phone == "+254711000001"


@pytest.mark.parametrize("result", ["swapped", "not_swapped", "pending"])
def test_result_filter(staff_client, client, result):
    check = submitted()
    queue_checks(["+254711000009"])
    post_callback(client, STATUS, load_payload("simswap", "status"), as_json=True)
    page = staff_client.get(reverse("admin:simswap_simswapcheck_changelist"), {"result": result})
    expected = {"swapped": 1, "not_swapped": 0, "pending": 1}[result]
    assert page.context["cl"].result_count == expected
    detail = staff_client.get(reverse("admin:simswap_simswapcheck_change", args=[check.pk]))
    assert detail.status_code == 200
