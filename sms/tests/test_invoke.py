"""The SMS invoke API: authentication, permission, parameters, CSRF and throttling."""

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.test import Client
from rest_framework.authtoken.models import Token

from hub.outbound import OutboundStatus
from sms.models import OutboundBatch, OutboundMessage

pytestmark = pytest.mark.django_db

BULK = "/api/sms/invoke-bulk-sms"
TWOWAY = "/api/sms/invoke-twoway-sms"


@pytest.fixture(autouse=True)
def fresh_throttle():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def sender(django_user_model):
    user = django_user_model.objects.create_user("script", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="add_outboundmessage"))
    return user


@pytest.fixture
def api(sender):
    token = Token.objects.create(user=sender)
    return Client(HTTP_AUTHORIZATION=f"Token {token.key}")


def test_get_with_token_queues_like_the_reference_app(api, settings):
    settings.AT_SENDER_ID = "ACME"
    response = api.get(BULK, {"phone": "254711000000", "message": "Hello"})
    assert response.status_code == 202
    body = response.json()
    message = OutboundMessage.objects.get()
    assert body == {
        "message": "SMS queued for 1 recipient(s)",
        "batch": message.batch_id,
        "recipients": [{"phone": "+254711000000", "status": "queued", "id": message.pk}],
    }
    assert (message.sender, message.text, message.requested_by.username) == ("ACME", "Hello", "script")


@pytest.mark.parametrize(
    "phone",
    [
        "+254711000000,+254711000001",
        " 254711000000, 254711000001",  # a raw "+" in a query string arrives as a space
        '["+254711000000", "+254711000001"]',
    ],
)
def test_phone_as_a_list_in_several_forms(api, phone):
    response = api.get(BULK, {"phone": phone, "message": "Hi"})
    assert response.status_code == 202
    assert [r["phone"] for r in response.json()["recipients"]] == ["+254711000000", "+254711000001"]


def test_post_json_and_form(api):
    json_response = api.post(BULK, {"phone": ["+254711000000"], "message": "Hi"}, content_type="application/json")
    form_response = api.post(BULK, {"phone": "+254711000001", "message": "Hi"})
    assert (json_response.status_code, form_response.status_code) == (202, 202)
    assert OutboundBatch.objects.count() == 2


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"message": "Hi"}, "Missing 'phone' query parameter"),
        ({"phone": "", "message": "Hi"}, "Missing 'phone' query parameter"),
        ({"phone": "+254711000000"}, "Missing 'message' query parameter"),
        ({"phone": "+254711000000,07123", "message": "Hi"}, "Invalid phone number: '07123'"),
        ({"phone": "[not json", "message": "Hi"}, "'phone' is not a valid JSON list"),
    ],
)
def test_bad_parameters_are_400_naming_the_problem(api, params, error):
    response = api.get(BULK, params)
    assert response.status_code == 400
    assert response.json()["error"].startswith(error)
    assert not OutboundMessage.objects.exists()


def test_missing_field_in_a_post_body(api):
    response = api.post(BULK, {"message": "Hi"}, content_type="application/json")
    assert response.json() == {"error": "Missing 'phone' parameter"}


def test_local_numbers_need_a_default_country_code(api, settings):
    assert api.get(BULK, {"phone": "0711000000", "message": "Hi"}).status_code == 400
    settings.AT_DEFAULT_COUNTRY_CODE = "254"
    response = api.get(BULK, {"phone": "0711000000", "message": "Hi"})
    assert response.json()["recipients"][0]["phone"] == "+254711000000"


def test_opted_out_recipient_is_reported_blocked(api, client, settings):
    from hub.testing import post_callback

    settings.AT_SENDER_ID = "ACME"
    post_callback(client, "/api/sms/opt-out", {"phoneNumber": "+254711000000", "senderId": "ACME"})
    response = api.get(BULK, {"phone": "+254711000000,+254711000001", "message": "Hi"})
    body = response.json()
    assert body["message"] == "SMS queued for 1 recipient(s)"
    assert body["recipients"][0]["status"] == OutboundStatus.BLOCKED
    assert body["recipients"][0]["reason"] == "opted out of ACME"


def test_no_credentials_is_401(client):
    response = client.get(BULK, {"phone": "+254711000000", "message": "Hi"})
    assert response.status_code == 401
    assert "error" in response.json()


def test_bad_token_is_401():
    response = Client(HTTP_AUTHORIZATION="Token not-a-token").get(BULK, {"phone": "+254711000000", "message": "Hi"})
    assert response.status_code == 401


def test_without_the_permission_is_403(django_user_model):
    user = django_user_model.objects.create_user("nobody", password="pw", is_staff=True)
    token = Token.objects.create(user=user)
    response = Client(HTTP_AUTHORIZATION=f"Token {token.key}").get(BULK, {"phone": "+254711000000", "message": "Hi"})
    assert response.status_code == 403
    assert "sms.add_outboundmessage" in response.json()["error"]


def test_session_get_is_refused_even_for_superusers(staff_client):
    response = staff_client.get(BULK, {"phone": "+254711000000", "message": "Hi"})
    assert response.status_code == 403
    assert "POST" in response.json()["error"]
    assert not OutboundMessage.objects.exists()


def test_session_post_needs_csrf(staff_user):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(staff_user)
    response = browser.post(BULK, {"phone": "+254711000000", "message": "Hi"})
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]
    browser.get("/admin/")  # sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    response = browser.post(BULK, {"phone": "+254711000000", "message": "Hi"}, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 202


def test_session_of_a_non_staff_user_is_refused(sender):
    sender.is_staff = False
    sender.save()
    browser = Client()
    browser.force_login(sender)
    response = browser.post(BULK, {"phone": "+254711000000", "message": "Hi"})
    assert response.status_code == 403


@pytest.mark.parametrize("change", ["is_staff", "is_active"])
def test_a_token_stops_working_when_its_user_loses_staff_status_or_is_deactivated(api, sender, change):
    assert api.get(BULK, {"phone": "+254711000000", "message": "Hi"}).status_code == 202
    setattr(sender, change, False)
    sender.save()
    response = api.get(BULK, {"phone": "+254711000001", "message": "Hi"})
    assert response.status_code == 401
    assert OutboundMessage.objects.count() == 1


def test_the_throttle_lets_exactly_the_limit_through_concurrent_requests(transactional_db, settings):
    """200 requests at once against 60/min: 60 pass, 140 get 429 (the counter is one atomic upsert)."""
    from concurrent.futures import ThreadPoolExecutor

    from django.contrib.auth import get_user_model
    from django.db import connection

    settings.AT_API_THROTTLE_RATE = "60/min"
    user = get_user_model().objects.create_user("burst", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="add_outboundmessage"))
    key = Token.objects.create(user=user).key

    def call(_):
        try:
            api = Client(HTTP_AUTHORIZATION=f"Token {key}")
            return api.get(BULK, {"phone": "+254711000000", "message": "x"}).status_code
        finally:
            connection.close()

    import time

    if 60 - time.time() % 60 < 20:  # the windows are clock minutes: start the burst inside one
        time.sleep(60 - time.time() % 60)
    with ThreadPoolExecutor(max_workers=16) as pool:
        codes = list(pool.map(call, range(200)))
    assert (codes.count(202), codes.count(429)) == (60, 140), codes


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"phone": "+254711000000", "message": "nul\u0000here"}, "'message' contains a NUL character"),
        ({"phone": "+254711000000", "message": "lone \ud800 surrogate"}, "'message' is not valid Unicode"),
        ({"phone": ["+254711000000", "\ud800"], "message": "x"}, "'phone' is not valid Unicode"),
        ({"phone": "+254711000000", "message": "x", "bad\u0000key": "y"}, "a parameter name contains a NUL"),
    ],
)
def test_text_no_database_can_store_is_a_400_naming_it(api, body, named):
    import json

    response = api.post(BULK, data=json.dumps(body), content_type="application/json")
    assert response.status_code == 400
    assert named in response.json()["error"]
    assert not OutboundMessage.objects.exists()


def test_nul_in_a_query_parameter_is_a_400(api):
    response = api.get(BULK, {"phone": "+254711000000", "message": "a\x00b"})
    assert response.status_code == 400
    assert "NUL" in response.json()["error"]


def test_more_form_fields_than_django_allows_is_a_json_400(api):
    body = "&".join(f"f{i}=x" for i in range(1500)) + "&phone=%2B254711000000&message=x"
    response = api.post(BULK, data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert "error" in response.json()
    assert not OutboundMessage.objects.exists()


def test_throttled_callers_get_429(api, settings):
    settings.AT_API_THROTTLE_RATE = "2/min"
    responses = [api.get(BULK, {"phone": "+254711000000", "message": "Hi"}) for _ in range(3)]
    assert [r.status_code for r in responses] == [202, 202, 429]
    assert "throttled" in responses[2].json()["error"]
    assert OutboundBatch.objects.count() == 2


def test_twoway_sends_from_the_shortcode(api, settings):
    settings.AT_SHORTCODE = "8995"
    response = api.get(TWOWAY, {"phone": "+254711000000", "message": "Hi"})
    assert response.status_code == 202
    assert OutboundMessage.objects.get().sender == "8995"


def test_twoway_without_a_shortcode_says_so(api, settings):
    settings.AT_SHORTCODE = ""
    response = api.get(TWOWAY, {"phone": "+254711000000", "message": "Hi"})
    assert response.status_code == 400
    assert "AT_SHORTCODE" in response.json()["error"]


@pytest.mark.parametrize("service", ["sms", "voice", "airtime", "sim-swap", "ussd"])
def test_services_answer_ready(client, service):
    assert client.get(f"/api/{service}/").json() == {"service": service, "status": "ready"}


def test_api_never_waits_on_at(api, settings):
    settings.AT_API_URL = "http://127.0.0.1:9"  # AT unreachable: the request still answers at once
    assert api.get(BULK, {"phone": "+254711000000", "message": "Hi"}).status_code == 202
    assert OutboundMessage.objects.get().status == OutboundStatus.QUEUED


def test_a_format_parameter_is_just_a_parameter(api):
    response = api.get(BULK, {"phone": "+254711000000", "message": "Hi", "format": "0"})
    assert response.status_code == 202
