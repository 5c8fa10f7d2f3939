"""Airtime whose outcome is unknown: never sent again; settled by AT's status, in any order, or by staff.

The day's total counts every amount delivered, whatever order AT's statuses
arrive in: a failure gives the amount back once, a later Success takes it again.
"""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
import requests
import responses
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.urls import reverse

from airtime import services
from airtime.models import AirtimeStatusEvent, AirtimeTransaction, DailyAirtimeSpend
from hub import maintenance
from hub.outbound import OutboundStatus
from hub.testing import (
    make_deferred_tasks_due,
    post_callback,
    queued_tasks,
    run_worker,
    strand_waiting_tasks,
    table_refuses,
)

pytestmark = pytest.mark.django_db

STATUS = "/api/airtime/status"
AT_SEND = "http://at.stub/version1/airtime/send"
PHONE = "+254711000000"


@pytest.fixture(autouse=True)
def limits(settings):
    settings.AT_AIRTIME_MAX_AMOUNT = {"KES": Decimal("1000"), "UGX": Decimal("30000")}
    settings.AT_AIRTIME_DAILY_LIMIT = {"KES": Decimal("2000"), "UGX": Decimal("3000000")}
    settings.AT_API_URL = "http://at.stub"


def at_status(client, request_id, status="Success", *, phone=PHONE, value="KES 100.0000", description=""):
    """AT's status callback as AT sends it (JSON)."""
    payload = {
        "phoneNumber": phone,
        "requestId": request_id,
        "status": status,
        "value": value,
        "discount": "KES 0.6000",
        "description": description or ("Airtime Delivered Successfully" if status == "Success" else "Failed"),
    }
    return post_callback(client, STATUS, payload, as_json=True)


def at_answer(request_id="ATQid_1", phone=PHONE, amount="KES 100.0000"):
    entry = {
        "phoneNumber": phone,
        "errorMessage": "None",
        "amount": amount,
        "status": "Sent",
        "requestId": request_id,
        "discount": "KES 0.6000",
    }
    return {"errorMessage": "None", "numSent": 1, "responses": [entry]}


def state(txn):
    txn.refresh_from_db()
    return txn.status, txn.counted


def spent():
    return services.spent_today("KES")


def stuck(phone=PHONE, amount="100") -> AirtimeTransaction:
    """A transaction whose worker died while AT had the request (claimed, its task still RUNNING)."""
    (txn,) = services.queue_airtime([phone], amount, "KES")
    AirtimeTransaction.claim([txn.pk])
    strand_waiting_tasks()
    return txn


def unknown(phone=PHONE, amount="100") -> AirtimeTransaction:
    txn = stuck(phone, amount)
    maintenance.reap(timedelta(0))
    return txn


def submitted(request_id="ATQid_1", amount="100") -> AirtimeTransaction:
    (txn,) = services.queue_airtime([PHONE], amount, "KES")
    AirtimeTransaction.objects.filter(pk=txn.pk).update(status=OutboundStatus.SUBMITTED, at_request_id=request_id)
    return txn


# --- A worker that died during the call to AT -------------------------------------------------------------


@pytest.mark.queue
@pytest.mark.django_db(transaction=True)
def test_a_transaction_whose_worker_died_is_unknown_and_never_sent_again():
    """AT may have delivered it (and would refuse a repeat): it is not queued again."""
    txn = stuck()
    assert maintenance.reap(timedelta(0)) == {"tasks": 1, "airtime.AirtimeTransaction": 1}
    txn.refresh_from_db()
    assert (txn.status, txn.counted) == (OutboundStatus.UNKNOWN, True)
    assert txn.failure_reason == "the worker stopped while sending: it may have been sent"
    assert "READY" not in {t.status for t in queued_tasks()}
    with responses.RequestsMock():  # any call to AT fails the test
        run_worker()
    assert spent() == Decimal("100")  # still counted: it may have been delivered


def test_reaping_then_ats_status_delivers_it(client):
    """The status carries a requestId we never learnt: it is matched by phone, currency and amount."""
    txn = unknown()
    at_status(client, "ATQid_late")
    txn.refresh_from_db()
    assert (txn.status, txn.at_request_id, txn.counted) == (OutboundStatus.DELIVERED, "ATQid_late", True)
    assert txn.failure_reason == ""  # "may have been sent" no longer applies once AT said so
    assert AirtimeStatusEvent.objects.get().transaction == txn
    assert spent() == Decimal("100")


def test_reaping_then_a_failed_status_gives_the_amount_back(client):
    txn = unknown()
    at_status(client, "ATQid_late", "Failed", description="Insufficient balance")
    txn.refresh_from_db()
    assert (txn.status, txn.failure_reason, txn.counted) == (OutboundStatus.FAILED, "Insufficient balance", False)
    assert spent() == 0


def test_a_status_before_reaping_delivers_it_and_the_reaper_leaves_it(client):
    txn = stuck()
    at_status(client, "ATQid_early")  # the worker is gone; AT's status arrives first
    assert state(txn) == (OutboundStatus.DELIVERED, True)
    assert maintenance.reap(timedelta(0)) == {"tasks": 1}
    assert state(txn) == (OutboundStatus.DELIVERED, True)
    assert "READY" not in {t.status for t in queued_tasks()}


def test_a_status_that_matched_nothing_is_applied_when_its_transaction_becomes_unknown(client):
    """AT's status raced the reaper: stored unlinked, it settles the transaction as the reaper marks it unknown."""
    (txn,) = services.queue_airtime([PHONE], "100", "KES")  # not being sent yet: nothing to match
    at_status(client, "ATQid_raced")
    assert AirtimeStatusEvent.objects.get().transaction is None
    AirtimeTransaction.claim([txn.pk])
    maintenance.reap(timedelta(0))
    txn.refresh_from_db()
    assert (txn.status, txn.at_request_id) == (OutboundStatus.DELIVERED, "ATQid_raced")
    assert AirtimeStatusEvent.objects.get().transaction == txn


@pytest.mark.queue
@pytest.mark.django_db(transaction=True)
def test_a_read_timeout_then_ats_status_settles_it(client):
    (txn,) = services.queue_airtime([PHONE], "100", "KES")
    with responses.RequestsMock() as mock:
        mock.post(AT_SEND, body=requests.exceptions.ReadTimeout("slow"))
        run_worker()
        make_deferred_tasks_due()
        run_worker()
        assert len(mock.calls) == 1
    assert state(txn) == (OutboundStatus.UNKNOWN, True)
    at_status(client, "ATQid_after_timeout")
    assert state(txn) == (OutboundStatus.DELIVERED, True)


@pytest.mark.parametrize(
    "kwargs",
    [{"phone": "+254711000001"}, {"value": "KES 100.0001"}, {"value": "UGX 100.0000"}, {"value": ""}],
    ids=["other-phone", "other-amount", "other-currency", "no-value"],
)
def test_a_status_is_matched_only_by_the_same_phone_currency_and_amount(client, kwargs):
    txn = unknown()
    at_status(client, "ATQid_other", **kwargs)
    txn.refresh_from_db()
    assert (txn.status, txn.at_request_id) == (OutboundStatus.UNKNOWN, "")
    assert AirtimeStatusEvent.objects.get().transaction is None


def test_a_status_is_matched_to_the_most_recent_unknown_before_it_and_never_to_a_known_one(client):
    older, newer = unknown(), unknown()
    at_status(client, "ATQid_a")
    at_status(client, "ATQid_b")
    older.refresh_from_db()
    newer.refresh_from_db()
    assert (newer.at_request_id, older.at_request_id) == ("ATQid_a", "ATQid_b")
    at_status(client, "ATQid_c")  # both have a requestId now: nothing left to match
    assert AirtimeStatusEvent.objects.get(at_request_id="ATQid_c").transaction is None


def test_a_status_is_not_matched_to_a_transaction_made_after_it_arrived(client):
    at_status(client, "ATQid_before")
    txn = unknown()
    assert state(txn) == (OutboundStatus.UNKNOWN, True)


# --- Statuses in any order -----------------------------------------------------------------------------------


def test_success_then_failed_stays_delivered_and_counted(client):
    txn = submitted()
    at_status(client, "ATQid_1", "Success")
    at_status(client, "ATQid_1", "Failed")
    assert state(txn) == (OutboundStatus.DELIVERED, True)
    assert spent() == Decimal("100")


def test_failed_then_success_is_delivered_and_counted_again(client):
    txn = submitted()
    at_status(client, "ATQid_1", "Failed")
    assert state(txn) == (OutboundStatus.FAILED, False)
    assert spent() == 0
    at_status(client, "ATQid_1", "Success")
    assert state(txn) == (OutboundStatus.DELIVERED, True)
    assert spent() == Decimal("100")


def test_a_late_success_counts_even_past_the_daily_limit(client):
    """It was delivered: it counts, though others took the day's allowance meanwhile."""
    txn = submitted(amount="1000")
    at_status(client, "ATQid_1", "Failed", value="KES 1000.0000")
    services.queue_airtime(["+254711000009", "+254711000008"], "1000", "KES")  # the day is full again
    at_status(client, "ATQid_1", "Success", value="KES 1000.0000")
    assert state(txn) == (OutboundStatus.DELIVERED, True)
    assert spent() == Decimal("3000")


def test_failed_repeated_gives_the_amount_back_once(client):
    services.queue_airtime(["+254711000009"], "300", "KES")
    txn = submitted()
    at_status(client, "ATQid_1", "Failed")
    at_status(client, "ATQid_1", "Failed")  # a repeat: stored once, applied once
    event = AirtimeStatusEvent.objects.get()
    assert event.times_received == 2
    call_command("reprocess", kind="airtime.status", ids=str(event.pk))  # and applied again by hand
    assert state(txn) == (OutboundStatus.FAILED, False)
    assert spent() == Decimal("300")


@pytest.mark.queue
@pytest.mark.django_db(transaction=True)
def test_success_before_the_sends_answer_was_stored(client):
    """AT's status comes while the worker still waits for AT's answer: both are kept, the status wins."""
    (txn,) = services.queue_airtime([PHONE], "100", "KES")

    def at_sends(request):
        at_status(client, "ATQid_1")  # the status arrives first
        return 201, {"Content-Type": "application/json"}, json.dumps(at_answer("ATQid_1"))

    with responses.RequestsMock() as mock:
        mock.add_callback(responses.POST, AT_SEND, callback=at_sends)
        run_worker()
    txn.refresh_from_db()
    assert (txn.status, txn.at_request_id, txn.at_status, txn.discount, txn.counted) == (
        OutboundStatus.DELIVERED,
        "ATQid_1",
        "Sent",
        Decimal("0.6000"),
        True,
    )
    assert AirtimeStatusEvent.objects.get().transaction == txn
    assert spent() == Decimal("100")


@pytest.mark.queue
@pytest.mark.django_db(transaction=True)
def test_a_slow_answer_after_reaping_gives_the_transaction_its_request_id(client):
    """The worker was only slow: the reaper marked it unknown, then AT's answer came; AT's status then links."""
    (txn,) = services.queue_airtime([PHONE], "100", "KES")

    def at_answers_late(request):
        maintenance.reap(timedelta(0))  # the worker looked dead meanwhile
        return 201, {"Content-Type": "application/json"}, json.dumps(at_answer("ATQid_slow"))

    with responses.RequestsMock() as mock:
        mock.add_callback(responses.POST, AT_SEND, callback=at_answers_late)
        run_worker()
    txn.refresh_from_db()
    assert (txn.status, txn.at_request_id) == (OutboundStatus.UNKNOWN, "ATQid_slow")
    at_status(client, "ATQid_slow", "Failed")
    assert state(txn) == (OutboundStatus.FAILED, False)


def test_a_status_whose_effect_failed_is_applied_when_reprocessed(client):
    txn = unknown()
    with table_refuses("airtime_airtimetransaction", "UPDATE"):
        at_status(client, "ATQid_1")
    assert state(txn) == (OutboundStatus.UNKNOWN, True)
    call_command("reprocess", failed=True)
    assert state(txn) == (OutboundStatus.DELIVERED, True)


# --- Staff settle ---------------------------------------------------------------------------------------------


CHANGELIST = "admin:airtime_airtimetransaction_changelist"


def settle(client, txns, outcome=None, *, confirm=False, note=""):
    data = {"action": "settle", "_selected_action": [t.pk for t in txns]}
    if outcome:
        data.update(step="form", outcome=outcome, note=note)
    if confirm:
        data.update(step="confirm", confirm="yes")
    return client.post(reverse(CHANGELIST), data, follow=confirm)


def test_staff_settle_an_unknown_transaction_as_delivered(staff_client, staff_user):
    txn, other = unknown(), submitted("ATQid_known")
    form = settle(staff_client, [txn, other]).content.decode()
    assert 'name="outcome"' in form
    assert "1 of the selected are not unknown and will not be settled." in form
    page = settle(staff_client, [txn, other], "delivered", note="AT dashboard: Success").content.decode()
    assert "Settle these transactions?" in page
    assert "Delivered: the amount stays counted" in page
    assert state(txn) == (OutboundStatus.UNKNOWN, True)  # nothing until confirmed
    done = settle(staff_client, [txn, other], "delivered", confirm=True, note="AT dashboard: Success")
    assert "Settled 1 transaction as delivered." in done.content.decode()
    txn.refresh_from_db()
    assert (txn.status, txn.counted, txn.settled_by, txn.description) == (
        OutboundStatus.DELIVERED,
        True,
        staff_user,
        "settled by admin as delivered: AT dashboard: Success",
    )
    assert txn.settled_at is not None
    assert LogEntry.objects.get(object_id=str(txn.pk)).get_change_message() == (
        "Settled as delivered: AT dashboard: Success."
    )
    assert spent() == Decimal("200")  # both still counted
    assert state(other) == (OutboundStatus.SUBMITTED, True)


def test_staff_settle_as_not_delivered_gives_the_amount_back_and_ats_later_success_still_counts(staff_client, client):
    txn = unknown()
    settle(staff_client, [txn], "not_delivered", confirm=True)
    txn.refresh_from_db()
    assert (txn.status, txn.counted, txn.failure_reason) == (
        OutboundStatus.FAILED,
        False,
        "settled by admin as not delivered",
    )
    assert spent() == 0
    at_status(client, "ATQid_after_staff")  # staff were wrong: AT delivered it
    txn.refresh_from_db()
    assert (txn.status, txn.counted, txn.at_request_id) == (OutboundStatus.DELIVERED, True, "ATQid_after_staff")
    assert spent() == Decimal("100")


def test_staff_not_delivered_then_ats_failed_gives_the_amount_back_once(staff_client, client):
    txn = unknown()
    settle(staff_client, [txn], "not_delivered", confirm=True)
    at_status(client, "ATQid_x", "Failed")
    assert state(txn) == (OutboundStatus.FAILED, False)
    assert spent() == 0


def test_a_settled_transaction_is_not_settled_again(staff_client):
    txn = unknown()
    settle(staff_client, [txn], "delivered", confirm=True)
    done = settle(staff_client, [txn], "not_delivered", confirm=True)
    assert "None of the selected transactions is unknown: nothing to settle." in done.content.decode()
    assert state(txn) == (OutboundStatus.DELIVERED, True)


def test_settling_needs_its_permission(client, django_user_model):
    txn = unknown()
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_airtimetransaction"))
    client.force_login(viewer)
    listing = client.get(reverse(CHANGELIST)).content.decode()
    assert "Settle the selected unknown transactions" not in listing
    settle(client, [txn], "delivered", confirm=True)
    assert state(txn) == (OutboundStatus.UNKNOWN, True)
    viewer.user_permissions.add(Permission.objects.get(codename="settle_airtime"))
    assert "Settle the selected unknown transactions" in client.get(reverse(CHANGELIST)).content.decode()


def test_operators_may_settle():
    from django.contrib.auth.models import Group

    from hub.groups import OPERATORS

    assert Group.objects.get(name=OPERATORS).permissions.filter(codename="settle_airtime").exists()


def test_the_day_total_row_is_the_transactions_own(staff_client):
    """Settling touches the day the amount was counted in, not today's."""
    txn = unknown()
    AirtimeTransaction.objects.filter(pk=txn.pk).update(spend_day=txn.spend_day - timedelta(days=1))
    DailyAirtimeSpend.objects.create(day=txn.spend_day - timedelta(days=1), currency="KES", total=Decimal("100"))
    settle(staff_client, [txn], "not_delivered", confirm=True)
    assert DailyAirtimeSpend.objects.get(day=txn.spend_day - timedelta(days=1)).total == 0
    assert spent() == Decimal("100")  # today's total untouched
