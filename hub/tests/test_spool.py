"""The spool keeps its promise: every callback answered 503 (or apologised to) while the database was down
is stored once it is back, at its arrival time, with the answer its caller got; a bad line loses nothing else."""

import base64
import fcntl
import json
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.core.management import call_command
from django.utils import timezone

from hub.callbacks.replay import replay
from hub.testing import database_unavailable, load_payload, post_callback
from sms.models import DeliveryReport

pytestmark = pytest.mark.django_db(transaction=True)


def report_line(message_id: str, received_at=None) -> str:
    body = urlencode({"id": message_id, "status": "Success", "phoneNumber": "+254711000001"}).encode()
    return json.dumps(
        {
            "kind": "sms.delivery-reports",
            "content_type": "application/x-www-form-urlencoded",
            "body": base64.b64encode(body).decode(),
            "source_ip": "127.0.0.1",
            "received_at": (received_at or timezone.now()).isoformat(),
        }
    )


def write(path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def stored_ids() -> list[str]:
    return sorted(DeliveryReport.objects.values_list("at_message_id", flat=True))


def test_a_torn_line_is_quarantined_and_every_other_line_replayed(spool_dir, capsys):
    torn = report_line("ATXid_torn")[:40]
    write(spool_dir / "callbacks.jsonl", "\n".join([report_line("ATXid_1"), torn, report_line("ATXid_2")]) + "\n")
    call_command("replay_spool")
    assert stored_ids() == ["ATXid_1", "ATXid_2"]
    quarantined = [json.loads(line) for line in (spool_dir / "callbacks.quarantine.jsonl").read_text().splitlines()]
    assert quarantined == [{"reason": "not a complete JSON line (torn by a crash?)", "line": 2, "text": torn}]
    assert "1 spooled line(s) could not be read" in capsys.readouterr().err
    assert not (spool_dir / "callbacks.jsonl").exists()


def test_a_line_torn_by_a_crash_then_appended_to_keeps_the_record_after_the_tear(spool_dir):
    torn = report_line("ATXid_torn")[:50]
    write(spool_dir / "callbacks.jsonl", torn + report_line("ATXid_after") + "\n" + report_line("ATXid_next") + "\n")
    assert replay() == (2, 0, 1)
    assert stored_ids() == ["ATXid_after", "ATXid_next"]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"kind": "sms.nope", "body": "", "received_at": "2026-11-27T10:00:00+00:00"}', "unknown callback kind"),
        ('{"kind": "sms.delivery-reports", "body": "%%%", "received_at": "2026-11-27T10:00:00+00:00"}', "not base64"),
        ('{"kind": "sms.delivery-reports", "body": ""}', "arrival time"),
        ("[1, 2]", "not a spooled callback"),
    ],
)
def test_unreadable_records_are_quarantined_with_the_reason(spool_dir, line, reason):
    write(spool_dir / "callbacks.jsonl", line + "\n" + report_line("ATXid_ok") + "\n")
    assert replay() == (1, 0, 1)
    assert reason in (spool_dir / "callbacks.quarantine.jsonl").read_text()


def test_a_file_left_by_a_crashed_replay_is_picked_up(spool_dir):
    write(spool_dir / "callbacks.jsonl.replaying-99999", report_line("ATXid_left") + "\n")
    write(spool_dir / "callbacks.jsonl", report_line("ATXid_new") + "\n")
    assert replay() == (2, 0, 0)
    assert stored_ids() == ["ATXid_left", "ATXid_new"]
    assert list(spool_dir.iterdir()) == []


def test_a_file_a_live_replay_holds_is_left_to_it(spool_dir):
    held_path = spool_dir / "callbacks.jsonl.replaying-12345"
    write(held_path, report_line("ATXid_held") + "\n")
    with open(held_path) as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another process is replaying it right now
        assert replay() == (0, 0, 0)
    assert replay() == (1, 0, 0)


def test_a_replayed_callback_keeps_its_arrival_time(client, spool_dir):
    with database_unavailable():
        response = post_callback(client, "/api/sms/delivery-reports", load_payload("sms", "delivery_report"))
    assert response.status_code == 503
    spooled = json.loads((spool_dir / "callbacks.jsonl").read_text())
    arrived = timezone.datetime.fromisoformat(spooled["received_at"])
    assert abs(arrived - timezone.now()) < timedelta(seconds=5)
    two_hours_ago = arrived - timedelta(hours=2)  # as if the database came back two hours later
    spooled["received_at"] = two_hours_ago.isoformat()
    (spool_dir / "callbacks.jsonl").write_text(json.dumps(spooled) + "\n")
    replay()
    report = DeliveryReport.objects.get()
    assert report.received_at == two_hours_ago == report.last_received_at


def test_a_replayed_ussd_hop_stores_the_screen_the_caller_got(client, spool_dir, settings):
    from ussd.models import UssdHop, UssdSession

    payload = load_payload("ussd", "session")
    with database_unavailable():
        answered = post_callback(client, "/api/ussd/session", payload).content.decode()
    assert answered == f"END {settings.AT_USSD_ERROR_TEXT}"
    replay()
    hop = UssdHop.objects.get()
    assert hop.response == answered  # not the menu's first screen, which nobody saw
    assert hop.state == "processed"
    assert UssdSession.objects.get().hop_count == 1


def test_a_replayed_voice_instruction_stores_the_apology_the_caller_heard(client, spool_dir, settings):
    from voice.models import Call, VoiceInstruction

    payload = load_payload("voice", "instruct")
    with database_unavailable():
        heard = post_callback(client, "/api/voice/instruct", payload).content.decode()
    assert settings.AT_VOICE_ERROR_TEXT in heard
    replay()
    instruction = VoiceInstruction.objects.get()
    assert instruction.response == heard
    assert instruction.call == Call.objects.get()  # the call is still recorded


def test_a_replayed_airtime_validation_stays_failed_and_validates_nothing(client, spool_dir):
    from airtime.models import AirtimeTransaction, AirtimeValidation
    from airtime.services import queue_airtime
    from hub.outbound import OutboundStatus

    (txn,) = queue_airtime(["+254711000001"], "10", "KES")
    AirtimeTransaction.objects.filter(pk=txn.pk).update(status=OutboundStatus.SENDING)
    validation = {
        "transactionId": "ATTx_1",
        "phoneNumber": "+254711000001",
        "sourceIpAddress": "127.0.0.1",
        "currencyCode": "KES",
        "amount": "10",
    }
    with database_unavailable():
        response = post_callback(client, "/api/airtime/validation", validation, as_json=True)
    assert response.json() == {"status": "Failed"}
    replay()
    event = AirtimeValidation.objects.get()
    assert event.decision == "Failed" and "database was unavailable" in event.reason
    txn.refresh_from_db()
    assert txn.validated_at is None  # AT was told Failed: it did not send, nothing of ours is validated
