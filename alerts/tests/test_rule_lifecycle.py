"""Every rule kind's firing, holding and resolving is tested; and the ways out test_rules.py leaves aside.

test_rules.py takes each of the twelve kinds through `fires_and_holds` and
`resolves`; the first test here keeps it so (a kind added without both fails).
The others resolve conditions the way production does (delivery reports posted
to their URL, healthy sends diluting a failure rate) and check that the keys
of one rule live their own lives: one resolves while another holds.
"""

import ast
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from alerts import rules
from alerts.models import AlertKind, Incident, Scope
from hub.models import RefusedCallback, SendFailure
from hub.testing import load_payload, post_callback
from sms.models import OutboundMessage
from sms.services import queue_sms

from .test_rules import fires_and_holds, maintain, open_incidents, quiet, resolves, rule, submit  # noqa: F401

pytestmark = pytest.mark.django_db

HERE = Path(__file__).parent


def _kinds_called(tree: ast.AST, helper: str) -> set[str]:
    """The AlertKind members passed first to `helper(...)` anywhere in `tree`."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == helper and node.args:
            first = node.args[0]
            if isinstance(first, ast.Attribute) and getattr(first.value, "id", None) == "AlertKind":
                found.add(AlertKind[first.attr].value)
    return found


def test_every_rule_kind_has_an_evaluator_and_a_test_that_fires_holds_and_resolves_it():
    assert set(rules._evaluators) == set(AlertKind.values)
    for name in ("test_rules.py", "test_rule_lifecycle.py"):
        tree = ast.parse((HERE / name).read_text())
        for function in (n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")):
            held, resolved = _kinds_called(function, "fires_and_holds"), _kinds_called(function, "resolves")
            assert held == resolved, f"{name}::{function.name} fires {held} but resolves {resolved}"
    tree = ast.parse((HERE / "test_rules.py").read_text())
    missing = set(AlertKind.values) - (_kinds_called(tree, "fires_and_holds") & _kinds_called(tree, "resolves"))
    assert missing == set(), f"rule kinds without a firing, holding and resolving test: {sorted(missing)}"


def report(client, message, status, **extra):
    data = {**load_payload("sms", "delivery_report"), "id": message.at_message_id, "phoneNumber": message.phone}
    data.update(status=status, **extra)
    assert post_callback(client, "/api/sms/delivery-reports", data).status_code == 200


def messages_of(batch) -> list[OutboundMessage]:
    return list(OutboundMessage.objects.filter(batch=batch).order_by("pk"))


def test_stuck_messages_hold_while_some_wait_and_resolve_when_their_final_reports_arrive(client):
    rule(AlertKind.STUCK_SENT, window_minutes=60, min_count=1)
    batch = queue_sms(["+254711000001", "+254711000002", "+254711000003"], "Hi")
    submit(messages_of(batch), ago=timedelta(hours=2))
    stuck = messages_of(batch)
    [incident] = fires_and_holds(AlertKind.STUCK_SENT, ["sms"])
    assert incident.figures["messages"] == 3
    report(client, stuck[0], "Sent")  # an interim word: still stuck
    report(client, stuck[1], "Success")
    maintain()
    [holding] = open_incidents(AlertKind.STUCK_SENT)
    assert holding.pk == incident.pk and holding.figures["messages"] == 2
    assert holding.figures["by_status"] == {"sent": 1, "submitted": 1}
    report(client, stuck[0], "Success")
    report(client, stuck[2], "Failed", failureReason="UserInBlacklist")  # a final word, even if not delivered
    resolves(AlertKind.STUCK_SENT)


def test_a_failure_rate_resolves_when_healthy_deliveries_bring_it_under_the_threshold(client):
    rule(AlertKind.SMS_FAILURE_RATE, threshold=Decimal(50), window_minutes=60, min_count=4, scope=Scope.OVERALL)
    failing = queue_sms([f"+2547110000{n:02d}" for n in range(4)], "Hi")
    submit(messages_of(failing))
    for message in messages_of(failing)[:3]:
        report(client, message, "Failed", failureReason="UserInBlacklist")
    report(client, messages_of(failing)[3], "Success")
    [incident] = fires_and_holds(AlertKind.SMS_FAILURE_RATE, ["overall"])
    assert incident.figures["failure_rate_percent"] == 75.0
    healthy = queue_sms([f"+2547110001{n:02d}" for n in range(3)], "Hi")
    submit(messages_of(healthy))
    for message in messages_of(healthy):
        report(client, message, "Success")
    # 3 of 7 not delivered: 42.9%, within the window still.
    resolves(AlertKind.SMS_FAILURE_RATE)


def test_callback_silence_resolves_per_product(client):
    from voice.models import OutboundCall

    rule(AlertKind.CALLBACK_SILENCE, window_minutes=30, min_count=1)
    batch = queue_sms(["+254711000001"], "Hi")
    submit(messages_of(batch), ago=timedelta(minutes=40))
    OutboundCall.objects.create(
        phone="+254711000001", from_number="+254711082000", status="submitted",
        submitted_at=timezone.now() - timedelta(minutes=40), at_session_id="ATVId_silent",
    )  # fmt: skip
    fires_and_holds(AlertKind.CALLBACK_SILENCE, ["sms", "voice"])
    report(client, messages_of(batch)[0], "Success")  # the SMS callback URL was right after all
    maintain()
    assert [i.key for i in open_incidents(AlertKind.CALLBACK_SILENCE)] == ["voice"]
    assert Incident.objects.get(rule__kind=AlertKind.CALLBACK_SILENCE, key="sms").resolved_at is not None
    post_callback(client, "/api/voice/events", {**load_payload("voice", "event"), "sessionId": "ATVId_silent"})
    resolves(AlertKind.CALLBACK_SILENCE, count=2)


def test_refused_callbacks_resolve_per_path(client):
    rule(AlertKind.REFUSED_CALLBACKS, threshold=Decimal(0), window_minutes=60)
    for path in ("/api/sms/delivery-reports", "/api/ussd/session"):
        assert post_callback(client, path, {"id": "x"}, token_value="wrong").status_code == 403
    fires_and_holds(AlertKind.REFUSED_CALLBACKS, ["/api/sms/delivery-reports", "/api/ussd/session"])
    RefusedCallback.objects.filter(path="/api/ussd/session").update(last_at=timezone.now() - timedelta(hours=2))
    maintain()
    assert [i.key for i in open_incidents(AlertKind.REFUSED_CALLBACKS)] == ["/api/sms/delivery-reports"]
    RefusedCallback.objects.update(last_at=timezone.now() - timedelta(hours=2))
    resolves(AlertKind.REFUSED_CALLBACKS, count=2)


def test_at_unreachable_resolves_while_refused_credentials_hold():
    rule(AlertKind.AT_SEND_FAILURES, window_minutes=15, min_count=1)
    now = timezone.now()
    unreachable = SendFailure.objects.create(
        at=now, product="sms.OutboundMessage", outcome="queued", rows=1, reached=False, error="Connection refused"
    )
    SendFailure.objects.create(
        at=now, product="sms.OutboundMessage", outcome="rejected", rows=1, http_status=401, error="HTTP 401"
    )
    fires_and_holds(AlertKind.AT_SEND_FAILURES, ["credentials", "unreachable"])
    SendFailure.objects.filter(pk=unreachable.pk).update(at=now - timedelta(hours=1))  # AT reachable again
    maintain()
    assert [i.key for i in open_incidents(AlertKind.AT_SEND_FAILURES)] == ["credentials"]
    SendFailure.objects.update(at=now - timedelta(hours=1))
    resolves(AlertKind.AT_SEND_FAILURES, count=2)
