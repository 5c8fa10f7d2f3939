"""The shared callback ingestion, exercised on every registered callback kind."""

import base64
import json
import logging

import pytest
from django.db import connection
from django.test import override_settings

from hub.callbacks.models import ProcessingState
from hub.callbacks.registry import kinds
from hub.logfilters import StripQueryStrings, strip_query_strings
from hub.testing import database_unavailable, load_payload, post_callback, token

# One valid AT payload per callback kind (see docs/at-reference.md).
KIND_FIXTURES = {
    "sms.delivery-reports": ("sms", "delivery_report"),
    "sms.twoway": ("sms", "inbound_message"),
    "sms.opt-out": ("sms", "opt_out"),
    "sms.subscription": ("sms", "subscription"),
    "ussd.session": ("ussd", "session"),
    "ussd.status": ("ussd", "end"),
    "voice.instruct": ("voice", "instruct"),
    "voice.events": ("voice", "event"),
    "airtime.validation": ("airtime", "validation"),
    "airtime.status": ("airtime", "status"),
    "simswap.status": ("simswap", "status"),
}

ALL_KINDS = sorted(kinds())


def fixture_for(kind_name):
    return load_payload(*KIND_FIXTURES[kind_name])


def as_form(payload):
    """What a form-encoded body of `payload` stores: every value as text."""
    return {k: str(v) for k, v in payload.items()}


def test_every_kind_has_a_payload_fixture():
    assert set(ALL_KINDS) == set(KIND_FIXTURES)


@pytest.fixture(params=ALL_KINDS)
def kind(request):
    return kinds()[request.param]


# --- Authentication -------------------------------------------------------------


@pytest.mark.django_db
def test_valid_token_in_query_is_accepted_and_stored(client, kind):
    response = post_callback(client, kind.path, fixture_for(kind.name))
    assert response.status_code == 200
    assert kind.model.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("offered", ["", "wrong-token"])
def test_missing_or_wrong_token_is_refused_and_nothing_stored(client, kind, offered):
    response = post_callback(client, kind.path, fixture_for(kind.name), token_value=offered)
    assert response.status_code == 403
    assert "token" in response.json()["error"]
    assert kind.model.objects.count() == 0


@pytest.mark.django_db
def test_previous_token_still_accepted_during_rotation(client, kind, settings):
    assert len(settings.AT_WEBHOOK_TOKEN) == 2
    response = post_callback(client, kind.path, fixture_for(kind.name), token_value=settings.AT_WEBHOOK_TOKEN[1])
    assert response.status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(("password", "expected"), [("test-webhook-token", 200), ("nope", 403)])
def test_basic_auth_password_is_the_token(client, kind, password, expected):
    credentials = base64.b64encode(f"africastalking:{password}".encode()).decode()
    response = post_callback(
        client, kind.path, fixture_for(kind.name), token_value="", HTTP_AUTHORIZATION=f"Basic {credentials}"
    )
    assert response.status_code == expected
    assert kind.model.objects.count() == (1 if expected == 200 else 0)


@pytest.mark.django_db
def test_malformed_basic_auth_is_refused(client, kind):
    response = post_callback(
        client, kind.path, fixture_for(kind.name), token_value="", HTTP_AUTHORIZATION="Basic %%%not-base64"
    )
    assert response.status_code == 403


@pytest.mark.django_db
def test_without_configured_token_a_development_server_takes_callbacks(client, kind, settings):
    settings.AT_WEBHOOK_TOKEN, settings.DEBUG = [], True
    response = post_callback(client, kind.path, fixture_for(kind.name), token_value="")
    assert response.status_code == 200


@pytest.mark.django_db
def test_without_configured_token_production_refuses_every_callback(client, kind, settings, caplog):
    settings.AT_WEBHOOK_TOKEN, settings.DEBUG = [], False
    response = post_callback(client, kind.path, fixture_for(kind.name), token_value="")
    assert response.status_code == 403
    assert "AT_WEBHOOK_TOKEN is not set" in response.json()["error"]
    assert kind.model.objects.count() == 0
    assert "AT_WEBHOOK_TOKEN is not set" in caplog.text


# --- Methods and sizes -------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "put", "delete", "patch", "options"])
def test_other_methods_get_405_json(client, kind, method):
    response = getattr(client, method)(kind.path)  # no token: the method is the first problem
    assert response.status_code == 405
    assert response["Content-Type"] == "application/json"
    assert method.upper() in response.json()["error"]
    assert "POST" in response["Allow"]


@pytest.mark.django_db
def test_body_over_the_limit_gets_413(client, kind, settings):
    settings.AT_CALLBACK_MAX_BYTES = 1024
    response = post_callback(client, kind.path, {"text": "x" * 2000})
    assert response.status_code == 413
    assert "1024" in response.json()["error"]
    assert kind.model.objects.count() == 0


@pytest.mark.django_db
def test_body_at_the_limit_is_read(client, kind, settings):
    body = json.dumps(fixture_for(kind.name))
    settings.AT_CALLBACK_MAX_BYTES = len(body)
    response = client.post(f"{kind.path}?token={token()}", data=body, content_type="application/json")
    assert response.status_code == 200


# --- Parsing -------------------------------------------------------------------


@pytest.mark.django_db
def test_form_and_json_bodies_store_the_same_fields(client, kind):
    payload = fixture_for(kind.name)
    assert post_callback(client, kind.path, payload).status_code == 200
    assert post_callback(client, kind.path, payload, as_json=True).status_code == 200
    rows = list(kind.model.objects.order_by("pk"))
    # The same callback twice is a repeat, whatever its encoding.
    assert len(rows) == 1
    assert rows[0].times_received == 2
    assert set(rows[0].payload) == set(payload)


@pytest.mark.django_db
@pytest.mark.parametrize("content_type", ["text/plain", "", "application/octet-stream"])
def test_unlabelled_bodies_are_tried_as_form_then_json(client, kind, content_type):
    payload = fixture_for(kind.name)
    from urllib.parse import urlencode

    assert client.post(f"{kind.path}?token={token()}", urlencode(payload), content_type=content_type).status_code == 200
    assert kind.model.objects.get().payload == as_form(payload)


@pytest.mark.django_db
def test_unlabelled_json_body_is_parsed_as_json(client, kind):
    payload = fixture_for(kind.name)
    response = client.post(f"{kind.path}?token={token()}", json.dumps(payload), content_type="text/plain")
    assert response.status_code == 200
    assert kind.model.objects.get().payload == payload


@pytest.mark.django_db
def test_multipart_body_is_read_as_a_form(client, kind):
    payload = fixture_for(kind.name)
    response = client.post(f"{kind.path}?token={token()}", payload)  # the test client sends multipart
    assert response.status_code == 200
    assert kind.model.objects.get().payload == as_form(payload)


@pytest.mark.django_db
@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'{"amount": NaN}', b"\xff\xfe{}"])
def test_malformed_json_is_stored_with_its_raw_body_and_refused(client, kind, body):
    response = client.post(f"{kind.path}?token={token()}", data=body, content_type="application/json")
    assert response.status_code == 400
    assert "malformed JSON" in response.json()["error"]
    event = kind.model.objects.get()
    assert event.state == ProcessingState.FAILED
    assert event.raw_body
    assert event.error == response.json()["error"]


@pytest.mark.django_db
def test_non_utf8_form_bytes_never_lose_the_row(client, kind):
    payload = fixture_for(kind.name)
    from urllib.parse import urlencode

    body = urlencode(payload).encode() + b"&extra=caf%E9&raw=\xff\xfe"
    response = client.post(f"{kind.path}?token={token()}", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    event = kind.model.objects.get()
    assert event.payload["extra"] == "caf\ufffd"
    assert "\\xff\\xfe" in event.raw_body  # the original bytes stay recoverable


@pytest.mark.django_db
def test_nul_and_lone_surrogates_are_escaped_not_lost(client, kind):
    payload = {**fixture_for(kind.name), "note": "a\x00b\ud800c"}
    response = client.post(f"{kind.path}?token={token()}", data=json.dumps(payload), content_type="application/json")
    assert response.status_code == 200
    assert kind.model.objects.get().payload["note"] == "a\\x00b\\ud800c"


@pytest.mark.django_db
def test_unknown_extra_fields_are_kept(client, kind):
    payload = {**fixture_for(kind.name), "somethingNew": "kept"}
    assert post_callback(client, kind.path, payload).status_code == 200
    assert kind.model.objects.get().payload["somethingNew"] == "kept"


@pytest.mark.django_db
def test_empty_body_is_stored_and_refused_naming_a_field(client, kind):
    response = client.post(f"{kind.path}?token={token()}", data=b"", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert "missing required field '" in response.json()["error"]
    assert kind.model.objects.get().state == ProcessingState.FAILED


# --- Repeats ---------------------------------------------------------------------


@pytest.mark.django_db
def test_repeats_are_one_row_counted(client, kind):
    payload = fixture_for(kind.name)
    for _ in range(3):
        assert post_callback(client, kind.path, payload).status_code == 200
    event = kind.model.objects.get()
    assert event.times_received == 3
    assert event.last_received_at >= event.received_at


# --- Database down ----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_database_unavailable_gives_503_json(client, kind):
    with database_unavailable():
        response = post_callback(client, kind.path, fixture_for(kind.name))
    if kind.view.interactive:  # answered with content, never a failure (see each app's tests)
        assert response.status_code == 200
        assert b"error" not in response.content
    else:
        assert response.status_code == 503
        assert response.json() == {"error": "The database is unavailable; try again later."}


@pytest.mark.django_db(transaction=True)
def test_a_broken_kept_connection_is_replaced_and_the_callback_stored(client, kind):
    """PostgreSQL restarted under a kept connection: no health-check query per callback, and still nothing lost."""
    if connection.vendor != "postgresql":
        pytest.skip("an SQLite file has no server connection to lose")
    payload = fixture_for(kind.name)
    assert post_callback(client, kind.path, payload).status_code == 200
    assert connection.connection is not None  # kept between requests (CONN_MAX_AGE)
    killer = connection.copy()
    with killer.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [connection.connection.info.backend_pid])
    killer.close()
    response = post_callback(client, kind.path, payload)  # AT's retry: counted on the stored row
    assert response.status_code == 200
    assert kind.model.objects.get().times_received == 2


@pytest.mark.django_db(transaction=True)
def test_callbacks_arriving_while_the_database_is_down_are_spooled_then_replayed(client, kind, spool_dir):
    from django.core.management import call_command

    payload = fixture_for(kind.name)
    with database_unavailable():
        post_callback(client, kind.path, payload)
        post_callback(client, kind.path, payload)  # AT retried: a repeat, still not lost
    lines = (spool_dir / "callbacks.jsonl").read_text().splitlines()
    assert [json.loads(line)["kind"] for line in lines] == [kind.name, kind.name]
    assert "test-webhook-token" not in "".join(lines)
    call_command("replay_spool")
    event = kind.model.objects.get()
    assert event.times_received == 2
    assert event.payload == as_form(payload)
    assert not (spool_dir / "callbacks.jsonl").exists()


@pytest.mark.django_db(transaction=True)
def test_spooled_callbacks_stay_when_the_database_is_still_down(client, spool_dir):
    from hub.callbacks.replay import replay

    kind = kinds()["sms.delivery-reports"]
    with database_unavailable():
        post_callback(client, kind.path, fixture_for(kind.name))
        assert replay() == (0, 1, 0)
    assert len((spool_dir / "callbacks.jsonl").read_text().splitlines()) == 1
    assert replay() == (1, 0, 0)


@pytest.mark.django_db(transaction=True)
def test_healthz_reports_the_database(client):
    health = client.get("/healthz").json()
    assert (health["status"], health["database"], health["queue"]["waiting"]) == ("ok", "ok", 0)
    with database_unavailable():
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "unavailable"


# --- Logging ------------------------------------------------------------------------


@pytest.mark.django_db
def test_payload_logged_at_info_without_token(client, kind, caplog, settings):
    caplog.set_level(logging.INFO)
    payload = fixture_for(kind.name)
    post_callback(client, kind.path, payload)
    post_callback(client, kind.path, payload, token_value="wrong-guess")
    messages = [r.getMessage() for r in caplog.records]
    assert any(r.levelno == logging.INFO and kind.model._meta.label in r.getMessage() for r in caplog.records)
    from hub.callbacks.payload import PII_FIELDS

    plain = next(str(v) for k, v in payload.items() if k.lower() not in PII_FIELDS)
    assert any(plain in m for m in messages)
    for secret in [*settings.AT_WEBHOOK_TOKEN, "wrong-guess", "?token"]:
        assert not any(secret in m for m in messages)


@pytest.mark.django_db
@pytest.mark.parametrize("log_pii", [False, True])
def test_phone_numbers_and_texts_are_masked_in_info_logs_unless_asked(client, caplog, settings, log_pii):
    settings.AT_LOG_PII = log_pii
    caplog.set_level(logging.INFO)
    post_callback(client, "/api/sms/twoway", load_payload("sms", "inbound_message"))
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert ("+254711000001" in logged) is log_pii
    assert ("Nataka kujua salio" in logged) is log_pii
    if not log_pii:
        assert '"from": "+2547******01"' in logged and '"text": "<28 characters>"' in logged


def test_query_strings_are_stripped_from_request_lines():
    record = logging.LogRecord(
        "django.server",
        logging.INFO,
        __file__,
        1,
        '"%s" %s %s',
        ("POST /api/sms/delivery-reports?token=s3cret&x=1 HTTP/1.1", "200", "2"),
        None,
    )
    StripQueryStrings().filter(record)
    assert record.getMessage() == '"POST /api/sms/delivery-reports HTTP/1.1" 200 2'
    assert strip_query_strings("see https://h.example/cb?token=abc now") == "see https://h.example/cb now"


# --- System checks --------------------------------------------------------------------


def test_check_warns_without_token_and_errors_under_deploy(settings):
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    settings.AT_WEBHOOK_TOKEN, settings.DEBUG = [], True
    from hub.checks import webhook_token_set, webhook_token_set_for_deploy

    assert [m.id for m in webhook_token_set(None)] == ["atproject.W001"]
    assert [m.id for m in webhook_token_set_for_deploy(None)] == ["atproject.E001"]
    with pytest.raises(SystemCheckError, match=r"atproject\.E001"):
        call_command("check", "--deploy", "--tag", "security")
    settings.DEBUG = False  # then every callback is refused: said by `check`, an error for `check --deploy`
    assert [m.id for m in webhook_token_set(None)] == ["atproject.W002"]
    with pytest.raises(SystemCheckError, match=r"atproject\.E001"):
        call_command("check", "--deploy", "--tag", "security")


@override_settings(AT_WEBHOOK_TOKEN=["a-long-enough-token-0123"])
def test_checks_quiet_with_token():
    from hub.checks import webhook_token_set, webhook_token_set_for_deploy

    assert webhook_token_set(None) == [] and webhook_token_set_for_deploy(None) == []


@override_settings(AT_WEBHOOK_TOKEN=["a-long-enough-token-0123", "short-token"])
def test_a_short_token_fails_the_deploy_check():
    from hub.checks import webhook_token_set_for_deploy

    assert [m.id for m in webhook_token_set_for_deploy(None)] == ["atproject.E002"]


# --- Odd but legal payloads, and hostile ones: a clear 400 with the row kept, never a 500 -------------------------

#: The money fields of each kind, and the typed column they land in.
MONEY_FIELDS = {
    "sms.twoway": [("cost", "cost")],
    "ussd.status": [("cost", "cost")],
    "voice.instruct": [("amount", "amount")],
    "voice.events": [("amount", "amount")],
    "airtime.status": [("discount", "discount"), ("value", "value")],
}


@pytest.mark.django_db
@pytest.mark.parametrize("kind_name", sorted(MONEY_FIELDS))
@pytest.mark.parametrize("as_json", [False, True])
def test_money_with_many_decimals_is_rounded_half_even_and_kept_exactly(client, kind_name, as_json):
    from decimal import Decimal

    kind = kinds()[kind_name]
    payload = fixture_for(kind_name)
    for field, _column in MONEY_FIELDS[kind_name]:
        payload[field] = "KES 0.408333333333333345" if field != "amount" else "0.408333333333333345"
        if field == "amount":
            payload["isActive"] = "0"
    body = json.dumps(payload).replace('"0.408333333333333345"', "0.408333333333333345") if as_json else None
    if as_json:
        response = client.post(f"{kind.path}?token={token()}", data=body, content_type="application/json")
    else:
        response = post_callback(client, kind.path, payload)
    assert response.status_code == 200
    event = kind.model.objects.get()
    assert event.state == ProcessingState.PROCESSED, event.error
    for field, column in MONEY_FIELDS[kind_name]:
        assert getattr(event, column) == Decimal("0.4083")
        assert "0.408333333333333345" in str(event.payload[field])  # the exact value AT sent


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["0.00005", "0.00015", "0.00025"])
def test_money_rounds_half_to_even(value):
    from decimal import Decimal

    from hub.callbacks.payload import parse_money

    expected = {"0.00005": "0.0000", "0.00015": "0.0002", "0.00025": "0.0002"}[value]
    assert parse_money(value) == (Decimal(expected), "")


@pytest.mark.django_db
@pytest.mark.parametrize("kind_name", sorted(MONEY_FIELDS))
def test_money_that_no_column_holds_is_stored_empty_not_refused(client, kind_name):
    kind = kinds()[kind_name]
    payload = fixture_for(kind_name)
    for field, _column in MONEY_FIELDS[kind_name]:
        payload[field] = "KES 1e40" if field != "amount" else "9" * 40
    response = post_callback(client, kind.path, payload)
    assert response.status_code == 200
    event = kind.model.objects.get()
    assert event.state == ProcessingState.PROCESSED, event.error
    for field, column in MONEY_FIELDS[kind_name]:
        assert getattr(event, column) is None
        assert event.payload[field] == payload[field]


@pytest.mark.django_db
@pytest.mark.parametrize("depth", [100_000, 40])
def test_json_nested_deeper_than_allowed_is_a_400_and_a_row(client, kind, depth):
    body = b'{"a": ' + b"[" * depth + b"1" + b"]" * depth + b"}"  # 100,000 deep fits in 256 KB
    response = client.post(f"{kind.path}?token={token()}", data=body, content_type="application/json")
    assert response.status_code == 400
    assert "nested deeper than" in response.json()["error"]
    event = kind.model.objects.get()
    assert event.state == ProcessingState.FAILED
    assert event.raw_body.startswith('{"a": ')


#: Kinds with a date field, and its name.
DATE_FIELDS = {"sms.twoway": "date", "ussd.status": "date"}


@pytest.mark.django_db
@pytest.mark.parametrize("kind_name", sorted(DATE_FIELDS))
@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"])
def test_dates_that_overflow_in_utc_are_a_400_and_a_row(client, kind_name, value):
    kind = kinds()[kind_name]
    payload = {**fixture_for(kind_name), DATE_FIELDS[kind_name]: value}
    response = post_callback(client, kind.path, payload)
    assert response.status_code == 400
    assert f"field '{DATE_FIELDS[kind_name]}' is out of range" in response.json()["error"]
    event = kind.model.objects.get()
    assert (event.state, event.payload[DATE_FIELDS[kind_name]]) == (ProcessingState.FAILED, value)


@pytest.mark.django_db
@pytest.mark.parametrize("what", ["fields", "files"])
def test_multipart_with_more_fields_or_files_than_django_allows_is_a_json_400_and_a_row(client, kind, what):
    from django.core.files.uploadedfile import SimpleUploadedFile

    payload = fixture_for(kind.name)
    if what == "fields":
        extra = {f"f{i}": "x" for i in range(1100)}
    else:
        extra = {f"f{i}": SimpleUploadedFile(f"{i}.txt", b"x") for i in range(120)}
    response = client.post(f"{kind.path}?token={token()}", {**payload, **extra})  # the test client sends multipart
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert "malformed form" in response.json()["error"]
    event = kind.model.objects.get()
    assert event.state == ProcessingState.FAILED
    assert event.raw_body


# --- A stalled database fails like one that is down ---------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_stalled_database_is_treated_as_down_within_the_deadline(client, kind, settings, spool_dir):
    """SQLite: a lock held by another process's writer; PostgreSQL: the server process of our connection frozen."""
    import os
    import signal
    import time

    settings.AT_CALLBACK_DB_TIMEOUT = 1.0
    payload = fixture_for(kind.name)
    if connection.vendor == "sqlite":
        import sqlite3

        holder = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # holds the write lock, as a busy writer would
        release = holder.close
    else:
        assert post_callback(client, kind.path, {**payload, "warm": "up"}).status_code in (200, 400)
        kind.model.objects.all().delete()
        backend = connection.connection.info.backend_pid  # the server process behind the kept connection
        with open(f"/proc/{backend}/stat") as stat:
            postmaster = int(stat.read().rsplit(")", 1)[1].split()[1])  # new connections hang too
        frozen = [postmaster, backend]
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)

        def release():
            for pid in frozen:
                os.kill(pid, signal.SIGCONT)

    try:
        started = time.monotonic()
        response = post_callback(client, kind.path, payload)
        elapsed = time.monotonic() - started
    finally:
        release()
    assert elapsed < 2.5, f"answered after {elapsed:.1f} s"  # the deadline, not the deadline + a reconnection
    if kind.view.interactive:
        assert response.status_code == 200
    else:
        assert response.status_code == 503
    assert len((spool_dir / "callbacks.jsonl").read_text().splitlines()) == 1


# --- Stored errors and logs keep subscribers' numbers masked -------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("log_pii", [False, True])
def test_a_failed_effect_stores_and_logs_its_error_with_phone_numbers_masked(client, settings, caplog, log_pii):
    """The database refuses the effect's UPDATE; its message names the subscriber's number."""
    from hub.testing import table_refuses
    from sms.models import OptOut, OptOutEvent

    settings.AT_LOG_PII = log_pii
    caplog.set_level(logging.INFO)
    with table_refuses(OptOut._meta.db_table, "INSERT", message="cannot opt out +254711000077 now"):
        response = post_callback(client, "/api/sms/opt-out", {"phoneNumber": "+254711000077", "senderId": "ACME"})
    assert response.status_code == 200
    event = OptOutEvent.objects.get()
    assert event.state == ProcessingState.FAILED
    logged = "\n".join(h.format(r) for h in logging.getLogger().handlers for r in caplog.records)
    if log_pii:
        assert "+254711000077" in event.error
    else:
        assert "+254711000077" not in event.error and "+2547******77" in event.error
        for record in caplog.records:
            from hub.logfilters import MaskPhoneNumbers

            MaskPhoneNumbers().filter(record)
            assert "+254711000077" not in record.getMessage() + (record.exc_text or "")
    assert logged is not None


def test_every_kind_indexes_its_failed_rows_under_a_name_with_its_app_label():
    for kind in kinds().values():
        meta = kind.model._meta
        failed = [i for i in meta.indexes if i.fields == ["state"]]
        assert len(failed) == 1, kind.name
        assert failed[0].name.startswith(f"{meta.app_label}_"), failed[0].name
        assert all(i.name.startswith(f"{meta.app_label}_") for i in meta.indexes), kind.name


@pytest.mark.django_db
def test_the_one_statement_effect_leaves_exactly_the_rows_the_plain_effect_leaves():
    """PostgreSQL stores and applies a delivery report in one statement (`insert_effect`); the same callbacks
    through the plain effect must leave every row the same."""
    import dataclasses
    from datetime import timedelta

    from django.utils import timezone

    from hub.callbacks.ingest import ingest
    from hub.callbacks.models import Arrival
    from hub.callbacks.payload import ParsedBody
    from sms.models import DeliveryReport, OutboundMessage
    from sms.services import queue_sms

    if connection.vendor != "postgresql":
        pytest.skip("the one-statement effect is PostgreSQL's")
    declared = kinds()["sms.delivery-reports"]
    assert declared.insert_effect is not None
    plain = dataclasses.replace(declared, insert_effect=None)
    start = timezone.now()
    reports = [
        {"id": "M1", "status": "Sent"},
        {"id": "M1", "status": "Success"},
        {"id": "M1", "status": "Sent"},  # late: moves nothing down
        {"id": "M1", "status": "Success"},  # a repeat: counted, not applied again
        {"id": "M2", "status": "Failed", "failureReason": "UserInBlackList"},
        {"id": "M3", "status": "Buffered"},
        {"id": "M3", "status": "Renewed"},  # unknown status: kept, moves nothing
        {"id": "NOT-OURS", "status": "Success"},  # no such message: stored unmatched
        {"id": "M4", "status": "Failed", "retryCount": "1"},
        {"id": "M4", "status": "Success", "retryCount": "2"},  # premium retry: failed → delivered
    ]

    def run(kind, tag):
        batch = queue_sms([f"+25471100000{i}" for i in range(1, 5)], f"run {tag}")
        for i, message in enumerate(batch.messages.order_by("pk"), start=1):
            OutboundMessage.objects.filter(pk=message.pk).update(status="submitted", at_message_id=f"{tag}-M{i}")
        for n, report in enumerate(reports):
            data = {**report, "id": f"{tag}-{report['id']}", "phoneNumber": "+254711000001", "networkCode": "63902"}
            arrival = Arrival(start + timedelta(seconds=n))
            ingest(kind, ParsedBody(data=data, content_type="application/json"), arrival=arrival)
        rows = [
            (r.at_message_id.split("-", 1)[1], r.status, r.failure_reason, r.retry_count, r.times_received, r.state,
             r.message.at_message_id.split("-", 1)[1] if r.message else None)
            for r in DeliveryReport.objects.filter(at_message_id__startswith=f"{tag}-").order_by("received_at", "pk")
        ]  # fmt: skip
        messages = [
            (m.at_message_id.split("-", 1)[1], m.status, m.at_status, m.failure_reason, m.delivered_at)
            for m in OutboundMessage.objects.filter(batch=batch).order_by("pk")
        ]
        return rows, messages

    assert run(declared, "one") == run(plain, "two")


@pytest.mark.django_db
def test_refused_callbacks_are_counted_per_hour_and_path_never_with_the_token(client, kind, settings):
    from hub.models import RefusedCallback

    for guess in ("wrong-guess-1", "wrong-guess-2", ""):
        post_callback(client, kind.path, fixture_for(kind.name), token_value=guess, REMOTE_ADDR="203.0.113.9")
    refused = RefusedCallback.objects.get()
    assert (refused.path, refused.reason, refused.count) == (kind.path, "token", 3)
    assert refused.last_source_ip == "203.0.113.9"
    assert "wrong-guess" not in json.dumps(list(RefusedCallback.objects.values()), default=str)
    settings.AT_WEBHOOK_ALLOWED_IPS = ["10.0.0.0/8"]
    post_callback(client, kind.path, fixture_for(kind.name), REMOTE_ADDR="203.0.113.9")
    assert RefusedCallback.objects.get(reason="address").count == 1


#: Kinds with a whole-number field, and its name (every caller of Payload.integer).
INTEGER_FIELDS = {
    "sms.delivery-reports": "retryCount",
    "voice.events": "durationInSeconds",
    "ussd.status": "durationInMillis",
}


@pytest.mark.django_db
@pytest.mark.parametrize("kind_name", sorted(INTEGER_FIELDS))
@pytest.mark.parametrize(
    ("value", "problem"),
    [("inf", "must be a whole number"), ("-Infinity", "must be a whole number"), ("nan", "must be a whole number"),
     ("1e999999999", "must be between"), ("1.5", "must be a whole number")],
)  # fmt: skip
def test_a_whole_number_that_is_infinite_not_a_number_or_huge_is_a_400_and_a_row(client, kind_name, value, problem):
    kind = kinds()[kind_name]
    field = INTEGER_FIELDS[kind_name]
    response = post_callback(client, kind.path, {**fixture_for(kind_name), field: value})
    assert response.status_code == 400
    assert f"field '{field}' {problem}" in response.json()["error"]
    event = kind.model.objects.get()
    assert (event.state, event.payload[field]) == (ProcessingState.FAILED, value)
