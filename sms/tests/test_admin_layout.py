"""Every admin list and detail page fits a 1366-px laptop: nothing scrolls sideways, in a real browser.

Headless Chromium (Debian's chromium and chromium-driver) opens each page of
every registered admin, with the rows of the admin query test, as a superuser
(every column, every action, the navigation sidebar open): the page may not be
wider than the window, nor may a list's table be wider than its box. Without
Chromium the test skips.
"""

from pathlib import Path

import pytest
from django.contrib.admin.sites import site
from django.contrib.auth import get_user_model
from django.urls import reverse

from hub.testing import load_payload, post_callback
from hub.tests.test_admin_pages import grow

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WIDTH, HEIGHT = 1366, 768

pytestmark = pytest.mark.django_db(transaction=True)

#: What overflows sideways on the page: the document, a list's table, a detail page's fieldsets and inlines.
MEASURE = """
const overflows = [];
const root = document.documentElement;
if (root.scrollWidth > root.clientWidth) overflows.push(`page ${root.scrollWidth}px > ${root.clientWidth}px`);
for (const box of document.querySelectorAll('#changelist-form .results, fieldset.module, .inline-group')) {
  if (box.scrollWidth > box.clientWidth + 1) {
    const columns = [...box.querySelectorAll('thead th')].map(th => `${th.innerText.trim()}: ${th.offsetWidth}`);
    const name = box.className || box.tagName;
    overflows.push(`${name} ${box.scrollWidth}px > ${box.clientWidth}px (${columns.join(', ')})`);
  }
}
return overflows;
"""


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if missing:
        pytest.skip(f"needs Debian's chromium and chromium-driver ({', '.join(missing)} missing)")
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--password-store=basic",
        f"--user-data-dir={tmp_path_factory.mktemp('layout-profile')}",
        f"--window-size={WIDTH},{HEIGHT}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def long_values(client) -> None:
    """Rows with the longest values staff meet: long texts and reasons, unbroken words, a number left as typed."""
    from sms.models import AutoReplyRule, OutboundMessage
    from sms.services import queue_sms

    unbroken = "https://example.com/" + "a" * 80
    text = f"{unbroken} " + "Habari yako, karibu sana " * 12
    batch = queue_sms(["+254711099001", "0711099002000000000000000000"], text, sender="LONGSENDER1")
    OutboundMessage.objects.filter(batch=batch).update(
        status="failed", failure_reason=f"UserInBlacklist {unbroken}", at_message_id="ATXid_" + "f" * 60
    )
    AutoReplyRule.objects.create(keyword="k" * 30, reply=text)
    inbound = {**load_payload("sms", "inbound_message"), "id": "long-1", "text": text, "networkCode": "99998"}
    post_callback(client, "/api/sms/twoway", inbound)


def admin_pages() -> list[str]:
    urls = []
    for model in sorted(site._registry, key=lambda m: m._meta.label):
        opts = model._meta
        urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        first = model.objects.order_by("pk").first()
        if first is not None:
            urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[first.pk]))
    return urls


def test_every_list_and_detail_page_fits_a_1366_px_laptop(chromium, live_server, client, settings):
    settings.AT_VOICE_NUMBER = "+254711082000"
    long_values(client)
    grow(client, 0, 3)
    admin = get_user_model().objects.create_superuser("layout", "layout@example.com", "pw")
    client.force_login(admin)
    chromium.get(live_server.url + "/admin/login/")
    chromium.add_cookie({"name": "sessionid", "value": client.cookies["sessionid"].value, "path": "/"})
    assert chromium.execute_script("return window.innerWidth") == WIDTH
    too_wide = {}
    for url in admin_pages():
        chromium.get(live_server.url + url)
        assert "hub/admin.css" in chromium.page_source, url
        overflows = chromium.execute_script(MEASURE)
        if overflows:
            too_wide[url] = overflows
    assert not too_wide, "\n".join(f"{url}: {'; '.join(found)}" for url, found in too_wide.items())
