"""Event webhooks end to end within the test process: real callbacks and sends cause events, the real worker
delivers them to a real receiver on loopback, the signatures are checked with the `standardwebhooks` library."""

import json
import logging
import time
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

import webhooks
from api.serializers import represent
from hub.testing import load_payload, post_callback, strand_waiting_tasks
from sms import services
from sms.models import InboundMessage, OptOut, OutboundMessage
from webhooks import delivery, maintenance
from webhooks.models import Attempt, Delivery, DeliveryStatus, Endpoint, Event

from .conftest import deliver_all, endpoint_for, free_port, retries_come_due

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.queue]

API = "/api/v1/webhook-endpoints/"


def inbound(client, n: int = 0):
    payload = {**load_payload("sms", "inbound_message"), "id": f"inbound-{n}", "text": f"hello {n}"}
    assert post_callback(client, "/api/sms/twoway", payload).status_code == 200


def verified(endpoint: Endpoint, request: dict, secret: str | None = None) -> dict:
    return Webhook(secret or endpoint.secret).verify(request["raw"], request["headers"])


def test_an_event_is_delivered_signed_the_standard_webhooks_way(client, receiver):
    endpoint = endpoint_for(receiver.url, "sms.received")
    inbound(client)
    deliver_all()
    (request,) = receiver.requests
    body = verified(endpoint, request)
    event = Event.objects.get()
    assert request["headers"]["webhook-id"] == str(event.pk) == body["id"]
    assert request["path"] == "/hooks/atproject?team=ops"
    assert request["headers"]["Content-Type"] == "application/json"
    assert body["type"] == "sms.received"
    assert body["timestamp"].startswith(event.created_at.isoformat()[:19])
    assert body["data"] == represent(InboundMessage.objects.get())
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint.secret).verify(request["raw"].replace(b"hello", b"HELLO"), request["headers"])
    attempt = Attempt.objects.get()
    assert attempt.ok and attempt.status_code == 200 and attempt.response_excerpt == "ok"
    assert Delivery.objects.get().status == DeliveryStatus.DELIVERED


def test_no_event_is_written_when_no_endpoint_wants_the_type_and_one_insert_when_one_does(client, receiver):
    endpoint_for(receiver.url, "sms.delivered")
    with CaptureQueriesContext(connection) as unwanted:
        inbound(client, 1)
    assert Event.objects.count() == 0
    endpoint_for(receiver.url, "sms.received")
    inbound(client, 0)  # the first request of a process reads what it reads once
    with CaptureQueriesContext(connection) as wanted:
        inbound(client, 2)
    inserts = [q["sql"] for q in wanted.captured_queries if 'INSERT INTO "webhooks_event"' in q["sql"]]
    assert len(inserts) == 1
    statements = [q for q in wanted.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    tasks = [q for q in wanted.captured_queries if "django_tasks_database" in q["sql"] or "dbtaskresult" in q["sql"]]
    others = [q for q in unwanted.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert len(statements) - len(inserts) - len(tasks) <= len(others)


def test_a_receiver_down_for_a_while_gets_every_event_once_it_is_back(client):
    from .conftest import Receiver

    port = free_port()
    endpoint = endpoint_for(f"http://127.0.0.1:{port}/in", "sms.received")
    for n in range(5):
        inbound(client, n)
    deliver_all()
    # One try: the other events of the batch wait for the same retry, untried (no call per event to a dead host).
    (attempt,) = Attempt.objects.all()
    assert attempt.error == "connection refused or unreachable" and attempt.status_code is None
    waits = {d.next_attempt_at - attempt.at for d in Delivery.objects.all()}
    assert len(waits) == 1 and timedelta(seconds=3) < waits.pop() < timedelta(seconds=7)  # the first retry: ~5 s
    endpoint.refresh_from_db()
    assert endpoint.failing_since is not None
    receiver = Receiver(port=port)
    try:
        retries_come_due()
        ids = [r["headers"]["webhook-id"] for r in receiver.requests]
        assert sorted(ids) == sorted(str(e) for e in Event.objects.values_list("pk", flat=True))
        assert len(ids) == len(set(ids)) == 5
        assert all(verified(endpoint, r) for r in receiver.requests)
        assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.DELIVERED}
        endpoint.refresh_from_db()
        assert endpoint.failing_since is None
    finally:
        receiver.close()


def test_once_the_receiver_answers_again_its_waiting_deliveries_go_at_once(client, receiver):
    endpoint = endpoint_for(receiver.url, "sms.received")
    receiver.answers = [503, 503, 503]
    for n in range(3):
        inbound(client, n)
    deliver_all()
    assert len(receiver.requests) == 3
    # One retry comes due (the others wait minutes); its success sends the others now.
    first = Delivery.objects.order_by("pk").first()
    Delivery.objects.filter(pk=first.pk).update(next_attempt_at=timezone.now())
    deliver_all()
    assert len(receiver.requests) == 6
    assert Delivery.objects.filter(status=DeliveryStatus.DELIVERED).count() == 3
    assert endpoint.deliveries.count() == 3


def test_retry_schedule_first_retries_within_a_minute_about_a_day_in_all():
    waits = [delivery.retry_delay(n) for n in range(1, len(delivery.RETRY_DELAYS) + 1)]
    assert waits[0] + waits[1] < 60
    total = sum(delivery.RETRY_DELAYS)
    assert timedelta(hours=20) < timedelta(seconds=total) < timedelta(hours=28)
    assert delivery.retry_delay(len(delivery.RETRY_DELAYS) + 1) is None
    jittered = {round(delivery.retry_delay(3), 3) for _ in range(20)}
    assert len(jittered) > 1 and all(96 <= j <= 144 for j in jittered)


def test_non_2xx_timeouts_and_the_end_of_the_schedule(client, receiver, settings):
    long = b"x" * 5000
    receiver.answers = [(500, {}, long), (302, {"Location": receiver.url + "&moved=1"}, b"")]
    endpoint_for(receiver.url, "sms.received")
    inbound(client)
    deliver_all()
    retries_come_due()
    retries_come_due()
    attempts = list(Attempt.objects.order_by("at"))
    assert [a.status_code for a in attempts] == [500, 302, 200]
    assert attempts[0].error == "HTTP 500" and len(attempts[0].response_excerpt) == delivery.EXCERPT_BYTES
    assert "redirects are not followed" in attempts[1].error
    assert [r["path"] for r in receiver.requests].count("/hooks/atproject?team=ops&moved=1") == 0
    assert all(a.duration_ms < 2000 for a in attempts)
    # The last try of the schedule gives up.
    receiver.answers = [500]
    inbound(client, 2)
    deliver_all()
    last = Delivery.objects.get(status=DeliveryStatus.PENDING)
    Delivery.objects.filter(pk=last.pk).update(tries=len(delivery.RETRY_DELAYS))
    receiver.answers = [500]
    retries_come_due()
    last.refresh_from_db()
    assert last.status == DeliveryStatus.FAILED and last.next_attempt_at is None


def test_a_read_timeout_is_short_and_retried(client, settings):
    import socket
    import threading

    settings.AT_EVENTS_READ_TIMEOUT = 0.5
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    held = []
    threading.Thread(target=lambda: held.append(listener.accept()), daemon=True).start()
    try:
        endpoint_for(f"http://127.0.0.1:{listener.getsockname()[1]}/slow", "sms.received")
        inbound(client)
        started = time.monotonic()
        deliver_all()
        assert time.monotonic() - started < 5
        attempt = Attempt.objects.get()
        assert attempt.error == "read timeout" and attempt.status_code is None
        assert Delivery.objects.get().status == DeliveryStatus.PENDING
    finally:
        listener.close()


def test_an_endpoint_failing_for_a_day_is_disabled_and_logged(client, caplog):
    port = free_port()
    endpoint = endpoint_for(f"http://127.0.0.1:{port}/in", "sms.received")
    inbound(client, 1)
    inbound(client, 2)
    deliver_all()
    Endpoint.objects.filter(pk=endpoint.pk).update(failing_since=timezone.now() - timedelta(hours=25))
    with caplog.at_level(logging.ERROR, logger="atproject.webhooks"):
        retries_come_due()
    endpoint.refresh_from_db()
    assert not endpoint.enabled and "every attempt failed since" in endpoint.disabled_reason
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.FAILED}
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert f"#{endpoint.pk}" in record.getMessage() and "/in" not in record.getMessage()
    # No more events are written for it.
    before = Event.objects.count()
    inbound(client, 3)
    assert Event.objects.count() == before


def test_the_sweep_disables_an_endpoint_whose_failures_last_a_day():
    endpoint = Endpoint.objects.create(url="http://127.0.0.1:9/x", events=["sms.sent"])
    Endpoint.objects.filter(pk=endpoint.pk).update(failing_since=timezone.now() - timedelta(hours=25))
    assert maintenance.sweep()["disabled"] == 1
    endpoint.refresh_from_db()
    assert not endpoint.enabled


def test_a_worker_killed_mid_way_loses_nothing(client, receiver):
    endpoint_for(receiver.url, "sms.received")
    for n in range(3):
        inbound(client, n)
    strand_waiting_tasks()  # the dispatcher's task taken by a worker that died
    assert maintenance.sweep()["dispatched"] == 0  # too recent: the dispatcher may still come
    Event.objects.update(created_at=timezone.now() - timedelta(minutes=1))
    assert maintenance.sweep()["dispatched"] == 3
    strand_waiting_tasks()  # the delivery task dies too, after claiming one delivery
    first = Delivery.objects.order_by("pk").first()
    assert delivery.attempt(first.pk) == 1  # ... sent before it died
    Delivery.objects.filter(pk=first.pk).update(status=DeliveryStatus.PENDING, next_attempt_at=timezone.now())
    assert receiver.requests and len(receiver.requests) == 1
    # The leases end; the sweep wakes the endpoint.
    Delivery.objects.update(next_attempt_at=timezone.now() - maintenance.OVERDUE - timedelta(seconds=1))
    Endpoint.objects.update(wake_at=timezone.now() - delivery.STALE_WAKE - timedelta(seconds=1))
    assert maintenance.sweep()["woken"] == 1
    deliver_all()
    ids = [r["headers"]["webhook-id"] for r in receiver.requests]
    assert len(set(ids)) == 3 and len(ids) == 4  # at least once: the id lets the receiver drop the repeat
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.DELIVERED}


# --- Replay -----------------------------------------------------------------------------------------------------


def test_staff_replay_one_event_from_the_admin(client, receiver, staff_client):
    endpoint = endpoint_for(receiver.url, "sms.received")
    inbound(client)
    deliver_all()
    event = Event.objects.get()
    page = staff_client.post(
        "/admin/webhooks/event/", {"action": "replay", "_selected_action": [str(event.pk)]}, follow=True
    )
    assert page.status_code == 200 and "1 deliveries sent again" in page.content.decode()
    deliver_all()
    assert [r["headers"]["webhook-id"] for r in receiver.requests] == [str(event.pk)] * 2
    assert receiver.requests[0]["raw"] == receiver.requests[1]["raw"]  # the same body on every attempt
    assert verified(endpoint, receiver.requests[1])


def test_staff_replay_every_failed_event_of_an_endpoint_since_a_time(client, receiver, staff_client):
    endpoint = endpoint_for(f"http://127.0.0.1:{free_port()}/gone", "sms.received")
    for n in range(4):
        inbound(client, n)
    deliver_all()
    old, *recent = Event.objects.order_by("created_at")
    Event.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))
    Delivery.objects.update(status=DeliveryStatus.FAILED, next_attempt_at=None)
    Endpoint.objects.filter(pk=endpoint.pk).update(url=receiver.url)
    since = (timezone.now() - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    form = {"action": "replay_failed", "_selected_action": [str(endpoint.pk)], "since": since}
    confirm = staff_client.post("/admin/webhooks/endpoint/", {**form, "step": "form"})
    assert confirm.status_code == 200 and "Send them again" in confirm.content.decode()
    done = staff_client.post("/admin/webhooks/endpoint/", {**form, "step": "confirm", "confirm": "yes"}, follow=True)
    assert "3 deliveries sent again" in done.content.decode()
    deliver_all()
    assert sorted(r["headers"]["webhook-id"] for r in receiver.requests) == sorted(str(e.pk) for e in recent)




# --- Rotation ---------------------------------------------------------------------------------------------------


def test_a_rotated_secret_and_the_previous_one_both_verify_during_the_grace_period(client, receiver, staff_client):
    endpoint = endpoint_for(receiver.url, "sms.received")
    old = endpoint.secret
    rotate = f"{API}{endpoint.pk}/rotate-secret/"
    answer = staff_client.post(rotate, {"grace_hours": 2}, content_type="application/json")
    assert answer.status_code == 200
    new = answer.json()["secret"]
    assert new.startswith("whsec_") and new != old
    inbound(client, 1)
    deliver_all()
    request = receiver.requests[-1]
    assert len(request["headers"]["webhook-signature"].split(" ")) == 2
    assert verified(endpoint, request, old) and verified(endpoint, request, new)
    Endpoint.objects.filter(pk=endpoint.pk).update(previous_secret_until=timezone.now() - timedelta(seconds=1))
    inbound(client, 2)
    deliver_all()
    request = receiver.requests[-1]
    assert verified(endpoint, request, new)
    with pytest.raises(WebhookVerificationError):
        verified(endpoint, request, old)




# --- Registration and the SSRF guard ----------------------------------------------------------------------------


def test_scripts_register_an_endpoint_and_see_its_secret_only_then(staff_client, receiver):
    answer = staff_client.post(
        API, {"url": receiver.url, "events": ["sms.delivered", "sms.failed"]}, content_type="application/json"
    )
    assert answer.status_code == 201, answer.content
    body = answer.json()
    endpoint = Endpoint.objects.get(pk=body["id"])
    assert body["secret"] == endpoint.secret and body["secret"].startswith("whsec_")
    assert answer["Cache-Control"] == "no-store"
    assert Webhook(body["secret"])  # a secret the libraries accept
    listed = staff_client.get(API)
    assert listed.status_code == 200 and endpoint.secret not in listed.content.decode()
    shown = staff_client.get(f"{API}{endpoint.pk}/")
    assert shown.json()["events"] == ["sms.delivered", "sms.failed"] and "secret" not in shown.json()


def test_registration_needs_a_superuser_or_the_permission(client, receiver):
    anonymous = client.post(API, {"url": receiver.url, "events": ["sms.sent"]}, content_type="application/json")
    assert anonymous.status_code == 401 and "error" in anonymous.json()
    staff = get_user_model().objects.create_user("ops", password="pw", is_staff=True)
    client.force_login(staff)
    refused = client.post(API, {"url": receiver.url, "events": ["sms.sent"]}, content_type="application/json")
    assert refused.status_code == 403 and "error" in refused.json()
    staff.user_permissions.add(Permission.objects.get(codename="add_endpoint"))
    allowed = client.post(API, {"url": receiver.url, "events": ["sms.sent"]}, content_type="application/json")
    assert allowed.status_code == 201


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"url": "http://127.0.0.1:9/x", "events": ["sms.nope"]}, "events"),
        ({"url": "http://127.0.0.1:9/x", "events": []}, "events"),
        ({"url": "http://127.0.0.1:9/x"}, "events"),
        ({"url": "ftp://127.0.0.1/x", "events": ["sms.sent"]}, "url"),
        ({"url": "not a url", "events": ["sms.sent"]}, "url"),
        ({"events": ["sms.sent"]}, "url"),
    ],
)
def test_bad_registrations_are_400_naming_the_field(staff_client, body, named):
    answer = staff_client.post(API, body, content_type="application/json")
    assert answer.status_code == 400
    assert named in answer.json()["error"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[::ffff:10.0.0.5]/hook",
        "https://10.1.2.3/hook",
        "https://192.168.1.10/hook",
        "https://172.16.0.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[fe80::1]/hook",
        "https://0.0.0.0/hook",
        "https://100.64.0.1/hook",
    ],
)
def test_private_loopback_and_link_local_addresses_are_refused_at_registration(staff_client, settings, url):
    settings.AT_EVENTS_ALLOW_PRIVATE = False
    answer = staff_client.post(API, {"url": url, "events": ["sms.sent"]}, content_type="application/json")
    assert answer.status_code == 400, answer.content
    assert "AT_EVENTS_ALLOW_PRIVATE" in answer.json()["error"]
    assert not Endpoint.objects.exists()


def test_https_is_required_unless_debug_or_an_allowed_private_address(staff_client, settings):
    public = {"url": "http://93.184.215.14/hook", "events": ["sms.sent"]}
    answer = staff_client.post(API, public, content_type="application/json")
    assert answer.status_code == 400 and "https://" in answer.json()["error"]
    assert staff_client.post(API, {**public, "url": "https://93.184.215.14/hook"},
                             content_type="application/json").status_code == 201  # fmt: skip
    settings.DEBUG = True
    assert staff_client.post(API, public, content_type="application/json").status_code == 201
    settings.DEBUG = False
    private = {"url": "http://127.0.0.1:9/hook", "events": ["sms.sent"]}
    assert staff_client.post(API, private, content_type="application/json").status_code == 201
    settings.AT_EVENTS_ALLOW_PRIVATE = False
    assert staff_client.post(API, private, content_type="application/json").status_code == 400






def test_delivery_to_an_address_no_longer_allowed_is_refused_without_a_request(client, receiver, settings):
    endpoint_for(receiver.url, "sms.received")
    inbound(client)
    settings.AT_EVENTS_ALLOW_PRIVATE = False
    deliver_all()
    assert receiver.requests == []
    attempt = Attempt.objects.get()
    assert attempt.error.startswith("refused:") and "127.0.0.1" in attempt.error


# --- Event types from the products ------------------------------------------------------------------------------


def test_sms_sent_delivered_and_failed_from_a_send_and_its_reports(client, receiver, stub_at):
    endpoint = endpoint_for(receiver.url, "sms.sent", "sms.delivered", "sms.failed")
    services.queue_sms(["+254711000001", "+254711000002"], "Hello")
    deliver_all()
    first, second = OutboundMessage.objects.order_by("pk")
    for message, status in ((first, "Success"), (second, "Failed")):
        payload = {"id": message.at_message_id, "status": status, "phoneNumber": message.phone}
        assert post_callback(client, "/api/sms/delivery-reports", payload).status_code == 200
    # A repeat of a report writes no second event.
    post_callback(client, "/api/sms/delivery-reports", {"id": first.at_message_id, "status": "Success",
                                                        "phoneNumber": first.phone})  # fmt: skip
    deliver_all()
    bodies = [verified(endpoint, r) for r in receiver.requests]
    assert sorted((b["type"], b["data"]["id"]) for b in bodies) == sorted(
        [("sms.sent", first.pk), ("sms.sent", second.pk), ("sms.delivered", first.pk), ("sms.failed", second.pk)]
    )


def test_opt_out_and_subscription_events(client, receiver):
    endpoint = endpoint_for(receiver.url, "sms.opted_out", "sms.subscription")
    assert post_callback(client, "/api/sms/opt-out", load_payload("sms", "opt_out")).status_code == 200
    assert post_callback(client, "/api/sms/subscription", load_payload("sms", "subscription")).status_code == 200
    deliver_all()
    bodies = {b["type"]: b["data"] for b in (verified(endpoint, r) for r in receiver.requests)}
    opt_out = OptOut.objects.get()
    assert bodies["sms.opted_out"]["id"] == opt_out.pk and bodies["sms.opted_out"]["opted_out"] is True
    assert bodies["sms.subscription"]["object"] == "sms.subscription"


def test_event_body_holds_nothing_of_our_secrets(client, receiver, settings):
    endpoint = endpoint_for(receiver.url, "sms.received")
    inbound(client)
    deliver_all()
    raw = receiver.requests[0]["raw"].decode()
    for secret in (endpoint.secret, settings.AT_WEBHOOK_TOKEN[0], settings.SECRET_KEY):
        assert secret not in raw


def test_the_done_when_in_small_every_delivered_message_of_a_1000_recipient_send(client, stub_at):
    from .conftest import Receiver

    started = time.monotonic()
    port = free_port()
    endpoint = endpoint_for(f"http://127.0.0.1:{port}/dlr", "sms.delivered")
    phones = [f"+2547{n:08d}" for n in range(1000)]
    services.queue_sms(phones, "Hello")
    deliver_all()
    messages = list(OutboundMessage.objects.order_by("pk"))
    assert len(messages) == 1000 and all(m.at_message_id for m in messages)
    for n, message in enumerate(messages):
        if n == 500:
            deliver_all()  # the receiver is down for the first half
            assert Attempt.objects.filter(ok=False).exists()
            assert not Attempt.objects.filter(ok=True).exists()
            receiver = Receiver(port=port)
        payload = {"id": message.at_message_id, "status": "Success", "phoneNumber": message.phone}
        assert post_callback(client, "/api/sms/delivery-reports", payload).status_code == 200
    try:
        deliver_all()
        retries_come_due()
        ids = [r["headers"]["webhook-id"] for r in receiver.requests]
        assert len(ids) == len(set(ids)) == 1000
        assert all(verified(endpoint, r) for r in receiver.requests)
        assert sorted(json.loads(r["raw"])["data"]["id"] for r in receiver.requests) == [m.pk for m in messages]
    finally:
        receiver.close()
    assert time.monotonic() - started < 60


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the one-statement delivery report is PostgreSQL's")
def test_on_postgresql_a_delivery_reports_event_is_written_by_the_reports_own_statement(client, receiver, stub_at):
    services.queue_sms(["+254711000001", "+254711000002", "+254711000003"], "Hello")
    deliver_all()
    first, second, third = OutboundMessage.objects.order_by("pk")

    def report(message, status="Success"):
        payload = {"id": message.at_message_id, "status": status, "phoneNumber": message.phone}
        with CaptureQueriesContext(connection) as captured:
            assert post_callback(client, "/api/sms/delivery-reports", payload).status_code == 200
        return [q["sql"] for q in captured.captured_queries]

    without = report(first)
    endpoint = endpoint_for(receiver.url, "sms.delivered")
    assert webhooks.wants("sms.delivered")  # what the process learns once every few seconds
    with_endpoint = report(second)
    tasks = [q for q in with_endpoint if "django_tasks" in q]  # the dispatcher woken (once a second at most)
    assert len(with_endpoint) - len(tasks) == len(without)
    (statement,) = [q for q in with_endpoint if 'INSERT INTO "sms_deliveryreport"' in q]
    assert 'INSERT INTO "webhooks_event"' in statement
    (event,) = Event.objects.all()
    assert (event.type, event.object_id) == ("sms.delivered", second.pk)
    # A repeat of the report writes no event; nor does a report that moves nothing.
    report(second)
    report(third, "Buffered")
    assert Event.objects.count() == 1
    deliver_all()
    (request,) = receiver.requests
    body = verified(endpoint, request)
    assert body["data"]["id"] == second.pk and body["data"]["status"] == "delivered"


def test_ussd_voice_airtime_and_sim_swap_events(client, receiver):
    from decimal import Decimal

    from airtime.models import AirtimeTransaction
    from simswap.models import SimSwapCheck
    from ussd.models import UssdSession
    from voice.models import Call

    endpoint = endpoint_for(
        receiver.url, "ussd.session.ended", "voice.call.ended", "airtime.delivered", "airtime.failed",
        "simswap.checked",
    )
    txn = AirtimeTransaction.objects.create(
        phone="+254711000000", amount=Decimal(100), currency="KES", status="submitted",
        at_request_id="ATQid_SampleTxnId123",
    )
    check = SimSwapCheck.objects.create(
        phone="+254711000000", status="submitted", at_request_id="ATSwpid_4032b7bfddd5fdca0c401184a84cbb0d"
    )
    for path, fixture in (
        ("/api/ussd/status", ("ussd", "end")),
        ("/api/voice/events", ("voice", "event")),
        ("/api/airtime/status", ("airtime", "status")),
        ("/api/sim-swap/status", ("simswap", "status")),
    ):
        assert post_callback(client, path, load_payload(*fixture)).status_code == 200, path
    # Repeats and later events of an ended call write nothing more.
    post_callback(client, "/api/voice/events", {**load_payload("voice", "event"), "durationInSeconds": "43"})
    deliver_all()
    bodies = {b["type"]: b["data"] for b in (verified(endpoint, r) for r in receiver.requests)}
    assert sorted(bodies) == ["airtime.delivered", "simswap.checked", "ussd.session.ended", "voice.call.ended"]
    assert bodies["ussd.session.ended"]["id"] == UssdSession.objects.get().pk
    assert bodies["voice.call.ended"]["id"] == Call.objects.get().pk
    assert bodies["airtime.delivered"]["id"] == txn.pk
    assert bodies["simswap.checked"]["id"] == check.pk
    assert len(receiver.requests) == 4


def test_old_events_are_pruned_unless_a_delivery_waits(client, receiver):
    endpoint_for(receiver.url, "sms.received")
    inbound(client, 1)
    inbound(client, 2)
    deliver_all()
    done, waiting = Event.objects.order_by("created_at")
    Delivery.objects.filter(event=waiting).update(status=DeliveryStatus.PENDING)
    Event.objects.update(created_at=timezone.now() - maintenance.KEEP_EVENTS - timedelta(hours=1))
    assert maintenance.prune() == 1
    assert list(Event.objects.values_list("pk", flat=True)) == [waiting.pk]
    assert Attempt.objects.filter(delivery__event=done).count() == 0


def test_scripts_change_and_delete_an_endpoint(staff_client, receiver, settings):
    endpoint = endpoint_for(receiver.url, "sms.sent")
    changed = staff_client.patch(f"{API}{endpoint.pk}/", {"events": ["sms.failed"], "enabled": False},
                                 content_type="application/json")  # fmt: skip
    assert changed.status_code == 200 and changed.json()["events"] == ["sms.failed"]
    assert not webhooks.wants("sms.failed")  # disabled: nothing is written for it
    settings.AT_EVENTS_ALLOW_PRIVATE = False
    refused = staff_client.patch(f"{API}{endpoint.pk}/", {"url": "https://10.0.0.1/x"}, content_type="application/json")
    assert refused.status_code == 400 and "'url'" in refused.json()["error"]
    missing = staff_client.get(f"{API}999999/")
    assert missing.status_code == 404 and missing.json()["error"]
    assert staff_client.delete(f"{API}{endpoint.pk}/").status_code == 204
    assert not Endpoint.objects.exists()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.example/t0k3n-path?key=secret", "https://hooks.example/…"),
        ("https://user:pass@hooks.example:8443/p", "https://hooks.example:8443/…"),
        ("https://[2001:db8::1]/p", "https://[2001:db8::1]/…"),
    ],
)
def test_an_endpoint_is_named_by_its_host_and_port_only(url, shown):
    assert str(Endpoint(url=url)) == shown
