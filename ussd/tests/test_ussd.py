"""USSD: the demo menu over HTTP, menus edited in the admin, sessions, hops and end notifications."""

import logging

import pytest
from django.urls import reverse

from atproject.callbacks.models import ProcessingState
from atproject.testing import database_unavailable, load_payload, post_callback
from ussd.models import Menu, Option, Screen, UssdEnd, UssdHop, UssdSession

pytestmark = pytest.mark.django_db

SESSION_URL = "/api/ussd/session"
STATUS_URL = "/api/ussd/status"


def hop(client, text, session="ATUid_1", phone="+254711000000", service_code="*384*123#", **extra):
    payload = {
        "sessionId": session,
        "serviceCode": service_code,
        "phoneNumber": phone,
        "networkCode": "63902",
        "text": text,
        **extra,
    }
    return post_callback(client, SESSION_URL, payload)


def screen(client, text, **kwargs):
    response = hop(client, text, **kwargs)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "CON What would you want to check \n1. My Account \n2. My phone number"),
        ("1", "CON Choose account information you want to view \n1. Account number"),
        ("2", "END Your phone number is +254711000000"),
        ("1*1", "END Your account number is ACC1001"),
        ("3", "END Invalid choice"),
        ("1*2", "END Invalid choice"),
        ("2*1", "END Invalid choice"),
        ("abc", "END Invalid choice"),
    ],
)
def test_demo_menu_answers_exactly_as_the_reference_app(client, text, expected):
    assert screen(client, text) == expected


def test_the_menu_is_the_default_for_any_service_code(client):
    assert screen(client, "", service_code="*999#").startswith("CON What would you want to check")


def test_a_session_and_its_hops_are_stored(client):
    for text in ("", "1", "1*1"):
        screen(client, text)
    session = UssdSession.objects.get()
    assert (session.session_id, session.phone_number, session.service_code, session.network_code) == (
        "ATUid_1",
        "+254711000000",
        "*384*123#",
        "63902",
    )
    assert (session.hop_count, session.last_input) == (3, "1*1")
    hops = list(session.hops.order_by("pk"))
    assert [h.text for h in hops] == ["", "1", "1*1"]
    assert hops[-1].response == "END Your account number is ACC1001"
    assert all(h.duration_ms is not None and h.duration_ms < 2000 for h in hops)


def test_a_repeated_hop_gets_the_same_screen_and_adds_no_hop(client):
    first = screen(client, "1")
    again = screen(client, "1")
    assert first == again
    session = UssdSession.objects.get()
    assert session.hop_count == 1
    assert UssdHop.objects.get().times_received == 2


def test_twenty_hops_in_one_session(client):
    menu = Menu.objects.get(is_default=True)
    loop = Screen.objects.create(menu=menu, name="loop", action="CON", text="Step {input}. Any key for more")
    Option.objects.create(screen=loop, input="*", next_screen=loop)
    Option.objects.create(screen=menu.root, input="9", next_screen=loop)
    path = "9"
    for step in range(1, 20):
        assert screen(client, path) == f"CON Step {path.split('*')[-1]}. Any key for more"
        path += f"*{step}"
    assert UssdSession.objects.get().hop_count == 19
    assert screen(client, path).startswith("CON Step 19")


def test_an_edited_screen_answers_at_once(client):
    assert screen(client, "1*1") == "END Your account number is ACC1001"
    number = Screen.objects.get(name="account number")
    number.text = "Your account number is ACC2002"
    number.save()
    assert screen(client, "1*1", session="ATUid_2") == "END Your account number is ACC2002"


def test_a_menu_for_a_service_code_wins_over_the_default(client):
    menu = Menu.objects.create(name="Shop", service_code="*384*55#")
    start = Screen.objects.create(menu=menu, name="start", action="END", text="Shop closed, {phone_number}")
    menu.root = start
    menu.save()
    assert screen(client, "", service_code="*384*55#") == "END Shop closed, +254711000000"
    assert screen(client, "", session="ATUid_2").startswith("CON What would you want to check")


def test_placeholders(client):
    menu = Menu.objects.get(is_default=True)
    menu.root.text = "{phone_number} {service_code} {session_id} {network_code} [{input}] {unknown}"
    menu.root.save()
    assert screen(client, "") == "CON +254711000000 *384*123# ATUid_1 63902 [] {unknown}"


def test_a_python_screen(client):
    balance = Screen.objects.create(
        menu=Menu.objects.get(is_default=True), name="balance", handler="ussd.tests.handlers.balance"
    )
    Option.objects.create(screen=Screen.objects.get(name="start"), input="3", next_screen=balance)
    assert screen(client, "3") == "END Balance of +254711000000 after '3': KES 10.00"


@pytest.mark.parametrize("handler", ["ussd.tests.handlers.broken", "ussd.tests.handlers.not_a_screen"])
def test_an_internal_failure_is_answered_with_end(client, settings, caplog, handler):
    settings.AT_USSD_ERROR_TEXT = "Sorry, try again later."
    broken = Screen.objects.create(menu=Menu.objects.get(is_default=True), name="broken", handler=handler)
    Option.objects.create(screen=Screen.objects.get(name="start"), input="3", next_screen=broken)
    with caplog.at_level(logging.ERROR):
        assert screen(client, "3") == "END Sorry, try again later."
    stored = UssdHop.objects.get()
    assert stored.state == ProcessingState.FAILED
    assert stored.error
    assert any(r.levelno == logging.ERROR for r in caplog.records)


def test_no_menu_at_all_is_answered_with_end(client):
    Menu.objects.all().delete()
    assert screen(client, "").startswith("END Sorry")


@pytest.mark.django_db(transaction=True)
def test_database_down_is_answered_with_end(client):
    with database_unavailable():
        assert screen(client, "") == "END Sorry, the service is unavailable. Please try again later."


def test_missing_session_id_is_a_400_naming_it(client):
    response = post_callback(client, SESSION_URL, {"phoneNumber": "+254711000000", "serviceCode": "*384#"})
    assert response.status_code == 400
    assert response.json() == {"error": "missing required field 'sessionId'"}


def test_absent_text_is_the_first_hop(client):
    payload = {"sessionId": "ATUid_9", "serviceCode": "*384*123#", "phoneNumber": "+254711000000"}
    response = post_callback(client, SESSION_URL, payload)
    assert response.content.decode().startswith("CON What would you want to check")


# --- Length rules ----------------------------------------------------------------------------


def test_screen_over_182_gsm_characters_is_refused():
    menu = Menu.objects.get(is_default=True)
    ok = Screen(menu=menu, name="ok", text="a" * 182)
    ok.full_clean()
    long = Screen(menu=menu, name="long", text="a" * 183)
    with pytest.raises(Exception, match="183 characters: a USSD screen holds at most 182"):
        long.full_clean()


def test_screen_needing_ucs2_is_limited_to_91_and_names_the_characters():
    menu = Menu.objects.get(is_default=True)
    Screen(menu=menu, name="ok", text="ü" * 10 + "✓" + "a" * 80).full_clean()  # ü is GSM-7, ✓ is not
    with pytest.raises(Exception, match="92 characters with ✓ ł, which need UCS-2"):
        Screen(menu=menu, name="long", text="✓ł" + "a" * 90).full_clean()


def test_a_long_expanded_screen_is_logged_as_a_warning(client, caplog):
    root = Screen.objects.get(name="start")
    root.text = "a" * 170 + " {phone_number}"
    root.save()
    with caplog.at_level(logging.WARNING):
        answer = screen(client, "")
    assert len(answer) == 4 + 170 + 1 + 13
    assert any("too long for a phone" in r.getMessage() for r in caplog.records)


def test_admin_refuses_a_long_screen_and_previews_it(staff_client):
    root = Screen.objects.get(name="start")
    url = reverse("admin:ussd_screen_change", args=[root.pk])
    page = staff_client.get(url).content.decode()
    assert "What would you want to check \n1. My Account" in page  # the phone preview
    form = {
        "menu": root.menu_id,
        "name": "start",
        "action": "CON",
        "text": "x" * 200,
        "handler": "",
        "options-TOTAL_FORMS": "0",
        "options-INITIAL_FORMS": "0",
    }
    response = staff_client.post(url, form)
    assert response.status_code == 200
    assert "200 characters: a USSD screen holds at most 182" in response.content.decode()
    root.refresh_from_db()
    assert root.text.startswith("What would you want to check")


def test_admin_edit_changes_the_next_answer(staff_client, client):
    number = Screen.objects.get(name="account number")
    url = reverse("admin:ussd_screen_change", args=[number.pk])
    form = {
        "menu": number.menu_id,
        "name": number.name,
        "action": "END",
        "text": "Account ACC9",
        "handler": "",
        "options-TOTAL_FORMS": "0",
        "options-INITIAL_FORMS": "0",
    }
    assert staff_client.post(url, form).status_code == 302
    assert screen(client, "1*1") == "END Account ACC9"


# --- End of session ----------------------------------------------------------------------------


def test_end_notification_after_the_session(client):
    screen(client, "", session="ATUid_6f1b2e9c0a3d4e5f8a7b6c5d4e3f2a1b")
    assert post_callback(client, STATUS_URL, load_payload("ussd", "end")).status_code == 200
    session = UssdSession.objects.get()
    end = UssdEnd.objects.get()
    assert end.session == session
    assert (session.status, str(session.cost), session.cost_currency, session.duration_ms) == (
        "Success",
        "0.0500",
        "KES",
        12840,
    )
    assert session.ended_at is not None
    assert (end.hops_count, end.input, end.last_app_response) == (3, "1*1", "END Your account number is ACC1001")


def test_end_notification_before_the_session(client):
    post_callback(client, STATUS_URL, load_payload("ussd", "end"))
    session = UssdSession.objects.get()
    assert session.status == "Success"
    screen(client, "", session=session.session_id)
    session.refresh_from_db()
    assert (session.hop_count, session.status) == (1, "Success")
    assert UssdSession.objects.count() == 1


def test_end_notification_repeat_is_counted_once(client):
    post_callback(client, STATUS_URL, load_payload("ussd", "end"))
    post_callback(client, STATUS_URL, load_payload("ussd", "end"))
    assert UssdEnd.objects.get().times_received == 2


# --- Admin ----------------------------------------------------------------------------------------


def test_session_admin_shows_the_transcript(staff_client, client, django_assert_max_num_queries):
    for i in range(5):
        for text in ("", "1", "1*1"):
            screen(client, text, session=f"ATUid_{i}")
    with django_assert_max_num_queries(12):
        page = staff_client.get(reverse("admin:ussd_ussdsession_changelist"))
    assert page.status_code == 200
    session = UssdSession.objects.first()
    detail = staff_client.get(reverse("admin:ussd_ussdsession_change", args=[session.pk])).content.decode()
    assert "END Your account number is ACC1001" in detail
    assert "1*1" in detail


@pytest.mark.parametrize("model", ["menu", "screen", "ussdhop", "ussdend"])
def test_other_admin_pages_render(staff_client, client, model):
    screen(client, "")
    post_callback(client, STATUS_URL, load_payload("ussd", "end"))
    assert staff_client.get(reverse(f"admin:ussd_{model}_changelist")).status_code == 200
    obj = {"menu": Menu, "screen": Screen, "ussdhop": UssdHop, "ussdend": UssdEnd}[model].objects.first()
    assert staff_client.get(reverse(f"admin:ussd_{model}_change", args=[obj.pk])).status_code == 200
