"""The read API under /api/v1/: who may read, every list and detail, the filters, cursor pages that arriving rows
do not shift, bounded queries (N rows vs 2N), and the subscriber timeline as data."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token

from api.tests.seed import PHONE, seed
from sms.models import OutboundBatch, OutboundMessage
from sms.services import queue_sms
from ussd.models import UssdSession
from voice.models import Call

pytestmark = pytest.mark.django_db

V1 = "/api/v1/"
LISTS = ["messages", "batches", "inbound", "calls", "ussd-sessions", "airtime", "sim-swap"]


@pytest.fixture(autouse=True)
def operators(settings):
    settings.AT_DEFAULT_COUNTRY_CODE = "254"
    settings.AT_VOICE_NUMBER = "+254711082000"


def token_client(*permissions, staff=True, viewer=False) -> Client:
    """A client with the token of a new staff user holding `permissions` ("app.codename"), or all AT viewers'."""
    n = get_user_model().objects.count()
    user = get_user_model().objects.create_user(f"reader{n}", password="pw", is_staff=staff)
    for label in permissions:
        app_label, codename = label.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    if viewer:
        user.groups.add(Group.objects.get(name="AT viewers"))
    return Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")


@pytest.fixture
def reader():
    return token_client(viewer=True)


def get(client, path, **params):
    response = client.get(V1 + path, params)
    assert response["Content-Type"] == "application/json", response.content[:200]
    return response


# --- Who may read -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [*LISTS, "phones/+254711000001"])
def test_anonymous_requests_are_a_401_with_the_error_shape(name):
    response = get(Client(), f"{name}/")
    assert response.status_code == 401
    assert response.json() == {"error": "Authentication credentials were not provided."}
    assert response["WWW-Authenticate"] == "Token"


def test_a_token_of_a_user_no_longer_staff_is_a_401():
    response = get(token_client("sms.view_outboundmessage", staff=False), "messages/")
    assert response.status_code == 401
    assert "staff" in response.json()["error"]


def test_each_list_needs_its_models_view_permission():
    client = token_client("sms.view_outboundmessage")
    assert get(client, "messages/").status_code == 200
    response = get(client, "calls/")
    assert response.status_code == 403
    assert response.json() == {"error": "You need the permission 'voice.view_call'."}


def test_a_staff_session_reads_and_a_non_staff_session_is_refused(client, staff_client):
    assert get(staff_client, "messages/").status_code == 200
    user = get_user_model().objects.create_user("someone", password="pw")
    other = Client()
    other.force_login(user)
    response = get(other, "messages/")
    assert response.status_code == 403
    assert response.json() == {"error": "Only staff may use the read API."}


def test_the_api_reads_only(reader):
    seed(Client())
    message = OutboundMessage.objects.get()
    for method in ("post", "put", "patch", "delete"):
        response = getattr(reader, method)(f"{V1}messages/{message.pk}/", {}, content_type="application/json")
        assert response.status_code == 405, method
        assert "error" in response.json()


# --- Lists and details --------------------------------------------------------------------------------------


def test_every_list_shows_its_rows_newest_first_and_each_detail_by_id(reader):
    seed(Client())
    seed(Client(), 1)
    for name in LISTS:
        rows = get(reader, f"{name}/").json()["results"]
        assert len(rows) == 2, name
        assert rows[0]["id"] > rows[1]["id"], name
        detail = get(reader, f"{name}/{rows[1]['id']}/")
        assert detail.status_code == 200
        assert detail.json() == rows[1]


def test_a_missing_or_malformed_id_is_a_404_with_the_error_shape(reader):
    for path, error in (
        ("messages/999/", "No outbound message with id '999'."),
        ("calls/abc/", "No call with id 'abc'."),
    ):
        response = get(reader, path)
        assert response.status_code == 404
        assert response.json() == {"error": error}


def test_a_message_carries_its_delivery_reports_and_a_call_its_timeline(reader):
    seed(Client())
    seed(Client(), 1)
    first = OutboundMessage.objects.get(at_message_id="ATXid_a0")
    message = get(reader, f"messages/{first.pk}/").json()
    assert [(r["status"], r["retry_count"]) for r in message["delivery_reports"]] == [("Success", 0), ("Success", 1)]
    assert message["status"] == "delivered" and message["delivered_at"].endswith("Z")
    call = get(reader, f"calls/{Call.objects.get(session_id='ATVId_a0').pk}/").json()
    assert [step["type"] for step in call["timeline"]] == ["instructions", "event", "event"]
    session = get(reader, f"ussd-sessions/{UssdSession.objects.get(session_id='ATUid_a0').pk}/").json()
    assert [hop["input"] for hop in session["hops"]] == ["", "1", "1*1", "1*1*1"]


# --- Filters ----------------------------------------------------------------------------------------------------


def test_phone_filters_every_list_in_any_format(reader):
    seed(Client())
    seed(Client(), phone="+254722000002")
    for given in ("+254711000001", "254711000001", "0711 000 001", " 254711000001"):  # " ": an unencoded "+"
        for name in LISTS:
            rows = get(reader, f"{name}/", phone=given).json()["results"]
            assert len(rows) == 1, (name, given)
            assert rows[0].get("phone", PHONE) == PHONE


def test_a_bad_phone_is_a_400_naming_it(reader):
    response = get(reader, "messages/", phone="not-a-number")
    assert response.status_code == 400
    assert response.json()["error"].startswith("'phone' is not a phone number")


def test_status_takes_one_or_several_and_refuses_what_is_not_a_status(reader):
    queue_sms(["+254711000001", "+254711000002", "+254711000003"], "Hi")
    first, second, _third = OutboundMessage.objects.order_by("pk")
    OutboundMessage.objects.filter(pk=first.pk).update(status="failed")
    OutboundMessage.objects.filter(pk=second.pk).update(status="expired")
    assert {r["id"] for r in get(reader, "messages/", status="failed").json()["results"]} == {first.pk}
    both = get(reader, "messages/", status="failed,expired").json()["results"]
    assert {r["id"] for r in both} == {first.pk, second.pk}
    response = get(reader, "messages/", status="lost")
    assert response.status_code == 400
    assert response.json()["error"].startswith("'status' must be one of queued, sending")
    assert len(get(reader, "batches/", status="expired").json()["results"]) == 1
    assert get(reader, "batches/", status="delivered").json()["results"] == []


def test_call_and_ussd_statuses_are_ats_in_any_case(reader):
    seed(Client())
    assert len(get(reader, "calls/", status="completed").json()["results"]) == 1
    assert get(reader, "calls/", status="NotAnswered").json()["results"] == []


def test_since_and_until_take_iso_8601_with_a_zone_and_name_a_bad_value(reader):
    queue_sms(["+254711000001"], "old")
    queue_sms(["+254711000001"], "new")
    old, new = OutboundMessage.objects.order_by("pk")
    moment = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    OutboundMessage.objects.filter(pk=old.pk).update(created_at=moment - timedelta(seconds=1))
    OutboundMessage.objects.filter(pk=new.pk).update(created_at=moment)
    for since in ("2026-12-01T08:00:00Z", "2026-12-01T11:00:00+03:00", "2026-12-01T11:00:00 03:00", "2026-12-01T08:00"):
        assert [r["text"] for r in get(reader, "messages/", since=since).json()["results"]] == ["new"], since
    assert [r["text"] for r in get(reader, "messages/", until="2026-12-01T08:00:00Z").json()["results"]] == ["old"]
    assert len(get(reader, "messages/", since="2026-12-01").json()["results"]) == 2  # a date: its midnight, UTC
    for name, value in (("since", "yesterday"), ("until", "2026-13-01"), ("since", "2026-12-01T25:00")):
        response = get(reader, "messages/", **{name: value})
        assert response.status_code == 400
        assert response.json()["error"].startswith(f"'{name}' must be an ISO 8601 date-time")


def test_each_lists_own_filters(reader):
    seed(Client())
    seed(Client(), 1)
    batch = OutboundBatch.objects.earliest("pk")
    rows = get(reader, "messages/", batch=batch.pk).json()["results"]
    assert [r["batch"] for r in rows] == [batch.pk]
    assert get(reader, "messages/", batch="x").status_code == 400
    assert len(get(reader, "messages/", sender="ACME").json()["results"]) == 2
    assert get(reader, "messages/", sender="OTHER").json()["results"] == []
    assert len(get(reader, "batches/", sender="ACME").json()["results"]) == 2
    assert len(get(reader, "inbound/", network="63902").json()["results"]) == 2
    assert get(reader, "ussd-sessions/", network="62120").json()["results"] == []
    assert len(get(reader, "calls/", direction="inbound").json()["results"]) == 2


def test_a_parameter_a_list_does_not_take_is_a_400_naming_it(reader):
    response = get(reader, "messages/", phnoe="+254711000001")
    assert response.status_code == 400
    assert response.json()["error"] == (
        "Unknown parameter 'phnoe': this list takes phone, status, since, until, batch, sender, cursor, limit"
    )


# --- Pages --------------------------------------------------------------------------------------------------


def test_cursor_pages_stay_correct_while_rows_arrive(reader):
    queue_sms([f"+2547110000{i:02d}" for i in range(5)], "Hi")
    first = get(reader, "messages/", limit=2).json()
    seen = [r["id"] for r in first["results"]]
    queue_sms(["+254711000099"], "arrived meanwhile")  # lands before the first page, shifts nothing
    page = first
    while page["next"]:
        page = reader.get(page["next"]).json()
        seen += [r["id"] for r in page["results"]]
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen)) == 5
    back = reader.get(reader.get(first["next"]).json()["previous"]).json()
    assert [r["id"] for r in back["results"]] == [r["id"] for r in first["results"]]
    newest = get(reader, "messages/", limit=2).json()["results"][0]
    assert newest["text"] == "arrived meanwhile"


def test_a_bad_cursor_or_limit_is_a_400_naming_it(reader):
    for params, name in (({"cursor": "zzz"}, "cursor"), ({"cursor": "cD1hYmM="}, "cursor"), ({"limit": "0"}, "limit"),
                         ({"limit": "201"}, "limit"), ({"limit": "ten"}, "limit")):  # fmt: skip
        response = get(reader, "messages/", **params)
        assert response.status_code == 400, params
        assert response.json()["error"].startswith(f"'{name}'")


@pytest.mark.parametrize("name", LISTS)
def test_a_page_costs_the_same_queries_for_n_rows_as_for_2n(reader, name):
    def queries() -> int:
        reader.get(f"{V1}{name}/")  # the token and permission caches are warm alike in both
        with CaptureQueriesContext(connection) as captured:
            response = get(reader, f"{name}/")
        assert response.status_code == 200
        return len(captured)

    for i in range(2):
        seed(Client(), i)
    with_n = queries()
    for i in range(2, 6):
        seed(Client(), i)
    assert len(get(reader, f"{name}/").json()["results"]) >= 4
    assert queries() == with_n


# --- The subscriber timeline ---------------------------------------------------------------------------------------


def test_the_timeline_lists_every_product_of_a_number_in_any_format(reader):
    seed(Client())
    seed(Client(), phone="+254722000002")
    body = get(reader, "phones/0711000001/").json()
    assert body["phone"] == PHONE
    kinds = {event["kind"] for event in body["events"]}
    assert kinds == {"sms-out", "sms-in", "ussd", "call", "call-request", "airtime", "sim-swap"}
    assert all(event["data"].get("phone", PHONE) == PHONE for event in body["events"])
    times = [event["time"] for event in body["events"]]
    assert times == sorted(times, reverse=True)
    ussd = next(e for e in body["events"] if e["kind"] == "ussd")["data"]
    assert [hop["input"] for hop in ussd["hops"]] == ["", "1", "1*1"]
    assert body["next"] is None and body["previous"] is None
    assert body["opt_outs"] == [] and body["subscriptions"] == []


def test_the_timeline_shows_only_the_kinds_the_user_may_view(reader):
    seed(Client())
    body = get(token_client("sms.view_outboundmessage"), f"phones/{PHONE}/").json()
    assert {event["kind"] for event in body["events"]} == {"sms-out"}
    assert body["opt_outs"] is None


def test_the_timeline_pages_and_refuses_a_bad_number_or_key(reader):
    queue_sms(["+254711000001"] * 1, "x")
    for i in range(60):
        queue_sms(["+254711000001"], f"Hi {i}")
    first = get(reader, f"phones/{PHONE}/").json()
    assert len(first["events"]) == 50 and first["next"]
    older = reader.get(first["next"]).json()
    assert len(older["events"]) == 11 and older["next"] is None and older["previous"]
    response = get(reader, "phones/abc/")
    assert response.status_code == 400 and "is not a phone number" in response.json()["error"]
    response = get(reader, f"phones/{PHONE}/", before="garbage")
    assert response.status_code == 400 and response.json()["error"].startswith("'before'")


def test_a_timeline_page_costs_the_same_queries_for_n_objects_as_for_2n(reader):
    def queries() -> int:
        get(reader, f"phones/{PHONE}/")
        with CaptureQueriesContext(connection) as captured:
            assert get(reader, f"phones/{PHONE}/").status_code == 200
        return len(captured)

    for i in range(2):
        seed(Client(), i)
    with_n = queries()
    for i in range(2, 4):
        seed(Client(), i)
    assert queries() == with_n
