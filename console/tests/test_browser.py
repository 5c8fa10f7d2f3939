"""The console in a real browser: headless Chromium (Selenium) against the app served by `live_server`.

Staff log in through the real login form; the dashboard's figures are read off
the page (`data-figure="..."`) after Chart.js drew its charts; an operator
composes, previews and sends an SMS that the AT simulator (in this process)
delivers, and the batch page then says so. Static files (the admin's CSS,
Chart.js, dashboard.js) come from the live server's static files handler.

The fixtures (`browser`, `page`, `staff_groups`) are in console/tests/conftest.py.
"""

import csv
import importlib
import io
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.apps import apps as django_apps
from django.contrib.auth import get_user_model
from django.utils import timezone
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from airtime.services import queue_airtime
from console import rollups
from hub.groups import OPERATORS, VIEWERS
from hub.outbound import OutboundStatus
from hub.testing import load_payload, post_callback, run_worker
from simswap.services import queue_checks
from sms.models import DeliveryReport, OutboundMessage
from sms.services import queue_sms

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WAIT = 15  # seconds, for anything the browser or the simulator does
PASSWORD = "browser-pw"


def wait_until(check, timeout=WAIT, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def staff(username, group=None, **extra):
    user = get_user_model().objects.create_user(username, f"{username}@example.com", PASSWORD, is_staff=True, **extra)
    if group is not None:
        user.groups.add(group)
    return user


def log_in(page, user):
    """Log in through /admin/login/ as a person does; ends on the dashboard."""
    page.get(page.url("/admin/login/?next=/admin/"))
    page.find_element(By.ID, "id_username").send_keys(user.username)
    page.find_element(By.ID, "id_password").send_keys(PASSWORD)
    page.find_element(By.CSS_SELECTOR, "#login-form [type=submit]").click()
    WebDriverWait(page, WAIT).until(EC.presence_of_element_located((By.ID, "dashboard")))
    assert page.current_url == page.url("/admin/")


def charts_drawn(page):
    WebDriverWait(page, WAIT).until(
        lambda d: d.find_element(By.ID, "dashboard").get_attribute("data-charts-drawn") == "2",
        "Chart.js did not draw both charts",
    )


def figure(page, name) -> str:
    return page.find_element(By.CSS_SELECTOR, f'[data-figure="{name}"]').text


def stylesheets_loaded(page) -> dict:
    """Each stylesheet the page links, and how many rules the browser read from it (0: not loaded)."""
    return page.execute_script(
        "return Object.fromEntries(Array.from(document.styleSheets).filter(s => s.href)"
        ".map(s => [new URL(s.href).pathname, s.cssRules.length]))"
    )


def sections(page) -> list[str]:
    """The index's section names, as written (the admin's CSS shows them in capitals)."""
    captions = page.find_elements(By.CSS_SELECTOR, "#content-main .module caption")
    return [e.get_attribute("textContent").strip() for e in captions]


def click_link(page, text):
    """Click the link whose text is `text` as written (not as CSS shows it: object tools are in capitals)."""
    page.find_element(By.XPATH, f"//a[normalize-space()='{text}']").click()


@pytest.fixture
def ussd_menu(transactional_db):
    """The demo menu its data migration installs (flushed by the transactional tests), which answers *384*123#."""
    importlib.import_module("ussd.migrations.0002_demo_menu").install(django_apps, None)


@pytest.fixture
def seeded(staff_groups, ussd_menu, client):
    """Today's activity: 4 SMS (2 delivered, 1 failed, 1 still queued), 2 inbound SMS, 2 USSD sessions (1 ended)."""
    batch = queue_sms(["+254711000001", "+254711000002", "+254711000003", "+254711000004"], "Hi")
    first, second, third, _queued = batch.messages.order_by("pk")
    now = timezone.now()
    OutboundMessage.objects.filter(pk__in=[first.pk, second.pk]).update(
        status=OutboundStatus.DELIVERED, submitted_at=now - timedelta(seconds=4), delivered_at=now,
        cost=Decimal("0.8"), cost_currency="KES",
    )  # fmt: skip
    OutboundMessage.objects.filter(pk=third.pk).update(status=OutboundStatus.FAILED, failure_reason="UserInBlackList")
    inbound = load_payload("sms", "inbound_message")
    for n, sender in enumerate(("+254711000001", "+254711000005")):
        response = post_callback(client, "/api/sms/twoway", {**inbound, "id": f"browser-inbound-{n}", "from": sender})
        assert response.status_code == 200
    for session, text in (("ATUid_browser_1", ""), ("ATUid_browser_2", ""), ("ATUid_browser_2", "1")):
        hop = {**load_payload("ussd", "session"), "sessionId": session, "text": text}
        assert post_callback(client, "/api/ussd/session", hop).status_code == 200
    end = {**load_payload("ussd", "end"), "sessionId": "ATUid_browser_2", "hopsCount": "2", "input": "1"}
    assert post_callback(client, "/api/ussd/status", end).status_code == 200
    rollups.refresh()
    return {
        "sms.sent": "3",  # the queued one is not sent yet
        "sms.delivered": "2",
        "sms.failed": "1",
        "sms.pending": "1",
        "sms.delivery_rate": "66.7 %",
        "inbound.received": "2",
        "ussd.sessions": "2",
    }


@pytest.mark.parametrize("group", [VIEWERS, OPERATORS])
def test_staff_log_in_and_read_todays_figures_and_charts(page, seeded, staff_groups, group):
    log_in(page, staff(f"member-of-{group.split()[-1]}", staff_groups[group]))
    assert {name: figure(page, name) for name in seeded} == seeded
    charts_drawn(page)
    sheets = stylesheets_loaded(page)
    assert sheets["/static/admin/css/base.css"] > 0 and sheets["/static/console/console.css"] > 0, sheets
    assert page.execute_script("return typeof Chart") == "function"  # Chart.js from our static files
    assert "Activity" in sections(page) and "Sending" in sections(page)
    assert "System" not in sections(page)  # superusers' internals
    assert not page.find_elements(By.CSS_SELECTOR, ".app-system")


def test_the_period_links_show_the_same_activity_over_7_and_30_days(page, seeded, staff_groups):
    log_in(page, staff("viewer", staff_groups[VIEWERS]))
    for label, period in (("7 days", "7d"), ("30 days", "30d"), ("Today", "today")):
        hours_today = {timezone.localtime().hour + 1}  # today's chart has a point per hour since midnight
        click_link(page, label)
        WebDriverWait(page, WAIT).until(EC.url_to_be(page.url(f"/admin/?period={period}")))
        selected = page.find_element(By.CSS_SELECTOR, ".console-periods a.selected")
        assert (selected.text, selected.get_attribute("aria-current")) == (label, "true")
        charts_drawn(page)
        assert {name: figure(page, name) for name in seeded} == seeded  # everything happened today
        points = page.execute_script("return JSON.parse(document.getElementById('dashboard-series').textContent)")
        hours_today.add(timezone.localtime().hour + 1)  # the page may have been drawn in the next hour
        assert len(points["labels"]) in {"today": hours_today, "7d": {7}, "30d": {30}}[period]


def test_a_superuser_sees_the_system_section(page, staff_groups):
    log_in(page, staff("root", is_superuser=True))
    charts_drawn(page)
    assert "System" in sections(page)
    system = page.find_element(By.CSS_SELECTOR, ".app-system")
    assert {"Users", "Groups"} <= {
        a.get_attribute("textContent") for a in system.find_elements(By.CSS_SELECTOR, "th a")
    }


@pytest.fixture
def simulator(live_server, settings):
    """The AT simulator in this process, calling the live server back; the project's AT_API_URL points at it."""
    from simulator.server import Options, serve

    key = "browser-simulator-key"
    server = serve(
        Options(project_url=live_server.url, token=settings.AT_WEBHOOK_TOKEN[0], api_key=key, delay=0.2,
                failure_rate=0),
        port=0,
    )  # fmt: skip
    settings.AT_API_URL = f"http://127.0.0.1:{server.server_address[1]}"
    settings.AT_API_KEY = key
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        server.RequestHandlerClass.simulator.http.close()  # its kept-alive connections hold live server threads


def test_an_operator_composes_previews_and_sends_an_sms_that_ends_delivered(page, staff_groups, simulator):
    log_in(page, staff("operator", staff_groups[OPERATORS]))
    click_link(page, "Outbound batches")
    click_link(page, "Compose SMS")
    page.find_element(By.ID, "id_numbers").send_keys("+254711000001")
    page.find_element(By.ID, "id_text").send_keys("Hello from the browser")
    page.find_element(By.CSS_SELECTOR, "input[type=submit][value=Preview]").click()

    preview = WebDriverWait(page, WAIT).until(EC.presence_of_element_located((By.CSS_SELECTOR, "#content ul")))
    lines = [li.text for li in preview.find_elements(By.TAG_NAME, "li")]
    assert "1 recipient." in lines and "Text: Hello from the browser" in lines, lines
    assert not OutboundMessage.objects.exists()  # nothing is sent before the confirmation
    page.find_element(By.CSS_SELECTOR, "input[type=submit][value='Yes, send it']").click()

    WebDriverWait(page, WAIT).until(EC.url_matches(r"/admin/sms/outboundbatch/\d+/change/$"))
    message = OutboundMessage.objects.get()
    assert page.current_url == page.url(f"/admin/sms/outboundbatch/{message.batch_id}/change/")
    assert f"Queued 1 message in batch #{message.batch_id}." in page.find_element(By.CSS_SELECTOR, ".messagelist").text

    run_worker()  # the send task: the SDK to the simulator, which then calls the live server back
    wait_until(
        lambda: (
            OutboundMessage.objects.filter(pk=message.pk, status=OutboundStatus.DELIVERED).exists()
            and DeliveryReport.objects.filter(status="Success").exists()
        ),
        what="the simulator's delivery reports",
    )
    page.refresh()
    row = page.find_element(By.XPATH, "//table//tr[td[1][normalize-space()='+254711000001']]")
    cells = [td.text for td in row.find_elements(By.TAG_NAME, "td")]
    assert cells[1] == "delivered" and cells[2].startswith("ATXid_"), cells


def test_the_timeline_of_a_number_in_local_form_lists_events_of_every_product(
    page, staff_groups, ussd_menu, client, settings
):
    settings.AT_DEFAULT_COUNTRY_CODE = "254"
    phone = "+254711000001"
    queue_sms([phone], "Hello from us")
    inbound = {**load_payload("sms", "inbound_message"), "id": "browser-timeline-in", "from": phone}
    assert post_callback(client, "/api/sms/twoway", inbound).status_code == 200
    hop = {**load_payload("ussd", "session"), "sessionId": "ATUid_browser_timeline", "phoneNumber": phone}
    assert post_callback(client, "/api/ussd/session", hop).status_code == 200
    call = {**load_payload("voice", "instruct"), "sessionId": "ATVId_browser_timeline", "callerNumber": phone}
    assert post_callback(client, "/api/voice/instruct", call).status_code == 200
    queue_airtime([phone], "10", "KES")
    queue_checks([phone])

    log_in(page, staff("viewer", staff_groups[VIEWERS]))
    page.get(page.url("/admin/phone/0711000001/"))
    rows = page.find_elements(By.CSS_SELECTOR, "#timeline tr.console-event")
    kinds = [row.get_attribute("data-kind") for row in rows]
    assert sorted(kinds) == ["airtime", "call", "sim-swap", "sms-in", "sms-out", "ussd"], kinds
    products = {row.find_element(By.CSS_SELECTOR, ".console-kind").get_attribute("textContent") for row in rows}
    assert products == {"SMS out", "SMS in", "USSD session", "Call", "Airtime", "SIM swap check"}
    assert phone in page.find_element(By.CSS_SELECTOR, ".breadcrumbs").text
    assert "Hello from us" in page.find_element(By.ID, "timeline").text


def test_a_viewer_exports_the_delivered_messages_the_dashboard_links_to(page, seeded, staff_groups):
    for old in page.download_dir.iterdir():
        old.unlink()
    log_in(page, staff("viewer", staff_groups[VIEWERS]))
    page.find_element(By.CSS_SELECTOR, '[data-figure="sms.delivered"]').click()  # the list behind the figure
    WebDriverWait(page, WAIT).until(EC.url_contains("/admin/sms/outboundmessage/?"))
    shown = {c.text for c in page.find_elements(By.CSS_SELECTOR, "#result_list tbody .field-phone")}
    page.find_element(By.CSS_SELECTOR, "a.exportlink.export-csv").click()
    download = wait_until(
        lambda: [p for p in page.download_dir.glob("*.csv")],
        what="the CSV download",
    )[0]
    rows = list(csv.DictReader(io.StringIO(download.read_text("utf-8-sig"))))
    delivered = OutboundMessage.objects.filter(status=OutboundStatus.DELIVERED).order_by("phone")
    assert sorted(r["Phone"] for r in rows) == [m.phone for m in delivered] == ["+254711000001", "+254711000002"]
    assert {r["Status"] for r in rows} == {"delivered"}
    assert shown == {"+254711000001", "+254711000002"}
