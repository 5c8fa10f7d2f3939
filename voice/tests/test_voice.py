"""Voice: XML answers from call flows, calls built from callbacks, outbound calls."""

import xml.etree.ElementTree as ET
from decimal import Decimal
from urllib.parse import parse_qs

import pytest
import responses
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token

from atproject.callbacks.models import ProcessingState
from atproject.outbound import OutboundStatus
from atproject.testing import database_unavailable, load_payload, post_callback, run_worker
from voice.models import Call, KeyAction, KeypadOption, OutboundCall, Recording, VoiceFlow, VoiceInstruction
from voice.xml import VoiceResponse

pytestmark = pytest.mark.django_db

INSTRUCT = "/api/voice/instruct"
EVENTS = "/api/voice/events"
DEMO_XML = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Say>Welcome to the service. '
    "This is a demo voice application. Goodbye.</Say></Response>"
)


def parse(xml: str) -> ET.Element:
    assert xml.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(xml.split("?>", 1)[1])


def instruct(client, **fields):
    payload = {**load_payload("voice", "instruct"), **fields}
    return post_callback(client, INSTRUCT, payload)


# --- The XML builder ----------------------------------------------------------------------------------


def test_every_action_and_attribute():
    xml = str(
        VoiceResponse()
        .say("Hello", voice="woman", play_beep=True)
        .play("https://example.com/a.mp3")
        .get_digits(say="Press 1", num_digits=1, timeout=30, finish_on_key="#", callback_url="https://h/cb")
        .dial(
            ["+254711000001", "sip:agent@example.com"],
            record=True,
            sequential=False,
            caller_id="+254711082000",
            ring_back_tone="https://example.com/ring.mp3",
            max_duration=600,
        )
        .record(
            play="https://example.com/beep.mp3",
            finish_on_key="*",
            max_length=60,
            timeout=5,
            trim_silence=True,
            play_beep=False,
            callback_url="https://h/rec",
        )
        .enqueue(hold_music="https://example.com/hold.mp3", name="support")
        .dequeue(phone_number="+254711082000", name="support")
        .conference()
        .redirect("https://h/next")
        .reject()
    )
    root = parse(xml)
    assert [e.tag for e in root] == [
        "Say",
        "Play",
        "GetDigits",
        "Dial",
        "Record",
        "Enqueue",
        "Dequeue",
        "Conference",
        "Redirect",
        "Reject",
    ]
    say, play, digits, dial, record, enqueue, dequeue, _conference, redirect, _reject = root
    assert (say.text, say.attrib) == ("Hello", {"voice": "woman", "playBeep": "true"})
    assert play.attrib == {"url": "https://example.com/a.mp3"}
    assert digits.attrib == {"numDigits": "1", "timeout": "30", "finishOnKey": "#", "callbackUrl": "https://h/cb"}
    assert digits[0].tag == "Say" and digits[0].text == "Press 1"
    assert dial.attrib == {
        "phoneNumbers": "+254711000001,sip:agent@example.com",
        "record": "true",
        "sequential": "false",
        "callerId": "+254711082000",
        "ringBackTone": "https://example.com/ring.mp3",
        "maxDuration": "600",
    }
    assert record.attrib == {
        "finishOnKey": "*",
        "maxLength": "60",
        "timeout": "5",
        "trimSilence": "true",
        "playBeep": "false",
        "callbackUrl": "https://h/rec",
    }
    assert record[0].tag == "Play"
    assert enqueue.attrib == {"holdMusic": "https://example.com/hold.mp3", "name": "support"}
    assert dequeue.attrib == {"phoneNumber": "+254711082000", "name": "support"}
    assert redirect.text == "https://h/next"


def test_text_and_attributes_are_escaped():
    xml = str(VoiceResponse().say('Tom & "Jerry" <b>\x00\x07</b>').play("https://h/a?x=1&y=<2>"))
    root = parse(xml)
    assert root[0].text == 'Tom & "Jerry" <b></b>'  # control characters dropped: XML cannot carry them
    assert root[1].attrib["url"] == "https://h/a?x=1&y=<2>"
    assert "&amp;" in xml and "&lt;b&gt;" in xml


# --- Answers ----------------------------------------------------------------------------------------------


def test_default_greeting_is_the_reference_apps(client):
    response = instruct(client)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain"
    assert response.content.decode() == DEMO_XML


def test_content_type_by_setting(client, settings):
    settings.AT_VOICE_CONTENT_TYPE = "application/xml"
    assert instruct(client)["Content-Type"] == "application/xml"


def test_an_edited_greeting_answers_at_once(client):
    VoiceFlow.objects.filter(number="").update(greeting="Karibu!")
    assert parse(instruct(client).content.decode())[0].text == "Karibu!"


@pytest.fixture
def keypad():
    flow = VoiceFlow.objects.create(
        number="+254711082000", greeting="Welcome to Acme.", menu_prompt="Press 1 or 2.", voice="woman"
    )
    KeypadOption.objects.create(flow=flow, digits="1", action=KeyAction.SAY, text="Our hours are 8 to 5.")
    KeypadOption.objects.create(
        flow=flow, digits="2", action=KeyAction.VOICEMAIL, text="Leave a message.", max_length=60
    )
    KeypadOption.objects.create(
        flow=flow, digits="3", action=KeyAction.DIAL, dial_numbers="+254711000009, sip:a@b", record_calls=True
    )
    KeypadOption.objects.create(flow=flow, digits="4", action=KeyAction.PLAY, audio_url="https://h/song.mp3")
    KeypadOption.objects.create(flow=flow, digits="5", action=KeyAction.HANG_UP, text="Bye.")
    return flow


def test_keypad_menu_greets_then_waits_for_a_key(client, keypad):
    root = parse(instruct(client).content.decode())
    assert [e.tag for e in root] == ["Say", "GetDigits", "Say"]
    assert root[0].text == "Welcome to Acme."
    assert root[1].attrib == {"numDigits": "1", "timeout": "10"}
    assert root[1][0].text == "Press 1 or 2." and root[1][0].attrib == {"voice": "woman"}
    assert root[2].text == "We did not get your choice. Goodbye."


@pytest.mark.parametrize(
    ("digit", "tags", "check"),
    [
        ("1", ["Say"], lambda r: r[0].text == "Our hours are 8 to 5."),
        ("2", ["Record"], lambda r: r[0].attrib["maxLength"] == "60" and r[0][0].text == "Leave a message."),
        (
            "3",
            ["Dial"],
            lambda r: r[0].attrib == {"phoneNumbers": "+254711000009,sip:a@b", "record": "true", "sequential": "true"},
        ),
        ("4", ["Play"], lambda r: r[0].attrib["url"] == "https://h/song.mp3"),
        ("5", ["Say"], lambda r: r[0].text == "Bye."),
        ("9", ["Say", "GetDigits", "Say"], lambda r: r[0].text == "Invalid choice."),
    ],
)
def test_each_key_action(client, keypad, digit, tags, check):
    instruct(client)
    root = parse(instruct(client, dtmfDigits=digit).content.decode())
    assert [e.tag for e in root] == tags
    assert check(root)
    assert Call.objects.get().dtmf_digits == digit


def test_voicemail_is_recorded_and_findable(client, keypad):
    instruct(client)
    instruct(client, dtmfDigits="2")
    thanks = parse(instruct(client, recordingUrl="https://rec.example/v1.mp3").content.decode())
    assert thanks[0].text == "Thank you, your message has been recorded. Goodbye."
    recording = Recording.objects.get()
    assert (recording.url, recording.kind, recording.call.caller_number) == (
        "https://rec.example/v1.mp3",
        "voicemail",
        "+254711000000",
    )


def test_call_is_built_from_its_callbacks(client):
    instruct(client)
    assert post_callback(client, EVENTS, load_payload("voice", "event")).status_code == 200
    call = Call.objects.get()
    assert (call.direction, call.caller_number, call.destination_number, call.phone_e164) == (
        "Inbound",
        "+254711000000",
        "+254711082000",
        "+254711000000",
    )
    assert (call.state, call.hangup_cause, call.duration_seconds) == ("Completed", "NORMAL_CLEARING", 42)
    assert (call.cost, call.cost_currency) == (Decimal("1.4000"), "KES")
    assert call.ended_at is not None
    assert call.instructions.count() == 1 and call.events.count() == 1


def test_final_instruct_request_gets_an_empty_200(client):
    instruct(client)
    response = post_callback(client, INSTRUCT, load_payload("voice", "event"))
    assert (response.status_code, response.content) == (200, b"")
    assert Call.objects.get().state == "Completed"


@pytest.mark.parametrize("caller", ["sip:agent@acme.example", "anonymous", ""])
def test_sip_or_withheld_callers(client, caller):
    assert instruct(client, callerNumber=caller).content.decode() == DEMO_XML
    call = Call.objects.get()
    assert (call.caller_number, call.phone_e164) == (caller, "")


def test_repeated_instruction_request_gets_the_same_xml(client):
    first = instruct(client).content
    VoiceFlow.objects.filter(number="").update(greeting="Changed")
    assert instruct(client).content == first
    assert VoiceInstruction.objects.get().times_received == 2


def test_internal_failure_is_answered_with_an_apology(client, settings):
    from atproject.testing import table_refuses

    settings.AT_VOICE_ERROR_TEXT = "Sorry, call later."
    with table_refuses("voice_call"):
        response = instruct(client)
    assert parse(response.content.decode())[0].text == "Sorry, call later."
    assert VoiceInstruction.objects.get().state == ProcessingState.FAILED


@pytest.mark.django_db(transaction=True)
def test_database_down_is_answered_with_an_apology(client):
    with database_unavailable():
        response = instruct(client)
    assert response.status_code == 200
    assert "Sorry" in parse(response.content.decode())[0].text


def test_missing_session_id_is_400(client):
    response = post_callback(client, INSTRUCT, {"isActive": "1"})
    assert response.json() == {"error": "missing required field 'sessionId'"}


# --- Outbound calls ----------------------------------------------------------------------------------------


@pytest.fixture
def caller_api(django_user_model):
    user = django_user_model.objects.create_user("dialler", password="pw")
    user.user_permissions.add(Permission.objects.get(codename="add_outboundcall"))
    return Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")


@pytest.mark.django_db(transaction=True)
def test_invoke_call_queues_then_the_worker_calls_at(caller_api, settings):
    settings.AT_VOICE_NUMBER = "+254711082000"
    settings.AT_API_URL = "http://at.stub"
    response = caller_api.get("/api/voice/invoke-call", {"phone": "254711000001,+254711000002"})
    assert response.status_code == 202
    assert response.json()["message"] == "Call queued for 2 recipient(s)"
    assert set(OutboundCall.objects.values_list("status", flat=True)) == {OutboundStatus.QUEUED}
    with responses.RequestsMock() as mock:
        mock.post(
            "http://at.stub/call",
            json={
                "entries": [
                    {"phoneNumber": "+254711000001", "status": "Queued", "sessionId": "ATVId_out1"},
                    {"phoneNumber": "+254711000002", "status": "InvalidPhoneNumber", "sessionId": "None"},
                ],
                "errorMessage": "None",
            },
        )
        run_worker()
        sent = parse_qs(mock.calls[0].request.body)
    assert sent["from"] == ["+254711082000"] and sent["to"] == ["+254711000001,+254711000002"]
    ok, refused = OutboundCall.objects.order_by("pk")
    assert (ok.status, ok.at_status, ok.at_session_id) == (OutboundStatus.SUBMITTED, "Queued", "ATVId_out1")
    assert ok.call.direction == "Outbound" and ok.call.destination_number == "+254711000001"
    assert (refused.status, refused.failure_reason) == (OutboundStatus.REJECTED, "InvalidPhoneNumber")


def test_invoke_call_needs_the_voice_number(caller_api, settings):
    settings.AT_VOICE_NUMBER = ""
    response = caller_api.get("/api/voice/invoke-call", {"phone": "+254711000001"})
    assert response.status_code == 400
    assert "AT_VOICE_NUMBER" in response.json()["error"]


def test_invoke_call_needs_its_permission(django_user_model, settings):
    settings.AT_VOICE_NUMBER = "+254711082000"
    user = django_user_model.objects.create_user("nobody", password="pw")
    api = Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    assert api.get("/api/voice/invoke-call", {"phone": "+254711000001"}).status_code == 403
    assert not OutboundCall.objects.exists()


# --- Admin ----------------------------------------------------------------------------------------------------


def test_call_back_from_calls_and_inbound_messages(staff_client, client, settings):
    settings.AT_VOICE_NUMBER = "+254711082000"
    instruct(client)
    post_callback(client, "/api/sms/twoway", load_payload("sms", "inbound_message"))
    call = Call.objects.get()
    url = reverse("admin:voice_call_changelist")
    page = staff_client.post(url, {"action": "call_back", "_selected_action": [call.pk]})
    assert "Call these numbers back?" in page.content.decode()
    assert not OutboundCall.objects.exists()
    staff_client.post(url, {"action": "call_back", "_selected_action": [call.pk], "confirm": "yes"})
    from sms.models import InboundMessage

    inbound = InboundMessage.objects.get()
    staff_client.post(
        reverse("admin:sms_inboundmessage_changelist"),
        {"action": "call_back", "_selected_action": [inbound.pk], "confirm": "yes"},
    )
    assert list(OutboundCall.objects.order_by("pk").values_list("phone", "requested_by__username")) == [
        ("+254711000000", "admin"),
        ("+254711000001", "admin"),
    ]


def test_call_back_is_not_offered_without_permission(client, django_user_model):
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_call"))
    post_callback(client, INSTRUCT, load_payload("voice", "instruct"))
    client.force_login(viewer)
    page = client.get(reverse("admin:voice_call_changelist"))
    assert page.context["action_form"] is None
    client.post(
        reverse("admin:voice_call_changelist"),
        {"action": "call_back", "_selected_action": [Call.objects.get().pk], "confirm": "yes"},
    )
    assert not OutboundCall.objects.exists()


def test_call_page_shows_timeline_and_playable_recordings(staff_client, client, keypad, django_assert_max_num_queries):
    instruct(client)
    instruct(client, dtmfDigits="2")
    instruct(client, recordingUrl="https://rec.example/v1.mp3")
    post_callback(client, EVENTS, load_payload("voice", "event"))
    with django_assert_max_num_queries(10):
        assert staff_client.get(reverse("admin:voice_call_changelist")).status_code == 200
    detail = staff_client.get(reverse("admin:voice_call_change", args=[Call.objects.get().pk])).content.decode()
    assert "keys 2" in detail and "Completed" in detail
    assert '<audio controls preload="none" src="https://rec.example/v1.mp3">' in detail
    voicemails = staff_client.get(reverse("admin:voice_recording_changelist"), {"kind__exact": "voicemail"})
    assert voicemails.context["cl"].result_count == 1


@pytest.mark.parametrize("model", ["voiceflow", "voiceinstruction", "voiceevent", "outboundcall"])
def test_other_admin_pages_render(staff_client, client, model, settings):
    settings.AT_VOICE_NUMBER = "+254711082000"
    instruct(client)
    post_callback(client, EVENTS, load_payload("voice", "event"))
    from voice.services import queue_calls

    queue_calls(["+254711000001"])
    assert staff_client.get(reverse(f"admin:voice_{model}_changelist")).status_code == 200
    from django.apps import apps

    obj = apps.get_model("voice", model).objects.first()
    page = staff_client.get(reverse(f"admin:voice_{model}_change", args=[obj.pk]))
    assert page.status_code == 200
    if model == "voiceflow":
        assert "This is a demo voice application" in page.content.decode()  # the XML preview
