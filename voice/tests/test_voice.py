"""Voice: XML answers from call flows, calls built from callbacks, outbound calls."""

import re
import xml.etree.ElementTree as ET
from decimal import Decimal
from html.parser import HTMLParser
from urllib.parse import parse_qs

import pytest
import responses
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token

from hub.callbacks.models import ProcessingState
from hub.outbound import OutboundStatus
from hub.testing import database_unavailable, load_payload, post_callback, run_worker
from voice.admin import web_url
from voice.models import (
    Call,
    KeyAction,
    KeypadOption,
    OutboundCall,
    Recording,
    VoiceEvent,
    VoiceFlow,
    VoiceInstruction,
)
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
    from hub.testing import table_refuses

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


@pytest.mark.parametrize("path", [EVENTS, INSTRUCT])
def test_a_cost_with_many_decimals_ends_the_call_rounded_to_four(client, path):
    """AT's final notification may carry a cost such as 0.408333333333333345."""
    instruct(client)
    response = post_callback(client, path, {**load_payload("voice", "event"), "amount": "0.408333333333333345"})
    assert response.status_code == 200
    model = VoiceEvent if path == EVENTS else VoiceInstruction
    final = model.objects.get(is_active=False)
    assert (final.state, final.error) == (ProcessingState.PROCESSED, "")
    call = Call.objects.get()
    assert (call.state, call.duration_seconds, call.cost, call.cost_currency) == (
        "Completed",
        42,
        Decimal("0.4083"),
        "KES",
    )
    assert call.ended_at is not None


# --- Numbers: callerNumber is the subscriber, destinationNumber our AT number, both ways ----------------------


def test_an_outbound_call_we_did_not_place_reads_the_numbers_as_at_sends_them(client, staff_client, keypad, settings):
    """A call placed from AT's dashboard (no OutboundCall of ours): the subscriber is AT's callerNumber."""
    settings.AT_VOICE_NUMBER = "+254711082000"
    response = post_callback(client, INSTRUCT, load_payload("voice", "outbound_instruct"))
    assert parse(response.content.decode())[0].text == "Welcome to Acme."  # the flow of our number
    call = Call.objects.get()
    assert (call.direction, call.caller_number, call.phone_e164, call.our_number) == (
        "Outbound",
        "+254722000003",
        "+254722000003",
        "+254711082000",
    )
    assert str(call) == "Outbound +254711082000 → +254722000003"
    staff_client.post(
        reverse("admin:voice_call_changelist"),
        {"action": "call_back", "_selected_action": [call.pk], "confirm": "yes"},
    )
    assert list(OutboundCall.objects.values_list("phone", "from_number")) == [("+254722000003", "+254711082000")]


@pytest.mark.django_db(transaction=True)
def test_a_call_we_placed_then_reported_by_at_is_one_call_with_the_subscriber(client, keypad, settings):
    settings.AT_VOICE_NUMBER = "+254711082000"
    settings.AT_API_URL = "http://at.stub"
    from voice.services import queue_calls

    queue_calls(["+254722000003"])
    with responses.RequestsMock() as mock:
        mock.post(
            "http://at.stub/call",
            json={
                "entries": [{"phoneNumber": "+254722000003", "status": "Queued", "sessionId": "ATVId_placed"}],
                "errorMessage": "None",
            },
        )
        run_worker()
    reported = {**load_payload("voice", "outbound_instruct"), "sessionId": "ATVId_placed"}
    answer = post_callback(client, INSTRUCT, reported)
    assert parse(answer.content.decode())[0].text == "Welcome to Acme."
    final = {
        **load_payload("voice", "event"),
        "sessionId": "ATVId_placed",
        "direction": "Outbound",
        "callerNumber": "+254722000003",
        "destinationNumber": "+254711082000",
    }
    assert post_callback(client, EVENTS, final).status_code == 200
    call = Call.objects.get()
    assert (call.session_id, call.caller_number, call.destination_number, call.phone_e164, call.our_number) == (
        "ATVId_placed",
        "+254722000003",
        "+254711082000",
        "+254722000003",
        "+254711082000",
    )
    assert (call.state, call.instructions.count(), call.events.count()) == ("Completed", 1, 1)
    assert OutboundCall.objects.get().call == call


def test_the_numbers_migration_rewrites_calls_stored_the_old_way():
    """Stored outbound calls had our number as caller (placed by us) or as the E.164 subscriber (AT's)."""
    import importlib

    from django.apps import apps
    from django.utils import timezone

    now = timezone.now()
    placed = Call.objects.create(
        session_id="ATVId_placed",
        direction="Outbound",
        caller_number="+254711082000",
        destination_number="+254711000001",
        phone_e164="+254711000001",
        started_at=now,
    )
    OutboundCall.objects.create(phone="+254711000001", from_number="+254711082000", call=placed)
    dashboard = Call.objects.create(
        session_id="ATVId_dashboard",
        direction="Outbound",
        caller_number="+254711000005",
        destination_number="+254711082000",
        phone_e164="+254711082000",
        started_at=now,
    )
    inbound = Call.objects.create(
        session_id="ATVId_in",
        direction="Inbound",
        caller_number="+254711000000",
        destination_number="+254711082000",
        phone_e164="+254711000000",
        started_at=now,
    )
    sip = Call.objects.create(
        session_id="ATVId_sip",
        direction="Inbound",
        caller_number="sip:agent@acme.example",
        destination_number="+254711082000",
        started_at=now,
    )
    migration = importlib.import_module("voice.migrations.0005_numbers_as_at_sends_them")
    migration.recompute_numbers(apps, None)
    rows = {
        c.session_id: (c.caller_number, c.destination_number, c.phone_e164)
        for c in Call.objects.filter(pk__in=[placed.pk, dashboard.pk, inbound.pk, sip.pk])
    }
    assert rows == {
        "ATVId_placed": ("+254711000001", "+254711082000", "+254711000001"),
        "ATVId_dashboard": ("+254711000005", "+254711082000", "+254711000005"),
        "ATVId_in": ("+254711000000", "+254711082000", "+254711000000"),
        "ATVId_sip": ("sip:agent@acme.example", "+254711082000", ""),
    }


# --- Outbound calls ----------------------------------------------------------------------------------------


@pytest.fixture
def caller_api(django_user_model):
    user = django_user_model.objects.create_user("dialler", password="pw", is_staff=True)
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
    assert (ok.call.direction, ok.call.caller_number, ok.call.destination_number, ok.call.phone_e164) == (
        "Outbound",
        "+254711000001",
        "+254711082000",
        "+254711000001",
    )
    assert (refused.status, refused.failure_reason) == (OutboundStatus.REJECTED, "InvalidPhoneNumber")


def test_invoke_call_needs_the_voice_number(caller_api, settings):
    settings.AT_VOICE_NUMBER = ""
    response = caller_api.get("/api/voice/invoke-call", {"phone": "+254711000001"})
    assert response.status_code == 400
    assert "AT_VOICE_NUMBER" in response.json()["error"]


def test_invoke_call_needs_its_permission(django_user_model, settings):
    settings.AT_VOICE_NUMBER = "+254711082000"
    user = django_user_model.objects.create_user("nobody", password="pw", is_staff=True)
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


@pytest.mark.parametrize(
    "url",
    [
        "https://rec.example/v1.mp3",
        " https://rec.example/v1.mp3\n",
        "HTTP://rec.example:8080/a/b.wav?x=1&y=2",
    ],
)
def test_web_addresses_are_links(url):
    assert web_url(url) == url.strip()


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(document.cookie)",
        "  JavaScript:alert(document.cookie)",
        "\x01javascript:alert(1)",
        "java\nscript:alert(1)",
        "java\tscript:alert(1)",
        "https://rec.example/a b.mp3",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        "vbscript:msgbox(1)",
        "//evil.example/x.mp3",
        "/recordings/x.mp3",
        "https:evil.example",
        "https://",
        "https://[::1",
        "ftp://rec.example/x.mp3",
        "",
        None,
    ],
)
def test_anything_else_is_not_a_web_address(url):
    assert web_url(url) is None


class Links(HTMLParser):
    """Every href and src attribute value of a page."""

    def __init__(self, page: str):
        super().__init__()
        self.values = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.values += [value or "" for name, value in attrs if name in ("href", "src")]


@pytest.mark.parametrize(
    "bad",
    [
        "javascript:alert(document.cookie)",
        "  JavaScript:alert(document.cookie)",
        "\x01javascript:alert(document.cookie)",
        "java\nscript:alert(document.cookie)",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        "vbscript:msgbox(document.cookie)",
        "//evil.example/x.mp3",
    ],
)
def test_a_recording_url_that_is_not_a_web_address_is_never_a_link(staff_client, client, bad):
    instruct(client)
    assert instruct(client, recordingUrl=bad).status_code == 200
    instruct(client, recordingUrl="https://rec.example/ok.mp3")
    call = Call.objects.get()
    assert call.recordings.count() == 2
    recording = call.recordings.exclude(url="https://rec.example/ok.mp3").get()
    instruction = call.instructions.exclude(recording_url__in=["", "https://rec.example/ok.mp3"]).get()
    pages = {
        "recordings": reverse("admin:voice_recording_changelist"),
        "call": reverse("admin:voice_call_change", args=[call.pk]),
        "recording": reverse("admin:voice_recording_change", args=[recording.pk]),
        "instruction": reverse("admin:voice_voiceinstruction_change", args=[instruction.pk]),
    }
    for name, url in pages.items():
        page = staff_client.get(url)
        assert page.status_code == 200, name
        text = page.content.decode()
        assert not re.search(r"(href|src)\s*=\s*[\"']?\s*(javascript|data|vbscript):", text, re.IGNORECASE), name
        for value in Links(text).values:
            squeezed = re.sub(r"[\x00-\x20]", "", value).lower()
            assert not squeezed.startswith(("javascript:", "data:", "vbscript:", "//evil")), (name, value)
            assert "evil.example" not in value, (name, value)
    for name in ("recordings", "call"):
        text = staff_client.get(pages[name]).content.decode()
        assert '<audio controls preload="none" src="https://rec.example/ok.mp3">' in text, name
        assert '<a href="https://rec.example/ok.mp3">' in text, name
        assert "not a web address" in text, name


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
