"""`manage.py backfill_inbound`: missed inbound messages from AT's inbox, stored once, auto-replies only on request."""

import pytest
import responses
from django.core.management import call_command

from sms.models import AutoReplyRule, InboundMessage, OutboundMessage

pytestmark = pytest.mark.django_db

PAGE = {
    "SMSMessageData": {
        "Messages": [
            {"linkId": "", "text": "Missed you", "to": "8995", "id": 41, "date": "2026-11-27T10:15:03Z",
             "from": "+254711000001"},
            {"linkId": "", "text": "Again", "to": "8995", "id": 42, "date": "2026-11-27T10:16:03Z",
             "from": "+254711000002"},
        ]
    }
}  # fmt: skip


def backfill(*args):
    with responses.RequestsMock() as mock:
        mock.get("http://at.stub/version1/messaging", json=PAGE)
        mock.get("http://at.stub/version1/messaging", json={"SMSMessageData": {"Messages": []}})
        call_command("backfill_inbound", *args)
        return [call.request.url for call in mock.calls]


@pytest.fixture(autouse=True)
def at_stub(settings):
    settings.AT_API_URL = "http://at.stub"
    AutoReplyRule.objects.create(keyword="", reply="Thanks!")


def test_missed_messages_are_stored_once_without_late_auto_replies():
    urls = backfill()
    assert "lastReceivedId=0" in urls[0] and "lastReceivedId=42" in urls[1]
    assert list(InboundMessage.objects.order_by("at_id").values_list("at_id", "text")) == [
        ("41", "Missed you"),
        ("42", "Again"),
    ]
    assert not OutboundMessage.objects.exists()  # hours late: no auto-reply unless asked
    backfill()
    assert InboundMessage.objects.count() == 2  # deduplicated by id


def test_auto_replies_only_when_asked():
    backfill("--auto-reply")
    assert sorted(OutboundMessage.objects.values_list("phone", "text")) == [
        ("+254711000001", "Thanks!"),
        ("+254711000002", "Thanks!"),
    ]
