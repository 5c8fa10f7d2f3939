"""`api.serializers.represent`: every object the API shows, with its children, ids, E.164 numbers and UTC times."""

import json
import re

import pytest

from airtime.models import AirtimeTransaction
from api.serializers import represent
from api.tests.seed import PHONE, seed
from simswap.models import SimSwapCheck
from sms.models import InboundMessage, OutboundBatch, OutboundMessage
from ussd.models import UssdSession
from voice.models import Call

pytestmark = pytest.mark.django_db

UTC_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


@pytest.fixture(autouse=True)
def operators(settings):
    settings.AT_DEFAULT_COUNTRY_CODE = "254"
    settings.TIME_ZONE = "Africa/Nairobi"  # times are still shown in UTC


def times_of(data: dict) -> list:
    found = []
    for key, value in data.items():
        if isinstance(value, dict):
            found += times_of(value)
        elif isinstance(value, list):
            found += [t for item in value if isinstance(item, dict) for t in times_of(item)]
        elif key.endswith("_at") and value is not None:
            found.append(value)
    return found


def test_every_object_is_a_plain_json_dict_with_its_id_kind_and_utc_times(client):
    seed(client)
    seed(client, 1)
    objects = [
        OutboundMessage.objects.earliest("pk"),
        OutboundBatch.objects.earliest("pk"),
        InboundMessage.objects.earliest("pk"),
        Call.objects.earliest("pk"),
        UssdSession.objects.earliest("pk"),
        AirtimeTransaction.objects.earliest("pk"),
        SimSwapCheck.objects.earliest("pk"),
    ]
    kinds = []
    for obj in objects:
        data = represent(obj)
        assert type(data) is dict
        assert json.loads(json.dumps(data)) == data
        assert data["id"] == obj.pk
        kinds.append(data["object"])
        times = times_of(data)
        assert times and all(UTC_TIME.match(t) for t in times), times
        if "phone" in data:
            assert data["phone"] == PHONE
    assert kinds == [
        "sms.message", "sms.batch", "sms.inbound", "voice.call", "ussd.session", "airtime.transaction",
        "simswap.check",
    ]  # fmt: skip


def test_children_come_with_their_parent_oldest_first(client):
    seed(client)
    seed(client, 1)
    message = represent(OutboundMessage.objects.get(at_message_id="ATXid_a0"))
    assert message["at_message_id"] == "ATXid_a0"
    assert [r["retry_count"] for r in message["delivery_reports"]] == [0, 1]
    session = represent(UssdSession.objects.get(session_id="ATUid_a0"))
    assert [h["input"] for h in session["hops"]] == ["", "1", "1*1", "1*1*1"]
    assert session["hops"][0]["response"].startswith(("CON", "END"))
    call = represent(Call.objects.get(session_id="ATVId_a0"))
    assert [s["type"] for s in call["timeline"]] == ["instructions", "event", "event"]
    assert call["timeline"][-1]["call_session_state"] == "s1"
    batch = represent(OutboundBatch.objects.earliest("pk"))
    assert batch["status_counts"] == {"delivered": 1}


def test_a_number_with_no_e164_form_is_shown_as_given(client):
    seed(client)
    call = Call.objects.get()
    Call.objects.filter(pk=call.pk).update(caller_number="sip:agent@example.com", phone_e164="")
    assert represent(Call.objects.get())["phone"] == "sip:agent@example.com"


def test_anything_else_is_refused():
    with pytest.raises(TypeError, match="does not show"):
        represent(object())
