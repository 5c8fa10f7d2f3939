"""Airtime: configured currencies and limits before any AT call, the operator's day, one idempotency key per
transaction, no re-send of what may have reached AT, validation as a guard."""

import json
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs

import pytest
import requests
import responses
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token

from airtime import services
from airtime.models import AirtimeStatusEvent, AirtimeTransaction, AirtimeValidation, DailyAirtimeSpend
from hub.callbacks.models import ProcessingState
from hub.outbound import OutboundStatus
from hub.testing import database_unavailable, load_payload, make_deferred_tasks_due, post_callback, run_worker
from hub.tests.test_gateway import refused_connection

pytestmark = pytest.mark.django_db

INVOKE = "/api/airtime/invoke-send-airtime"
VALIDATION = "/api/airtime/validation"
STATUS = "/api/airtime/status"
AT_SEND = "http://at.stub/version1/airtime/send"


@pytest.fixture(autouse=True)
def limits(settings):
    settings.AT_AIRTIME_MAX_AMOUNT = {"KES": Decimal("1000"), "UGX": Decimal("30000")}
    settings.AT_AIRTIME_DAILY_LIMIT = {"KES": Decimal("2000"), "UGX": Decimal("3000000")}
    settings.AT_API_URL = "http://at.stub"


@pytest.fixture
def api(django_user_model):
    user = django_user_model.objects.create_user("payer", password="pw", is_staff=True)  # tokens: staff only
    user.user_permissions.add(Permission.objects.get(codename="send_airtime"))
    return Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")


def at_answer(phone="+254711000000", status="Sent", request_id="ATQid_1", amount="KES 10.0000"):
    return {
        "errorMessage": "None",
        "numSent": 1,
        "totalAmount": amount,
        "totalDiscount": "KES 0.4000",
        "responses": [
            {
                "phoneNumber": phone,
                "errorMessage": "None",
                "amount": amount,
                "status": status,
                "requestId": request_id,
                "discount": "KES 0.4000",
            }
        ],
    }


def validation(client, txn_id="ATVal_1", phone="+254711000000", amount="10.00", currency="KES"):
    payload = {
        "transactionId": txn_id,
        "phoneNumber": phone,
        "sourceIpAddress": "52.1.2.3",
        "currencyCode": currency,
        "amount": amount,
    }
    return post_callback(client, VALIDATION, payload, as_json=True)


# --- The invoke endpoint and its rules -----------------------------------------------------------------


def test_invoke_queues_one_transaction_per_recipient(api):
    response = api.get(INVOKE, {"phone": "254711000000,+254711000001", "amount": "10.50", "currency": "kes"})
    assert response.status_code == 202
    body = response.json()
    assert body["message"] == "Airtime queued for 2 recipient(s)"
    assert [(r["phone"], r["amount"], r["currency"], r["status"]) for r in body["recipients"]] == [
        ("+254711000000", "10.50", "KES", "queued"),
        ("+254711000001", "10.50", "KES", "queued"),
    ]
    keys = set(AirtimeTransaction.objects.values_list("idempotency_key", flat=True))
    assert len(keys) == 2  # a key per transaction
    assert services.spent_today("KES") == Decimal("21.00")


def test_currency_defaults_to_kes_and_post_works(api):
    response = api.post(INVOKE, {"phone": ["+254711000000"], "amount": "5"}, content_type="application/json")
    assert response.status_code == 202
    assert AirtimeTransaction.objects.get().currency == "KES"


@pytest.mark.parametrize(
    ("amount", "error"),
    [
        ("abc", "'amount' must be a valid number"),
        ("NaN", "'amount' must be a valid number"),
        ("-5", "'amount' must be a positive number"),
        ("0", "'amount' must be a positive number"),
        ("1.00001", "'amount' has more than 4 decimal places"),
        ("1000.01", "'amount' is over the limit of KES 1000 per recipient"),
    ],
)
def test_amount_rules_refuse_before_anything_is_queued(api, amount, error):
    with responses.RequestsMock():  # any call to AT would fail the test
        response = api.get(INVOKE, {"phone": "+254711000000", "amount": amount})
    assert response.status_code == 400
    assert response.json() == {"error": error}
    assert not AirtimeTransaction.objects.exists()


def test_per_currency_maximum(api):
    assert api.get(INVOKE, {"phone": "+256700000000", "amount": "30000", "currency": "UGX"}).status_code == 202
    assert api.get(INVOKE, {"phone": "+256700000000", "amount": "30001", "currency": "UGX"}).status_code == 400


@pytest.mark.parametrize(
    ("currency", "missing"),
    [
        ("USD", "no per-recipient maximum (AT_AIRTIME_MAX_AMOUNT) and no daily limit (AT_AIRTIME_DAILY_LIMIT)"),
        ("TZS", "no daily limit (AT_AIRTIME_DAILY_LIMIT)"),
        ("NGN", "no per-recipient maximum (AT_AIRTIME_MAX_AMOUNT)"),
    ],
)
def test_only_currencies_with_both_limits_are_sent(api, settings, currency, missing):
    settings.AT_AIRTIME_MAX_AMOUNT = {**settings.AT_AIRTIME_MAX_AMOUNT, "TZS": Decimal("5000")}
    settings.AT_AIRTIME_DAILY_LIMIT = {**settings.AT_AIRTIME_DAILY_LIMIT, "NGN": Decimal("5000")}
    with responses.RequestsMock():
        response = api.get(INVOKE, {"phone": "+254711000000", "amount": "10", "currency": currency.lower()})
    assert response.status_code == 400
    assert response.json() == {
        "error": f"'currency' {currency} is not configured for airtime: it has {missing}; configured: KES, UGX"
    }
    assert not AirtimeTransaction.objects.exists()
    assert not DailyAirtimeSpend.objects.exists()


@pytest.mark.parametrize("currency", ["KÉS", "K3S", "KESS", "ke\u017f", "k\u0131s", "KE"])
def test_a_currency_is_three_ascii_letters(api, currency):
    response = api.get(INVOKE, {"phone": "+254711000000", "amount": "10", "currency": currency})
    assert response.status_code == 400
    assert response.json() == {"error": "'currency' must be a 3-letter code such as KES"}


def test_a_currency_in_lower_case_or_spaced_is_that_code(api):
    assert api.get(INVOKE, {"phone": "+254711000000", "amount": "10", "currency": " ugx"}).status_code == 202
    response = api.get(INVOKE, {"phone": "+254711000000", "amount": "10", "currency": "usd "})
    assert response.status_code == 400
    assert response.json()["error"].startswith("'currency' USD is not configured for airtime")


@pytest.fixture
def column_sized_limits(settings):
    """Limits as large as a money column holds (18 digits, 4 of them decimals)."""
    settings.AT_AIRTIME_MAX_AMOUNT = {"KES": Decimal("99999999999999.9999")}
    settings.AT_AIRTIME_DAILY_LIMIT = {"KES": Decimal("99999999999999.9999")}


@pytest.mark.parametrize(
    ("phones", "amount", "error"),
    [
        ("+254711000000", "100000000000000", "'amount' is too large: at most 99999999999999.9999"),
        ("+254711000000", "1e400", "'amount' is too large: at most 99999999999999.9999"),
        (
            "+254711000000,+254711000001",
            "99999999999999.9999",
            "the total (KES 199999999999999.9998 for 2 recipients) is more than an amount can be: "
            "at most 99999999999999.9999",
        ),
        (
            "+254711000000,+254711000001",
            "50000000000000",
            "the total (KES 100000000000000 for 2 recipients) is more than an amount can be: "
            "at most 99999999999999.9999",
        ),
    ],
)
def test_an_amount_or_total_beyond_what_a_column_holds_is_a_400(api, column_sized_limits, phones, amount, error):
    response = api.get(INVOKE, {"phone": phones, "amount": amount, "currency": "KES"})
    assert response.status_code == 400
    assert response.json() == {"error": error}
    assert not AirtimeTransaction.objects.exists()


def test_an_amount_near_what_a_column_holds_is_sent_exactly(api, column_sized_limits):
    # 14 digits: SQLite keeps a decimal as a float, exact to 15 significant digits (PostgreSQL to all 18).
    response = api.get(INVOKE, {"phone": "+254711000000", "amount": "99999999999999", "currency": "KES"})
    assert response.status_code == 202
    assert AirtimeTransaction.objects.get().amount == Decimal("99999999999999")
    assert services.spent_today("KES") == Decimal("99999999999999")


def test_daily_limit(api):
    assert api.get(INVOKE, {"phone": "+254711000000,+254711000001", "amount": "1000"}).status_code == 202
    response = api.get(INVOKE, {"phone": "+254711000002", "amount": "1"})
    assert response.status_code == 400
    assert response.json()["error"].startswith("the daily airtime limit for KES (2000) would be exceeded")
    assert AirtimeTransaction.objects.count() == 2


def test_missing_amount_and_phone(api):
    assert api.get(INVOKE, {"phone": "+254711000000"}).json() == {"error": "Missing 'amount' query parameter"}
    assert api.get(INVOKE, {"amount": "10"}).json() == {"error": "Missing 'phone' query parameter"}


def test_needs_the_send_airtime_permission(django_user_model):
    user = django_user_model.objects.create_user("sms-only", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="add_outboundmessage"))
    client = Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    response = client.get(INVOKE, {"phone": "+254711000000", "amount": "10"})
    assert response.status_code == 403
    assert "airtime.send_airtime" in response.json()["error"]


# --- The operator's day ----------------------------------------------------------------------------

EVENING = datetime(2026, 3, 1, 19, 30, tzinfo=UTC)  # 22:30 on 1 March in Nairobi
LATE_NIGHT = datetime(2026, 3, 1, 22, 30, tzinfo=UTC)  # 01:30 on 2 March in Nairobi, still 1 March in UTC


def test_the_daily_limit_is_the_operators_day(settings):
    settings.TIME_ZONE = "Africa/Nairobi"
    services.queue_airtime(["+254711000001", "+254711000002"], "1000", "KES", now=EVENING)
    (txn,) = services.queue_airtime(["+254711000003"], "1000", "KES", now=LATE_NIGHT)  # a new day in Nairobi
    assert txn.spend_day == date(2026, 3, 2)
    with pytest.raises(services.AirtimeRefused, match="the daily airtime limit for KES"):
        services.queue_airtime(["+254711000004", "+254711000005"], "1000", "KES", now=LATE_NIGHT + timedelta(minutes=5))
    assert dict(DailyAirtimeSpend.objects.values_list("day", "total")) == {
        date(2026, 3, 1): Decimal("2000"),
        date(2026, 3, 2): Decimal("1000"),
    }
    assert services.spent_today("KES", now=LATE_NIGHT) == Decimal("1000")


def test_an_amount_is_given_back_to_the_day_it_was_counted_in(settings, client):
    settings.TIME_ZONE = "Africa/Nairobi"
    services.queue_airtime(["+254711000001"], "500", "KES", now=EVENING)  # 1 March
    (txn,) = services.queue_airtime(["+254711000000"], "100", "KES", now=LATE_NIGHT)  # 2 March
    AirtimeTransaction.objects.filter(pk=txn.pk).update(status=OutboundStatus.SUBMITTED, at_request_id="ATQid_1")
    payload = {**load_payload("airtime", "status"), "requestId": "ATQid_1", "status": "Failed"}
    post_callback(client, STATUS, payload, as_json=True)
    assert dict(DailyAirtimeSpend.objects.values_list("day", "total")) == {
        date(2026, 3, 1): Decimal("500"),
        date(2026, 3, 2): Decimal("0"),
    }
    txn.refresh_from_db()
    assert (txn.status, txn.counted) == (OutboundStatus.FAILED, False)


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_requests_cannot_both_take_the_last_of_the_daily_limit(settings):
    settings.AT_AIRTIME_DAILY_LIMIT = {"KES": Decimal("1500")}
    barrier, outcomes = threading.Barrier(2), []

    def spend(phone):
        barrier.wait()
        try:
            services.queue_airtime([phone], "1000", "KES")
            outcomes.append("queued")
        except services.AirtimeRefused:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=spend, args=(p,)) for p in ("+254711000001", "+254711000002")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["queued", "refused"]
    assert AirtimeTransaction.objects.count() == 1
    assert DailyAirtimeSpend.objects.get().total == Decimal("1000")


# --- Sending ---------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_worker_sends_with_the_transactions_key_and_stores_the_answer():
    first, second = services.queue_airtime(["+254711000000", "+254711000001"], "10", "KES")
    with responses.RequestsMock() as mock:
        mock.post(AT_SEND, json=at_answer("+254711000000", request_id="ATQid_a"))
        mock.post(AT_SEND, json=at_answer("+254711000001", request_id="ATQid_b"))
        run_worker()
        sent = [
            (c.request.headers["Idempotency-Key"], json.loads(parse_qs(c.request.body)["recipients"][0]))
            for c in mock.calls
        ]
    assert sent == [
        (str(first.idempotency_key), [{"phoneNumber": "+254711000000", "amount": "KES 10.0000"}]),
        (str(second.idempotency_key), [{"phoneNumber": "+254711000001", "amount": "KES 10.0000"}]),
    ]
    first.refresh_from_db()
    assert (first.status, first.at_request_id, first.discount, first.at_status) == (
        OutboundStatus.SUBMITTED,
        "ATQid_a",
        Decimal("0.4000"),
        "Sent",
    )


@pytest.mark.django_db(transaction=True)
def test_a_retry_after_a_refused_connection_reuses_the_key():
    (txn,) = services.queue_airtime(["+254711000000"], "10", "KES")
    with responses.RequestsMock() as mock:
        mock.post(AT_SEND, body=refused_connection(AT_SEND))
        run_worker()
        txn.refresh_from_db()
        assert (txn.status, txn.attempts) == (OutboundStatus.QUEUED, 1)
        mock.replace(responses.POST, AT_SEND, json=at_answer())
        make_deferred_tasks_due()
        run_worker()
        keys = [c.request.headers["Idempotency-Key"] for c in mock.calls]
    assert keys == [str(txn.idempotency_key)] * 2
    txn.refresh_from_db()
    assert (txn.status, txn.attempts) == (OutboundStatus.SUBMITTED, 2)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "failure",
    [
        {"body": "Service Unavailable", "status": 503},
        {"body": "Bad Gateway", "status": 502},
        {"body": "Internal Server Error", "status": 500},
        {"body": requests.exceptions.ReadTimeout("slow")},
    ],
    ids=["503", "502", "500", "read-timeout"],
)
def test_airtime_that_may_have_reached_at_is_never_sent_again(settings, failure):
    """Even with AT_RETRY_GATEWAY_ERRORS on: unknown, its amount still counted, for AT's status or staff."""
    settings.AT_RETRY_GATEWAY_ERRORS = True
    (txn,) = services.queue_airtime(["+254711000000"], "10", "KES")
    with responses.RequestsMock() as mock:
        mock.post(AT_SEND, **failure)
        run_worker()
        assert make_deferred_tasks_due() == 0
        run_worker()
        assert len(mock.calls) == 1
    txn.refresh_from_db()
    assert (txn.status, txn.attempts, txn.counted) == (OutboundStatus.UNKNOWN, 1, True)
    assert txn.failure_reason.startswith("may have been sent")
    assert services.spent_today("KES") == Decimal("10")


@pytest.mark.django_db(transaction=True)
def test_at_refusal_releases_the_daily_total():
    (txn,) = services.queue_airtime(["+254711000000"], "10", "KES")
    with responses.RequestsMock() as mock:
        mock.post(AT_SEND, json=at_answer(status="Failed", request_id="None"))
        run_worker()
    txn.refresh_from_db()
    assert (txn.status, txn.counted) == (OutboundStatus.REJECTED, False)
    assert services.spent_today("KES") == 0


# --- Validation: the guard -----------------------------------------------------------------------------------


def sending(phone="+254711000000", amount="10", currency="KES") -> AirtimeTransaction:
    """A transaction the worker is sending right now (claimed, AT not answered yet)."""
    (txn,) = services.queue_airtime([phone], amount, currency)
    AirtimeTransaction.claim([txn.pk])
    return txn


def test_a_matching_transaction_is_validated_once(client):
    txn = sending()
    response = validation(client, amount=10)
    assert response.json() == {"status": "Validated"}
    txn.refresh_from_db()
    assert (txn.validated, txn.at_transaction_id) == (True, "ATVal_1")
    assert AirtimeValidation.objects.get().transaction == txn
    # The same request again (a replay) and another request for the same transaction are refused.
    assert validation(client, amount=10).json() == {"status": "Failed"}
    assert validation(client, txn_id="ATVal_2", amount="10.0").json() == {"status": "Failed"}
    assert AirtimeValidation.objects.get(at_transaction_id="ATVal_2").reason == "already validated (replay)"


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"phone": "+254722000000"}, "no transaction of ours for this number"),
        ({"amount": "10.01"}, "amount or currency differs from our transactions for this number"),
        ({"currency": "UGX"}, "amount or currency differs from our transactions for this number"),
    ],
)
def test_unknown_or_mismatched_is_refused(client, kwargs, reason):
    sending()
    assert validation(client, **kwargs).json() == {"status": "Failed"}
    assert AirtimeValidation.objects.get().reason == reason


def test_a_late_validation_is_refused(client, settings):
    txn = sending()
    AirtimeTransaction.objects.filter(pk=txn.pk).update(updated_at=timezone.now() - timedelta(minutes=11))
    assert validation(client).json() == {"status": "Failed"}
    assert "older than the validation window" in AirtimeValidation.objects.get().reason


def test_a_transaction_not_being_sent_is_refused(client):
    services.queue_airtime(["+254711000000"], "10", "KES")  # still queued: AT cannot be sending it
    assert validation(client).json() == {"status": "Failed"}


def test_invalid_request_fails_closed_with_400(client):
    response = post_callback(client, VALIDATION, {"transactionId": "x", "phoneNumber": "+254711000000"}, as_json=True)
    assert response.status_code == 400
    assert response.json() == {"status": "Failed", "error": "missing required field 'amount'"}


def test_internal_failure_fails_closed(client):
    sending()
    with connection.cursor() as cursor:  # the database itself refuses the effect's UPDATE
        if connection.vendor == "sqlite":
            cursor.execute(
                "CREATE TRIGGER refuse_validate BEFORE UPDATE OF validated_at ON airtime_airtimetransaction "
                "BEGIN SELECT RAISE(ABORT, 'refused by test'); END"
            )
        else:
            cursor.execute(
                "CREATE FUNCTION refuse_validate() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION "
                "'refused by test'; END $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                "CREATE TRIGGER refuse_validate BEFORE UPDATE OF validated_at ON airtime_airtimetransaction "
                "FOR EACH ROW EXECUTE FUNCTION refuse_validate()"
            )
    assert validation(client).json() == {"status": "Failed"}
    assert AirtimeValidation.objects.get().state == ProcessingState.FAILED
    assert not AirtimeTransaction.objects.get().validated


@pytest.mark.django_db(transaction=True)
def test_database_down_fails_closed(client):
    with database_unavailable():
        assert validation(client).json() == {"status": "Failed"}


@pytest.mark.django_db(transaction=True)
def test_validation_arrives_during_the_send_and_is_answered(client):
    """AT calls our validation endpoint while the worker waits for AT: the worker holds no lock."""
    (txn,) = services.queue_airtime(["+254711000000"], "10", "KES")
    decisions = []

    def at_sends(request):
        decisions.append(validation(client).json()["status"])  # AT asks us before answering
        return 201, {"Content-Type": "application/json"}, json.dumps(at_answer())

    with responses.RequestsMock() as mock:
        mock.add_callback(responses.POST, AT_SEND, callback=at_sends)
        run_worker()
    assert decisions == ["Validated"]
    txn.refresh_from_db()
    assert (txn.status, txn.validated) == (OutboundStatus.SUBMITTED, True)


# --- Status ------------------------------------------------------------------------------------------------


def submitted(request_id="ATQid_SampleTxnId123") -> AirtimeTransaction:
    (txn,) = services.queue_airtime(["+254711000000"], "100", "KES")
    AirtimeTransaction.objects.filter(pk=txn.pk).update(status=OutboundStatus.SUBMITTED, at_request_id=request_id)
    return txn


def test_success_status_delivers(client):
    txn = submitted()
    assert post_callback(client, STATUS, load_payload("airtime", "status"), as_json=True).status_code == 200
    txn.refresh_from_db()
    assert (txn.status, txn.description) == (OutboundStatus.DELIVERED, "Airtime Delivered Successfully")
    event = AirtimeStatusEvent.objects.get()
    assert (event.transaction, event.discount, event.value, event.value_currency) == (
        txn,
        Decimal("0.6000"),
        Decimal("100.0000"),
        "KES",
    )


def test_failed_status_fails_with_the_description_and_releases_the_total(client):
    txn = submitted()
    payload = {**load_payload("airtime", "status"), "status": "Failed", "description": "Invalid phone number"}
    post_callback(client, STATUS, payload)  # form-encoded, as very old AT docs show
    txn.refresh_from_db()
    assert (txn.status, txn.failure_reason) == (OutboundStatus.FAILED, "Invalid phone number")
    assert services.spent_today("KES") == 0


@pytest.mark.parametrize("status", ["Pending", ""])
def test_unknown_or_missing_status_is_kept_and_moves_nothing(client, status):
    txn = submitted()
    payload = {**load_payload("airtime", "status"), "status": status}
    assert post_callback(client, STATUS, payload, as_json=True).status_code == 200
    txn.refresh_from_db()
    assert txn.status == OutboundStatus.SUBMITTED
    assert AirtimeStatusEvent.objects.get().status == status


@pytest.mark.django_db(transaction=True)
def test_status_before_the_send_answer_is_linked_when_it_arrives(client):
    post_callback(client, STATUS, {**load_payload("airtime", "status"), "requestId": "ATQid_early"}, as_json=True)
    assert AirtimeStatusEvent.objects.get().transaction is None
    (txn,) = services.queue_airtime(["+254711000000"], "10", "KES")
    with responses.RequestsMock() as mock:
        mock.post(AT_SEND, json=at_answer(request_id="ATQid_early"))
        run_worker()
    txn.refresh_from_db()
    assert txn.status == OutboundStatus.DELIVERED
    assert AirtimeStatusEvent.objects.get().transaction == txn


# --- Admin --------------------------------------------------------------------------------------------------


def test_send_airtime_from_inbound_messages_confirms_the_total(staff_client, client):
    from sms.models import InboundMessage

    post_callback(client, "/api/sms/twoway", load_payload("sms", "inbound_message"))
    url = reverse("admin:sms_inboundmessage_changelist")
    selection = {"action": "send_airtime", "_selected_action": [InboundMessage.objects.get().pk]}
    assert 'name="amount"' in staff_client.post(url, selection).content.decode()
    page = staff_client.post(url, {**selection, "step": "form", "amount": "50", "currency": "KES"}).content.decode()
    assert "KES 50 each, KES 50 in total (at most KES 1000 each)." in page
    assert not AirtimeTransaction.objects.exists()
    done = staff_client.post(
        url, {**selection, "step": "confirm", "confirm": "yes", "amount": "50", "currency": "KES"}, follow=True
    )
    assert "Queued airtime for 1 recipient(s): KES 50" in done.content.decode()
    assert AirtimeTransaction.objects.get().phone == "+254711000001"


def test_the_admin_form_refuses_a_currency_that_is_not_configured(staff_client):
    page = staff_client.post(
        reverse("admin:airtime_airtimetransaction_send"),
        {"step": "form", "numbers": "+254711000001", "amount": "25", "currency": "usd"},
    ).content.decode()
    assert "&#x27;currency&#x27; USD is not configured for airtime" in page
    assert "Configured: KES, UGX." in page
    assert not AirtimeTransaction.objects.exists()


def test_admin_enforces_the_limits_too(staff_client, client):
    from sms.models import InboundMessage

    post_callback(client, "/api/sms/twoway", load_payload("sms", "inbound_message"))
    url = reverse("admin:sms_inboundmessage_changelist")
    selection = {"action": "send_airtime", "_selected_action": [InboundMessage.objects.get().pk]}
    services.queue_airtime(["+254711000009"], "1000", "KES")
    services.queue_airtime(["+254711000008"], "990", "KES")
    done = staff_client.post(
        url, {**selection, "step": "confirm", "confirm": "yes", "amount": "20", "currency": "KES"}, follow=True
    )
    assert "Nothing sent: the daily airtime limit for KES" in done.content.decode()
    assert AirtimeTransaction.objects.count() == 2


def test_send_airtime_needs_its_permission(client, django_user_model):
    operator = django_user_model.objects.create_user("op", password="pw", is_staff=True)
    operator.user_permissions.add(*Permission.objects.filter(codename__in=["view_inboundmessage"]))
    post_callback(client, "/api/sms/twoway", load_payload("sms", "inbound_message"))
    client.force_login(operator)
    from sms.models import InboundMessage

    client.post(
        reverse("admin:sms_inboundmessage_changelist"),
        {
            "action": "send_airtime",
            "_selected_action": [InboundMessage.objects.get().pk],
            "step": "confirm",
            "confirm": "yes",
            "amount": "5",
            "currency": "KES",
        },
    )
    assert not AirtimeTransaction.objects.exists()
    assert client.get(reverse("admin:airtime_airtimetransaction_send")).status_code == 403


def test_send_to_pasted_numbers_and_todays_totals(staff_client):
    url = reverse("admin:airtime_airtimetransaction_send")
    page = staff_client.post(
        url, {"step": "form", "numbers": "+254711000001\n254711000002", "amount": "25", "currency": "KES"}
    ).content.decode()
    assert "KES 25 each, KES 50 in total (at most KES 1000 each)." in page
    assert "Already committed today (" in page
    staff_client.post(
        url,
        {
            "step": "confirm",
            "confirm": "yes",
            "numbers": "+254711000001\n+254711000002",
            "amount": "25",
            "currency": "KES",
        },
    )
    assert AirtimeTransaction.objects.count() == 2
    listing = staff_client.get(reverse("admin:airtime_airtimetransaction_changelist")).content.decode()
    assert "KES 50.0000</strong> of 2000" in listing
    assert "at most 1000 per recipient" in listing
    assert "<strong>UGX 0</strong> of 3000000" in listing  # every configured currency, spent or not


def test_todays_totals_are_the_operators_day(staff_client, settings):
    settings.TIME_ZONE = "Africa/Nairobi"
    services.queue_airtime(["+254711000001"], "40", "KES", now=timezone.now() - timedelta(days=1))
    services.queue_airtime(["+254711000001"], "30", "KES")
    listing = staff_client.get(reverse("admin:airtime_airtimetransaction_changelist")).content.decode()
    today = timezone.localdate(timezone.now(), timezone.get_default_timezone())
    assert f"Committed today ({today.isoformat()}, Africa/Nairobi)" in listing
    assert "KES 30.0000</strong> of 2000" in listing


def test_transaction_page_shows_its_callbacks(staff_client, client):
    txn = sending()
    validation(client)
    AirtimeTransaction.objects.filter(pk=txn.pk).update(
        status=OutboundStatus.SUBMITTED, at_request_id="ATQid_SampleTxnId123"
    )
    post_callback(client, STATUS, load_payload("airtime", "status"), as_json=True)
    page = staff_client.get(reverse("admin:airtime_airtimetransaction_change", args=[txn.pk])).content.decode()
    assert "ATVal_1" in page and "Airtime Delivered Successfully" in page


@pytest.mark.parametrize("amount", ["1e3", "1E3", "10e-1"])
def test_an_amount_in_exponent_notation_is_refused_naming_the_form_expected(amount):
    from airtime.services import AirtimeRefused, parse_amount

    with pytest.raises(AirtimeRefused, match="plain decimal number"):
        parse_amount(amount)
