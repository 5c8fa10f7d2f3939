"""The readable voice admin: outbound calls in call words, voice XML indented, costs with their currency.

- An outbound call is queued, "calling AT", placed, unknown (may have been placed), rejected or failed, never
  "delivered" or "buffered"; its list and detail show the call's own final state.
- A call that could not reach AT shows its last error and its next try.
- Voice XML (an instruction request's answer, the call's timeline, a call flow's preview) is indented and wrapped.
- Call costs and callback amounts carry their currency.
"""

from html import unescape

import pytest
import responses
from django.urls import reverse

from hub.outbound import OutboundStatus
from hub.testing import load_payload, post_callback, run_worker
from hub.tests.test_gateway import refused_connection
from voice.models import Call, OutboundCall, VoiceEvent, VoiceFlow, VoiceInstruction
from voice.services import queue_calls

pytestmark = pytest.mark.django_db

AT_CALL = "http://at.stub/call"
INDENTED_XML = '<pre class="at-xml" style="white-space:pre-wrap">'


def text_of(client, url) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return unescape(response.content.decode())


@pytest.fixture
def voice_number(settings):
    settings.AT_VOICE_NUMBER = "+254711082000"
    settings.AT_API_URL = "http://at.stub"


@pytest.mark.django_db(transaction=True)
def test_outbound_calls_speak_of_calls_and_show_the_calls_final_state(staff_client, client, voice_number):
    queue_calls(["+254711000001", "+254711000002"])
    with responses.RequestsMock() as mock:
        mock.post(
            AT_CALL,
            json={
                "entries": [
                    {"phoneNumber": "+254711000001", "status": "Queued", "sessionId": "ATVId_out1"},
                    {"phoneNumber": "+254711000002", "status": "InvalidPhoneNumber", "sessionId": "None"},
                ],
                "errorMessage": "None",
            },
        )
        run_worker()
    placed, refused = OutboundCall.objects.order_by("phone")
    assert (placed.status, refused.status) == (OutboundStatus.SUBMITTED, OutboundStatus.REJECTED)
    final = {**load_payload("voice", "event"), "sessionId": "ATVId_out1", "direction": "Outbound"}
    final.update(callerNumber="+254711000001", callSessionState="NotAnswered")
    post_callback(client, "/api/voice/events", final)

    changelist = reverse("admin:voice_outboundcall_changelist")
    listing = text_of(staff_client, changelist)
    assert ">placed<" in listing and ">rejected<" in listing
    assert "NotAnswered" in listing
    assert reverse("admin:voice_call_change", args=[placed.call_id]) in listing
    cl = staff_client.get(changelist).context["cl"]
    status_filter = next(f for f in cl.filter_specs if getattr(f, "field_path", "") == "status")
    labels = [str(c["display"]) for c in status_filter.choices(cl)]
    assert labels == ["All", "queued", "calling AT", "placed", "unknown (may have been placed)", "failed", "rejected"]
    detail = text_of(staff_client, reverse("admin:voice_outboundcall_change", args=[placed.pk]))
    assert "placed" in detail and "NotAnswered" in detail
    for sms_word in ("delivered", "buffered", "submitted"):
        assert f">{sms_word}<" not in listing and f">{sms_word}<" not in detail


@pytest.mark.django_db(transaction=True)
def test_a_call_that_could_not_reach_at_shows_its_last_error_and_next_try(staff_client, voice_number):
    queue_calls(["+254711000001"])
    with responses.RequestsMock() as mock:
        mock.post(AT_CALL, body=refused_connection(AT_CALL))
        run_worker()
    call = OutboundCall.objects.get()
    assert call.status == OutboundStatus.QUEUED and call.next_attempt_at is not None
    assert "Connection refused" in call.last_error
    listing = text_of(staff_client, reverse("admin:voice_outboundcall_changelist"))
    assert "retry at" in listing and "Connection refused" in listing
    detail = text_of(staff_client, reverse("admin:voice_outboundcall_change", args=[call.pk]))
    assert "Last error" in detail and "Connection refused" in detail


def test_voice_xml_is_shown_indented_and_wrapped(staff_client, client):
    post_callback(client, "/api/voice/instruct", load_payload("voice", "instruct"))
    instruction = VoiceInstruction.objects.get()
    assert "\n" not in instruction.response  # AT gets it on one line
    indented = "&lt;Response&gt;\n  &lt;Say&gt;Welcome to the service."
    for url in (
        reverse("admin:voice_voiceinstruction_change", args=[instruction.pk]),
        reverse("admin:voice_call_change", args=[instruction.call_id]),  # the timeline
        reverse("admin:voice_voiceflow_change", args=[VoiceFlow.objects.get(number="").pk]),  # the preview
    ):
        content = staff_client.get(url).content.decode()
        assert INDENTED_XML in content, url
        assert indented in content, url


def test_call_costs_and_callback_amounts_carry_their_currency(staff_client, client):
    post_callback(client, "/api/voice/events", load_payload("voice", "event"))
    assert "KES 1.4000" in text_of(staff_client, reverse("admin:voice_call_changelist"))
    call = Call.objects.get()
    assert "KES 1.4000" in text_of(staff_client, reverse("admin:voice_call_change", args=[call.pk]))
    event = VoiceEvent.objects.get()
    assert "KES 1.4000" in text_of(staff_client, reverse("admin:voice_voiceevent_change", args=[event.pk]))


def test_the_call_flow_editor_keeps_its_keypad_rows_small(staff_client):
    flow = VoiceFlow.objects.get(number="")
    content = staff_client.get(reverse("admin:voice_voiceflow_change", args=[flow.pk])).content.decode()
    assert 'name="options-0-text" cols="24" rows="2"' in content
