"""USSD: the demo menu over HTTP, menus edited in the admin, sessions, hops and end notifications."""

import logging
import os
import re
import sys
import threading
import time
import uuid

import pytest
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import connection
from django.test import modify_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from hub.callbacks.models import ProcessingState
from hub.testing import database_unavailable, load_payload, post_callback
from ussd import handlers, menus
from ussd.models import Menu, Option, Screen, UssdEnd, UssdHop, UssdSession
from ussd.tests import handlers as test_handlers  # registers the tests' handlers

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


def python_screen(handler: str, name: str = "python", input: str = "3") -> Screen:
    """A screen of the demo menu answered by `handler` (stored as is, as if saved before), reached with `input`."""
    python = Screen.objects.create(menu=Menu.objects.get(is_default=True), name=name, handler=handler)
    Option.objects.create(screen=Screen.objects.get(name="start"), input=input, next_screen=python)
    return python


def test_a_python_screen(client):
    python_screen("ussd.tests.handlers.balance")  # registered under its dotted path by default
    assert screen(client, "3") == "END Balance of +254711000000 after '3': KES 10.00"


def test_a_handler_registered_under_a_name(client):
    python_screen("greeting", name="hello")
    assert screen(client, "3") == "END Hello from hello"


@pytest.mark.parametrize(
    ("handler", "error"),
    [
        ("broken", "raised RuntimeError: the balance service is down"),
        ("not_a_screen", "must return 'CON ...' or 'END ...', not 'Bala'..."),
        ("not_text", "must return 'CON ...' or 'END ...', not int"),
        ("exits", "raised SystemExit: 3"),
    ],
)
def test_an_internal_failure_is_answered_with_end(client, settings, caplog, handler, error):
    settings.AT_USSD_ERROR_TEXT = "Sorry, try again later."
    python_screen(f"ussd.tests.handlers.{handler}")
    with caplog.at_level(logging.ERROR):
        assert screen(client, "3") == "END Sorry, try again later."
    stored = UssdHop.objects.get()
    assert stored.state == ProcessingState.FAILED
    assert stored.error == f"ScreenHandlerError: handler ussd.tests.handlers.{handler} {error}"
    assert "+254711000000" not in stored.error
    assert any(r.levelno == logging.ERROR for r in caplog.records)


def test_a_handler_calling_sys_exit_gets_the_apology_and_the_process_lives_on(client, settings):
    settings.AT_USSD_ERROR_TEXT = "Sorry, try again later."
    pid = os.getpid()
    python_screen("ussd.tests.handlers.exits")
    assert screen(client, "3") == "END Sorry, try again later."
    stored = UssdHop.objects.get()
    assert (stored.state, stored.response) == (ProcessingState.FAILED, "")
    assert "SystemExit" in stored.error
    assert os.getpid() == pid  # still here, answering
    assert screen(client, "1", session="ATUid_2").startswith("CON Choose account information")


def test_a_handler_that_is_not_registered_is_never_imported_nor_run(client, settings):
    settings.AT_USSD_ERROR_TEXT = "Sorry, try again later."
    python_screen("ussd.tests.handlers.not_registered")
    python_screen("ussd.tests.never_imported.run", name="other", input="4")
    assert screen(client, "3") == "END Sorry, try again later."
    assert screen(client, "4", session="ATUid_2") == "END Sorry, try again later."
    assert test_handlers.CALLED == []
    assert "ussd.tests.never_imported" not in sys.modules
    errors = sorted(UssdHop.objects.values_list("state", "error"))
    assert errors == [
        (ProcessingState.FAILED, "ScreenHandlerError: handler ussd.tests.handlers.not_registered is not registered"),
        (ProcessingState.FAILED, "ScreenHandlerError: handler ussd.tests.never_imported.run is not registered"),
    ]


def test_a_screen_naming_an_unregistered_handler_is_refused():
    menu = Menu.objects.get(is_default=True)
    Screen(menu=menu, name="ok", handler="ussd.tests.handlers.balance").full_clean()
    with pytest.raises(ValidationError) as refused:
        Screen(menu=menu, name="bad", handler="ussd.tests.never_imported.run").full_clean()
    assert refused.value.message_dict == {
        "handler": ["ussd.tests.never_imported.run is not a registered screen handler: pick one from the list."]
    }
    assert "ussd.tests.never_imported" not in sys.modules


def test_a_name_taken_by_another_function_is_refused():
    with pytest.raises(ImproperlyConfigured, match=r"'greeting' is taken by ussd\.tests\.handlers\.greet"):
        handlers.screen_handler(name="greeting")(lambda hop: "END other")
    assert handlers.registered("greeting").function is test_handlers.greet


def test_an_apps_ussd_handlers_module_registers_its_handlers_at_start_up(client):
    name = "ussd.tests.discovery.ussd_handlers.hello"
    assert handlers.registered(name) is None
    with modify_settings(INSTALLED_APPS={"append": "ussd.tests.discovery"}):  # the apps start again, with it
        assert handlers.registered(name).label == "Discovered"
    python_screen(name)
    assert screen(client, "3") == "END Found at start-up"


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


def screen_form(screen, **changes):
    form = {
        "menu": screen.menu_id,
        "name": screen.name,
        "action": screen.action,
        "text": screen.text,
        "handler": screen.handler,
        "options-TOTAL_FORMS": "0",
        "options-INITIAL_FORMS": "0",
    }
    return {**form, **changes}


def test_admin_offers_the_registered_handlers_only(staff_client):
    start = Screen.objects.get(name="start")
    url = reverse("admin:ussd_screen_change", args=[start.pk])
    page = staff_client.get(url).content.decode()
    select = re.search(r'<select name="handler"[^>]*>(.*?)</select>', page, re.S).group(1)
    assert '<option value="" selected>— none: show the text —</option>' in select
    assert '<option value="ussd.tests.handlers.balance">Account balance</option>' in select
    assert '<option value="greeting">Greeting</option>' in select
    assert "not_registered" not in select

    refused = staff_client.post(url, screen_form(start, handler="ussd.tests.never_imported.run"))
    assert refused.status_code == 200
    assert "Select a valid choice" in refused.content.decode()
    assert "ussd.tests.never_imported" not in sys.modules

    assert staff_client.post(url, screen_form(start, handler="ussd.tests.handlers.balance")).status_code == 302
    start.refresh_from_db()
    assert start.handler == "ussd.tests.handlers.balance"


def test_admin_shows_a_handler_no_longer_registered_and_refuses_to_save_it(staff_client):
    stale = python_screen("ussd.tests.handlers.not_registered")
    url = reverse("admin:ussd_screen_change", args=[stale.pk])
    page = staff_client.get(url).content.decode()
    assert (
        '<option value="ussd.tests.handlers.not_registered" selected>'
        "ussd.tests.handlers.not_registered (not registered)</option>"
    ) in page
    response = staff_client.post(url, screen_form(stale, text="Changed"))
    assert response.status_code == 200
    assert "ussd.tests.handlers.not_registered is not a registered screen handler" in response.content.decode()
    assert staff_client.post(url, screen_form(stale, text="Changed", handler="")).status_code == 302
    stale.refresh_from_db()
    assert (stale.text, stale.handler) == ("Changed", "")


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


def menu_of(screens: int, options: int = 2) -> Menu:
    """A menu of `screens` screens, each with `options` options."""
    menu = Menu.objects.create(name=f"Menu of {screens} screens of {options} options")
    made = [Screen.objects.create(menu=menu, name=f"screen {i}", text=f"Screen {i}") for i in range(screens)]
    for i, each in enumerate(made):
        for choice in range(1, options + 1):
            Option.objects.create(screen=each, input=str(choice), next_screen=made[(i + choice) % screens])
    menu.root, menu.invalid = made[0], made[-1]
    menu.save()
    return menu


def queries_for(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def warm_up(client, *urls):
    """Each page once first: what a process reads once (content types) is not counted."""
    for url in urls:
        assert client.get(url).status_code == 200


def test_menu_page_queries_do_not_grow_with_its_screens(staff_client):
    small, large = (reverse("admin:ussd_menu_change", args=[menu_of(n).pk]) for n in (5, 10))
    warm_up(staff_client, small)
    assert queries_for(staff_client, small) == queries_for(staff_client, large)


def test_screen_page_queries_do_not_grow_with_its_options(staff_client):
    small, large = (reverse("admin:ussd_screen_change", args=[menu_of(12, options=n).root_id]) for n in (5, 10))
    warm_up(staff_client, small)
    assert queries_for(staff_client, small) == queries_for(staff_client, large)


def test_session_page_and_callback_lists_queries_do_not_grow_with_their_rows(staff_client, client):
    def session_of(hops: int, session: str) -> UssdSession:
        for step in range(hops):
            screen(client, "*".join(["1"] * step), session=session)
        end = load_payload("ussd", "end")
        post_callback(client, STATUS_URL, {**end, "sessionId": session})
        return UssdSession.objects.get(session_id=session)

    def pages(session):
        return [
            reverse("admin:ussd_ussdsession_change", args=[session.pk]),
            reverse("admin:ussd_ussdhop_changelist"),
            reverse("admin:ussd_ussdend_changelist"),
        ]

    small = session_of(3, "ATUid_small")
    warm_up(staff_client, *pages(small))
    counts = [queries_for(staff_client, url) for url in pages(small)]
    large = session_of(6, "ATUid_large")
    for other in range(3):
        session_of(3, f"ATUid_other{other}")
    assert large.hops.count() == 2 * small.hops.count()
    assert [queries_for(staff_client, url) for url in pages(large)] == counts


def test_menu_page_links_each_screen_to_its_page(staff_client):
    menu = Menu.objects.get(is_default=True)
    page = staff_client.get(reverse("admin:ussd_menu_change", args=[menu.pk])).content.decode()
    start = Screen.objects.get(name="start")
    assert f'1 → account, 2 → phone number <a href="{reverse("admin:ussd_screen_change", args=[start.pk])}">' in page
    assert "../../screen/" not in page


# --- The menu cache, shared by a process's threads ------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_threads_read_menus_while_they_change():
    """Gunicorn's threads share a process's menus: every answer right and nothing raises, however they interleave."""
    shops = []
    for number in range(200):
        menu = Menu.objects.create(name=f"Shop {number}", service_code=f"*500*{number}#")
        menu.root = Screen.objects.create(menu=menu, name="start", action="END", text=f"Shop {number}, edit 0")
        menu.save()
        shops.append(menu)
    stop = threading.Event()
    failures, answers = [], []

    def caller(offset):
        try:
            while True:  # every menu once at least, then again until the edits stop
                for step in range(len(shops)):
                    number = (offset + step) % len(shops)
                    try:
                        loaded = menus.menu_for(f"*500*{number}#")
                        text = loaded.screens[loaded.root].text
                    except Exception as exc:  # any failure in a thread fails the test
                        failures.append(f"{type(exc).__name__}: {exc}")
                        continue
                    answers.append(text)
                    if not re.fullmatch(rf"Shop {number}, edit \d+", text):
                        failures.append(f"*500*{number}# answered {text!r}")
                if stop.is_set():
                    return
        finally:
            connection.close()

    threads = [threading.Thread(target=caller, args=(7 * n,)) for n in range(8)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # threads switch often, in the middle of anything
    started, edits = time.monotonic(), 0
    try:
        for thread in threads:
            thread.start()
        while time.monotonic() - started < 3:
            edits += 1
            if edits % 10 == 0:
                number = edits % len(shops)
                shops[number].root.text = f"Shop {number}, edit {edits}"
                shops[number].root.save()  # a new version of that menu
            else:
                Menu.objects.update(version=uuid.uuid4())  # of every menu: every thread loads them again
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        sys.setswitchinterval(interval)
    assert failures == []
    assert len(answers) >= len(threads) * len(shops)
    assert len(set(answers)) > len(shops)  # the threads read the menus while they changed
    latest = {shop.pk: shop.root.text for shop in shops}
    assert {m.pk: menus.menu_for(m.service_code).screens[m.root_id].text for m in shops} == latest
