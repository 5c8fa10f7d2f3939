"""/metrics: Prometheus' text format behind its own token and address allowlist, every figure read from the
database at scrape time, in a fixed number of queries.

AT's SMS API is replaced by `responses` (sms/tests/conftest.py's answers); the worker is the real one.
"""

from datetime import timedelta

import pytest
import responses
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from hub.models import BalanceSnapshot, SendFailure
from hub.testing import load_payload, post_callback, run_worker
from sms import services
from sms.models import OutboundBatch, OutboundMessage
from sms.tests.conftest import SMS_URL, StubAT

TOKEN = "metrics-token-0123456789abcdef"


@pytest.fixture(autouse=True)
def metrics_token(settings):
    settings.AT_METRICS_TOKEN = TOKEN
    settings.AT_METRICS_ALLOWED_IPS = []
    settings.AT_TRUSTED_PROXIES = []


def scrape(client, token=TOKEN, **extra):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token is not None else {}
    return client.get("/metrics", **headers, **extra)


def samples(response) -> dict:
    """{(sample name, sorted labels): value} of a scrape."""
    assert response.status_code == 200, response.content
    found = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found, name, **labels):
    return found.get((name, tuple(sorted(labels.items()))))


# --- Who may read it ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_no_token_set_answers_404_as_if_there_were_no_page(client, settings):
    settings.AT_METRICS_TOKEN = ""
    response = scrape(client, token="anything")
    assert response.status_code == 404 and response.json() == {"error": "Not found."}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("authorization", "status", "words"),
    [
        (None, 401, "Missing metrics token"),
        ("Bearer ", 401, "Missing metrics token"),
        (f"Basic {TOKEN}", 401, "Missing metrics token"),
        ("Bearer wrong-token-0123456789abcdef", 403, "Invalid metrics token"),
        (f"Bearer {TOKEN}x", 403, "Invalid metrics token"),
    ],
)
def test_a_missing_or_wrong_token_is_refused_with_json(client, authorization, status, words):
    headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    response = client.get("/metrics", **headers)
    assert response.status_code == status and words in response.json()["error"]
    assert TOKEN not in response.content.decode()
    if status == 401:
        assert response["WWW-Authenticate"] == "Bearer"


@pytest.mark.django_db
def test_the_right_token_gets_prometheus_text_and_other_methods_405(client):
    response = scrape(client)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")  # the exposition format
    assert "no-cache" in response["Cache-Control"]
    assert "# TYPE atproject_queue_waiting gauge" in response.content.decode()
    posted = client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert posted.status_code == 405 and "use GET" in posted.json()["error"]


@pytest.mark.django_db
def test_the_address_allowlist_behind_trusted_proxies(client, settings):
    settings.AT_METRICS_ALLOWED_IPS = ["10.1.0.0/16"]
    refused = scrape(client, REMOTE_ADDR="192.0.2.7")
    assert refused.status_code == 403 and "AT_METRICS_ALLOWED_IPS" in refused.json()["error"]
    assert scrape(client, REMOTE_ADDR="10.1.2.3").status_code == 200
    # Behind a trusted proxy the caller is the nearest untrusted X-Forwarded-For hop; from elsewhere it is ignored.
    settings.AT_TRUSTED_PROXIES = ["127.0.0.1/32"]
    assert scrape(client, REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="10.1.9.9").status_code == 200
    assert scrape(client, REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.7").status_code == 403
    assert scrape(client, REMOTE_ADDR="192.0.2.8", HTTP_X_FORWARDED_FOR="10.1.9.9").status_code == 403
    # The token is still needed from an allowed address.
    assert scrape(client, token=None, REMOTE_ADDR="10.1.2.3").status_code == 401


# --- /metrics counts what was sent ---------------------------------------------------------------------------


@pytest.fixture
def stub_at(settings):
    settings.AT_API_URL = "http://at.stub"
    settings.AT_API_KEY = "atsk_test_key"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        stub = StubAT(mock)
        stub.reject["+254711000009"] = 403
        mock.add_callback(responses.POST, SMS_URL, callback=stub.answer)
        yield stub


@pytest.mark.queue
@pytest.mark.django_db(transaction=True)
def test_metrics_count_what_was_sent(stub_at, client):
    before = samples(scrape(client))
    assert value(before, "atproject_sends", product="sms", status="delivered", window="1h") is None

    services.queue_sms(["+254711000001", "+254711000002", "+254711000009"], "Hello")
    queued = samples(scrape(client))
    assert value(queued, "atproject_sends", product="sms", status="queued", window="1h") == 3
    run_worker()
    message = OutboundMessage.objects.get(phone="+254711000001")
    payload = {"id": message.at_message_id, "status": "Success", "phoneNumber": message.phone, "networkCode": "63902"}
    assert post_callback(client, "/api/sms/delivery-reports", payload).status_code == 200
    found = samples(scrape(client))
    assert value(found, "atproject_sends", product="sms", status="delivered", window="1h") == 1
    assert value(found, "atproject_sends", product="sms", status="submitted", window="24h") == 1
    assert value(found, "atproject_sends", product="sms", status="rejected", window="1h") == 1
    assert value(found, "atproject_callbacks_last_hour", kind="sms.delivery-reports", outcome="processed") == 1
    assert value(found, "atproject_send_submit_seconds_count", product="sms") == 2  # the two AT accepted
    assert value(found, "atproject_send_submit_seconds_bucket", product="sms", le="+Inf") == 2
    assert value(found, "atproject_queue_waiting") == 0


# --- Each figure ---------------------------------------------------------------------------------------------


@pytest.mark.queue
@pytest.mark.django_db(transaction=True)
def test_queued_sends_show_as_queue_depth_and_age(client):
    cache.clear()  # the shared cache outlives transactional tests: no worker seen before this one
    services.queue_sms(["+254711000001"], "Hello")
    found = samples(scrape(client))
    assert value(found, "atproject_queue_waiting") == 1
    assert value(found, "atproject_queue_oldest_waiting_seconds") >= 0
    assert value(found, "atproject_sends", product="sms", status="queued", window="1h") == 1
    assert value(found, "atproject_worker_seen_seconds_ago") == -1


@pytest.mark.django_db
def test_refused_and_failed_callbacks_are_counted_without_the_token(client):
    post_callback(
        client, "/api/sms/delivery-reports", {"id": "ATXid_9", "status": "Success"}, token_value="wr0ng-t0ken"
    )
    post_callback(client, "/api/sms/delivery-reports", {"status": "Success"})  # no id: stored failed
    post_callback(client, "/api/sms/twoway", load_payload("sms", "inbound_message"))
    post_callback(client, "/api/sms/twoway", load_payload("sms", "inbound_message"))  # a repeat
    found = samples(scrape(client))
    refused = value(found, "atproject_callbacks_refused_last_hour", path="/api/sms/delivery-reports", reason="token")
    assert refused == 1, {k: v for k, v in found.items() if "refused" in k[0]}
    assert value(found, "atproject_callbacks_last_hour", kind="sms.delivery-reports", outcome="failed") == 1
    assert value(found, "atproject_callbacks_last_hour", kind="sms.twoway", outcome="processed") == 1
    assert value(found, "atproject_callback_repeats_last_hour", kind="sms.twoway") == 1
    assert value(found, "atproject_callbacks_last_hour", kind="voice.events", outcome="processed") == 0
    assert "wr0ng-t0ken" not in scrape(client).content.decode()


@pytest.mark.django_db
def test_at_request_failures_balance_and_ussd_answer_times(client):
    now = timezone.now()
    SendFailure.objects.create(at=now, product="sms.OutboundMessage", outcome="queued", rows=3, reached=False,
                               error="AT could not be reached")  # fmt: skip
    SendFailure.objects.create(at=now, product="sms.OutboundMessage", outcome="failed", rows=1, http_status=401,
                               error="AT answered HTTP 401")  # fmt: skip
    SendFailure.objects.create(at=now - timedelta(hours=2), product="sms.OutboundMessage", outcome="failed",
                               error="old")  # fmt: skip
    BalanceSnapshot.objects.create(fetched_at=now, amount="12.5000", currency="KES")
    hop = load_payload("ussd", "session")
    assert post_callback(client, "/api/ussd/session", hop).status_code == 200
    found = samples(scrape(client))
    failures = "atproject_at_request_failures_last_hour"
    labels = {"product": "sms.OutboundMessage"}
    assert value(found, failures, **labels, outcome="queued", reached="false", http_status="none") == 1
    assert value(found, failures, **labels, outcome="failed", reached="true", http_status="401") == 1
    assert value(found, "atproject_at_last_send_failure_timestamp_seconds") == pytest.approx(now.timestamp())
    assert value(found, "atproject_at_balance", currency="KES") == 12.5
    assert value(found, "atproject_ussd_answer_seconds_count") == 1
    assert value(found, "atproject_ussd_answer_seconds_bucket", le="10.0") == 1


# --- Bounded: the same queries for N and 2N rows -------------------------------------------------------------


def add_rows(client, n: int, start: int) -> None:
    now = timezone.now()
    batch = OutboundBatch.objects.create(source="api", text="Hi")
    statuses = ["queued", "submitted", "delivered", "failed"]
    OutboundMessage.objects.bulk_create(
        OutboundMessage(batch=batch, phone=f"+2547110{start + i:05d}", text="Hi", status=statuses[i % 4],
                        submitted_at=now if i % 4 else None)
        for i in range(n)
    )  # fmt: skip
    SendFailure.objects.bulk_create(
        SendFailure(at=now, product="sms.OutboundMessage", outcome="failed", http_status=500 + i % 3, error="x")
        for i in range(n)
    )
    for i in range(start, start + n):
        post_callback(client, "/api/sms/delivery-reports", {"id": f"ATXid_{i}", "status": "Success"})
        post_callback(client, "/api/sms/delivery-reports", {"id": f"ATXid_{i}"}, token_value=f"wrong-{i}")
        hop = {**load_payload("ussd", "session"), "sessionId": f"ATUid_{i}"}
        post_callback(client, "/api/ussd/session", hop)


@pytest.mark.django_db
def test_a_scrape_runs_the_same_queries_for_n_and_2n_rows(client):
    add_rows(client, 4, 0)
    with CaptureQueriesContext(connection) as small:
        assert scrape(client).status_code == 200
    add_rows(client, 4, 100)
    with CaptureQueriesContext(connection) as large:
        found = samples(scrape(client))
    assert len(large.captured_queries) == len(small.captured_queries)
    assert value(found, "atproject_sends", product="sms", status="delivered", window="1h") == 2
    assert value(found, "atproject_callbacks_last_hour", kind="ussd.session", outcome="processed") == 8
