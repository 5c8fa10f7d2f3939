"""Every rule kind fires on seeded data, holds across two maintenance passes as one incident, and resolves.

Each test seeds what the rule watches the way the product writes it (callbacks
through their URLs, sends through the services, the rows the pipeline records),
runs `manage.py maintain` twice (one incident, figures refreshed), then makes the
condition go away and runs it again (resolved).
"""

from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
import responses
from django.core.cache import cache
from django.core.management import call_command
from django.utils import timezone

from alerts.models import AlertKind, AlertRule, Incident, Scope
from hub.models import BalanceSnapshot, RefusedCallback, SendFailure
from hub.testing import backdate_tasks, load_payload, post_callback, run_worker
from sms.models import OutboundMessage
from sms.services import queue_sms

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def quiet(settings):
    """AT is never asked (the balance refresh gets a refused connection); nothing remembered from other tests."""
    settings.AT_API_URL = "http://127.0.0.1:9"
    cache.clear()


def rule(kind, **values) -> AlertRule:
    """The kind's rule (the migration made one), with `values`; the other rules stay as they are."""
    found, _ = AlertRule.objects.update_or_create(kind=kind, defaults={"name": kind, "enabled": True, **values})
    return found


def maintain() -> None:
    call_command("maintain", stdout=StringIO())


def open_incidents(kind) -> list[Incident]:
    return list(Incident.objects.filter(rule__kind=kind, resolved_at__isnull=True).order_by("key"))


def fires_and_holds(kind, keys) -> list[Incident]:
    """Two passes: one incident per key, the same rows both times, seen again on the second."""
    maintain()
    first = open_incidents(kind)
    assert [i.key for i in first] == sorted(keys)
    maintain()
    second = open_incidents(kind)
    assert [i.pk for i in second] == [i.pk for i in first]
    assert all(b.last_seen_at > a.last_seen_at for a, b in zip(first, second, strict=True))
    assert Incident.objects.filter(rule__kind=kind).count() == len(keys)
    return second


def resolves(kind, count: int = 1) -> None:
    maintain()
    assert open_incidents(kind) == []
    resolved = Incident.objects.filter(rule__kind=kind)
    assert resolved.count() == count and all(i.resolved_at is not None for i in resolved)


def submit(messages, *, ago=timedelta(0), status="submitted"):
    """Messages as AT's send answer leaves them: submitted, with AT's message id."""
    now = timezone.now()
    for n, message in enumerate(messages):
        OutboundMessage.objects.filter(pk=message.pk).update(
            status=status, at_message_id=f"ATXid_alert_{message.pk}_{n}", submitted_at=now - ago
        )


def test_the_migration_creates_one_enabled_rule_per_kind():
    kinds = list(AlertRule.objects.order_by("kind").values_list("kind", flat=True))
    assert kinds == sorted(AlertKind.values)
    failure = AlertRule.objects.get(kind=AlertKind.SMS_FAILURE_RATE)
    assert (failure.threshold, failure.window_minutes, failure.min_count, failure.scope) == (20, 60, 50, Scope.ALL)
    assert AlertRule.objects.filter(enabled=True).count() == len(AlertKind.values)


def test_sms_failure_rate_fires_overall_per_network_and_per_sender(client):
    rule(AlertKind.SMS_FAILURE_RATE, threshold=Decimal(50), window_minutes=60, min_count=10, scope=Scope.ALL)
    batch = queue_sms([f"+2547110000{n:02d}" for n in range(10)], "Hello", sender="MyBrand")
    messages = list(batch.messages.order_by("pk"))
    submit(messages)
    for n, message in enumerate(messages):
        report = load_payload("sms", "delivery_report")
        report.update(id=OutboundMessage.objects.get(pk=message.pk).at_message_id, phoneNumber=message.phone)
        if n < 6:
            report.update(status="Failed", failureReason="UserInBlacklist")
        assert post_callback(client, "/api/sms/delivery-reports", report).status_code == 200
    assert OutboundMessage.objects.filter(status="failed").count() == 6
    held = fires_and_holds(AlertKind.SMS_FAILURE_RATE, ["network:63902", "overall", "sender:MyBrand"])
    overall = next(i for i in held if i.key == "overall")
    assert overall.figures["messages"] == 10 and overall.figures["not_delivered"] == 6
    assert overall.figures["failure_rate_percent"] == 60.0
    assert "60.0% of 10 SMS not delivered" in overall.summary
    network = next(i for i in held if i.key == "network:63902")
    assert "Safaricom" in network.figures["network"]
    assert client.get(overall.link).status_code in (200, 302)  # the failed messages' list (staff only)
    # An hour later the failures are outside the window.
    OutboundMessage.objects.update(created_at=timezone.now() - timedelta(hours=2))
    resolves(AlertKind.SMS_FAILURE_RATE, count=3)


def test_sms_failure_rate_needs_its_minimum_of_messages():
    rule(AlertKind.SMS_FAILURE_RATE, threshold=Decimal(10), min_count=50, scope=Scope.OVERALL)
    batch = queue_sms(["+254711000001", "+254711000002"], "Hi")
    OutboundMessage.objects.filter(batch=batch).update(status="failed")
    maintain()
    assert open_incidents(AlertKind.SMS_FAILURE_RATE) == []


def test_callback_silence_fires_when_no_delivery_report_voice_event_or_airtime_status_came(client):
    from airtime.models import AirtimeTransaction
    from voice.models import OutboundCall

    rule(AlertKind.CALLBACK_SILENCE, window_minutes=30, min_count=3)
    batch = queue_sms(["+254711000001", "+254711000002", "+254711000003"], "Hi")
    messages = list(batch.messages.order_by("pk"))
    submit(messages, ago=timedelta(minutes=40))
    long_ago = timezone.now() - timedelta(minutes=45)
    voice_session = load_payload("voice", "event")["sessionId"]
    for n in range(3):
        OutboundCall.objects.create(
            phone="+254711000001", from_number="+254711082000", status="submitted", submitted_at=long_ago,
            at_session_id=voice_session if n == 0 else f"ATVId_other_{n}",
        )  # fmt: skip
        AirtimeTransaction.objects.create(
            phone="+254711000000", amount=Decimal(100), currency="KES", status="submitted", submitted_at=long_ago,
            at_request_id="ATQid_SampleTxnId123" if n == 0 else f"ATQid_other_{n}",
        )  # fmt: skip
    # Sends of the last half hour are not expected to have callbacks yet.
    queue_sms(["+254711000009"], "Just now")
    held = fires_and_holds(AlertKind.CALLBACK_SILENCE, ["airtime", "sms", "voice"])
    sms = next(i for i in held if i.key == "sms")
    assert sms.figures["submitted"] == 3 and sms.figures["callback_path"] == "/api/sms/delivery-reports"
    assert "not one delivery report" in sms.summary
    # One callback of each kind arrives: the URLs are right after all.
    report = load_payload("sms", "delivery_report")
    report["id"] = OutboundMessage.objects.get(pk=messages[0].pk).at_message_id
    post_callback(client, "/api/sms/delivery-reports", report)
    post_callback(client, "/api/voice/events", load_payload("voice", "event"))
    post_callback(client, "/api/airtime/status", load_payload("airtime", "status"))
    resolves(AlertKind.CALLBACK_SILENCE, count=3)


def test_refused_callbacks_fire_with_the_path_and_source_address_never_the_token(client):
    rule(AlertKind.REFUSED_CALLBACKS, threshold=Decimal(10), window_minutes=60)
    for _ in range(11):
        response = post_callback(
            client, "/api/sms/delivery-reports", {"id": "x"}, token_value="leaked-wrong-token", REMOTE_ADDR="192.0.2.7"
        )
        assert response.status_code == 403
    [incident] = fires_and_holds(AlertKind.REFUSED_CALLBACKS, ["/api/sms/delivery-reports"])
    assert incident.figures["refused"] == 11 and incident.figures["last_source_address"] == "192.0.2.7"
    assert "192.0.2.7" in incident.summary
    assert "leaked-wrong-token" not in str(incident.figures) + incident.summary
    RefusedCallback.objects.update(last_at=timezone.now() - timedelta(hours=2))
    resolves(AlertKind.REFUSED_CALLBACKS)


def test_ten_refusals_are_not_more_than_ten(client):
    rule(AlertKind.REFUSED_CALLBACKS, threshold=Decimal(10))
    for _ in range(10):
        post_callback(client, "/api/sms/delivery-reports", {"id": "x"}, token_value="wrong")
    maintain()
    assert open_incidents(AlertKind.REFUSED_CALLBACKS) == []


def test_messages_stuck_in_sent_fire_after_the_window():
    rule(AlertKind.STUCK_SENT, window_minutes=360, min_count=3)
    batch = queue_sms(["+254711000001", "+254711000002", "+254711000003", "+254711000004"], "Hi")
    messages = list(batch.messages.order_by("pk"))
    submit(messages[:3], ago=timedelta(hours=7), status="sent")
    submit(messages[3:], ago=timedelta(hours=1), status="sent")  # not stuck yet
    [incident] = fires_and_holds(AlertKind.STUCK_SENT, ["sms"])
    assert incident.figures["messages"] == 3 and incident.figures["by_status"] == {"sent": 3}
    OutboundMessage.objects.filter(status="sent").update(status="delivered")
    resolves(AlertKind.STUCK_SENT)


@pytest.mark.django_db(transaction=True)
def test_a_task_waiting_too_long_fires_the_queue_rule(settings):
    rule(AlertKind.QUEUE_BACKLOG, window_minutes=10)
    queue_sms(["+254711000001"], "Hi")  # its send task waits
    backdate_tasks(timedelta(minutes=20))
    [incident] = fires_and_holds(AlertKind.QUEUE_BACKLOG, ["queue"])
    assert incident.figures["waiting"] == 1 and incident.figures["oldest_waiting_seconds"] >= 1200
    from hub.queue import uses_redis

    # The queue's own page: RQ's dashboard, or django-tasks-db's waiting tasks.
    queue_page = "/admin/django_rq/dashboard/" if uses_redis() else "/admin/django_tasks_database/dbtaskresult/"
    assert incident.link.startswith(queue_page)
    settings.AT_API_URL = "http://at.stub"
    with responses.RequestsMock() as mock:
        mock.post("http://at.stub/version1/messaging", status=401, body="refused")
        run_worker()  # a worker took it (and AT refused it: nothing waits)
    resolves(AlertKind.QUEUE_BACKLOG)


@pytest.mark.django_db(transaction=True)
def test_no_worker_seen_fires_until_one_runs_the_heartbeat():
    rule(AlertKind.WORKER_MISSING, window_minutes=5)
    maintain()  # a fresh start: the first pass's heartbeat has not waited for a worker yet
    assert open_incidents(AlertKind.WORKER_MISSING) == []
    backdate_tasks(timedelta(minutes=6))  # ... now it has waited longer than the window
    [incident] = fires_and_holds(AlertKind.WORKER_MISSING, ["worker"])
    assert incident.figures["worker_seen_seconds_ago"] is None and "No worker has ever been seen" in incident.summary
    run_worker()  # runs the heartbeat maintain enqueued
    resolves(AlertKind.WORKER_MISSING)


def test_at_unreachable_and_refused_credentials_fire_separately(settings):
    settings.AT_API_KEY = "atsk_live_secret_key_1234"
    rule(AlertKind.AT_SEND_FAILURES, window_minutes=15, min_count=2)
    now = timezone.now()
    for _ in range(2):
        SendFailure.objects.create(at=now, product="sms.OutboundMessage", outcome="queued", rows=1, reached=False,
                                   error="could not connect to AT: Connection refused")  # fmt: skip
        SendFailure.objects.create(
            at=now, product="airtime.AirtimeTransaction", outcome="rejected", rows=1, http_status=401,
            error="AT answered 401 for +254711000001 with key atsk_live_secret_key_1234",
        )  # fmt: skip
    held = fires_and_holds(AlertKind.AT_SEND_FAILURES, ["credentials", "unreachable"])
    credentials = held[0]
    assert credentials.figures["failures"] == 2 and credentials.figures["products"] == ["airtime.AirtimeTransaction"]
    assert "+254711000001" not in credentials.figures["last_error"]
    assert "atsk_live_secret_key_1234" not in credentials.figures["last_error"]
    SendFailure.objects.update(at=now - timedelta(hours=1))
    resolves(AlertKind.AT_SEND_FAILURES, count=2)


def test_a_low_balance_fires_until_it_is_topped_up():
    rule(AlertKind.BALANCE_LOW, threshold=Decimal(500))
    BalanceSnapshot.objects.create(fetched_at=timezone.now(), amount=Decimal("120.50"), currency="KES")
    [incident] = fires_and_holds(AlertKind.BALANCE_LOW, ["KES"])
    assert incident.figures["balance"] == "120.5000" and "top up" in incident.summary
    BalanceSnapshot.objects.create(fetched_at=timezone.now(), amount=Decimal("5000"), currency="KES")
    resolves(AlertKind.BALANCE_LOW)


def test_a_balance_that_lasts_fewer_days_than_the_threshold_fires():
    from airtime.models import AirtimeTransaction

    rule(AlertKind.BALANCE_RUNWAY, threshold=Decimal(3), window_minutes=7 * 1440)
    BalanceSnapshot.objects.create(fetched_at=timezone.now(), amount=Decimal("300"), currency="KES")
    batch = queue_sms(["+254711000001", "+254711000002"], "Hi")
    OutboundMessage.objects.filter(batch=batch).update(cost=Decimal("350"), cost_currency="KES")  # 700 of SMS
    AirtimeTransaction.objects.create(phone="+254711000001", amount=Decimal("700"), currency="KES", status="delivered")
    [incident] = fires_and_holds(AlertKind.BALANCE_RUNWAY, ["KES"])
    # 1,400 in 7 days is 200 a day: 300 lasts 1.5 days.
    assert incident.figures["daily_spend"] == "200.00" and incident.figures["days_left"] == 1.5
    assert incident.figures["spend"]["sms"] == "700.0000" and incident.figures["spend"]["airtime"] == "700.0000"
    BalanceSnapshot.objects.create(fetched_at=timezone.now(), amount=Decimal("5000"), currency="KES")
    resolves(AlertKind.BALANCE_RUNWAY)


def test_airtime_daily_limit_fires_per_currency_above_its_share(settings):
    from airtime.services import queue_airtime

    settings.AT_AIRTIME_MAX_AMOUNT = {"KES": Decimal(1000), "UGX": Decimal(30000)}
    settings.AT_AIRTIME_DAILY_LIMIT = {"KES": Decimal(1000), "UGX": Decimal(3000000)}
    rule(AlertKind.AIRTIME_DAILY_LIMIT, threshold=Decimal(80))
    queue_airtime(["+254711000001"], "900", "KES")
    queue_airtime(["+256711000001"], "1000", "UGX")  # far from its limit
    [incident] = fires_and_holds(AlertKind.AIRTIME_DAILY_LIMIT, ["KES"])
    assert incident.figures["used_percent"] == 90.0 and incident.figures["daily_limit"] == "1000"
    settings.AT_AIRTIME_DAILY_LIMIT = {"KES": Decimal(10000), "UGX": Decimal(3000000)}  # the limit raised
    resolves(AlertKind.AIRTIME_DAILY_LIMIT)


def test_slow_ussd_answers_fire_on_their_95th_percentile(client):
    from ussd.models import UssdHop

    rule(AlertKind.USSD_ANSWER_TIME, threshold=Decimal(2000), window_minutes=15, min_count=20)
    session = load_payload("ussd", "session")
    for n in range(20):
        post_callback(client, "/api/ussd/session", {**session, "sessionId": f"ATUid_alert_{n}"})
    assert UssdHop.objects.count() == 20
    UssdHop.objects.update(duration_ms=300)
    UssdHop.objects.filter(pk__in=list(UssdHop.objects.values_list("pk", flat=True)[:2])).update(duration_ms=4500)
    [incident] = fires_and_holds(AlertKind.USSD_ANSWER_TIME, ["ussd"])
    assert incident.figures["p95_ms"] == 4500 and incident.figures["screens"] == 20
    UssdHop.objects.update(received_at=timezone.now() - timedelta(hours=1))
    resolves(AlertKind.USSD_ANSWER_TIME)


def test_failed_or_timed_out_ussd_sessions_fire_above_their_share():
    from ussd.models import UssdSession

    rule(AlertKind.USSD_FAILED_SHARE, threshold=Decimal(20), window_minutes=60, min_count=10)
    now = timezone.now()
    for n, status in enumerate(["Failed"] * 3 + ["Incomplete"] * 2 + ["Success"] * 5):
        UssdSession.objects.create(session_id=f"ATUid_s{n}", started_at=now, status=status, phone_number="+2547")
    [incident] = fires_and_holds(AlertKind.USSD_FAILED_SHARE, ["ussd"])
    assert (incident.figures["failed"], incident.figures["incomplete"], incident.figures["share_percent"]) == (3, 2, 50)
    UssdSession.objects.update(started_at=now - timedelta(hours=2))
    resolves(AlertKind.USSD_FAILED_SHARE)


def test_figures_are_refreshed_while_an_incident_holds():
    rule(AlertKind.STUCK_SENT, window_minutes=60, min_count=1)
    batch = queue_sms(["+254711000001", "+254711000002"], "Hi")
    first, second = batch.messages.order_by("pk")
    submit([first], ago=timedelta(hours=2))
    maintain()
    [incident] = open_incidents(AlertKind.STUCK_SENT)
    assert incident.figures["messages"] == 1
    submit([second], ago=timedelta(hours=3))
    maintain()
    [held] = open_incidents(AlertKind.STUCK_SENT)
    assert held.pk == incident.pk and held.figures["messages"] == 2 and held.opened_at == incident.opened_at


def test_a_webhook_endpoint_failing_past_the_window_then_disabled_fires_until_it_works_again():
    from webhooks.models import Endpoint

    rule(AlertKind.WEBHOOK_FAILING, window_minutes=30)
    Endpoint.objects.create(url="https://ok.example/hook", events=["sms.sent"])  # healthy
    recent = Endpoint.objects.create(url="https://new.example/hook", events=["sms.sent"])
    Endpoint.objects.filter(pk=recent.pk).update(failing_since=timezone.now() - timedelta(minutes=5))  # not yet
    failing = Endpoint.objects.create(url="https://user:pw@down.example/secret-path/tok", events=["sms.sent"])
    Endpoint.objects.filter(pk=failing.pk).update(failing_since=timezone.now() - timedelta(minutes=45))
    [incident] = fires_and_holds(AlertKind.WEBHOOK_FAILING, [f"endpoint {failing.pk}"])
    assert incident.figures["host"] == "down.example" and "down.example" in incident.summary
    assert "secret-path" not in str(incident.figures) + incident.summary and "pw" not in incident.summary
    assert incident.link == f"/admin/webhooks/endpoint/{failing.pk}/change/"
    # A day later it is disabled: the same incident holds.
    Endpoint.objects.filter(pk=failing.pk).update(enabled=False, disabled_at=timezone.now())
    maintain()
    [held] = open_incidents(AlertKind.WEBHOOK_FAILING)
    assert held.pk == incident.pk and "disabled" in held.summary
    # Staff fix the receiver and enable it again; its next delivery succeeds.
    Endpoint.objects.filter(pk=failing.pk).update(enabled=True, failing_since=None)
    resolves(AlertKind.WEBHOOK_FAILING)  # one incident in all: the healthy and the recent endpoints never fired
