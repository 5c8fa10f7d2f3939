"""Fixtures of the browser tests (console/tests/test_browser.py): one headless Chromium for the session.

Debian's chromium and chromium-driver packages give /usr/bin/chromium and
/usr/bin/chromedriver (.ci/run installs them). Without them the browser tests
skip. Selenium is given both paths, so Selenium Manager never runs (it would try
to download a driver, and the machine has no internet).
"""

import sys
import threading
import time
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WINDOW = (1366, 900)
PAGE_LOAD_TIMEOUT = 30  # seconds

#: Headless, as root, offline: no sandbox (root), no GPU, /tmp instead of a small /dev/shm, and none of
#: Chromium's own connections (updates, sync, safe browsing), which this machine's closed network refuses.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-quic",
    "--password-store=basic",
)


@pytest.fixture(scope="session")
def browser(django_db_setup, tmp_path_factory):
    """A headless Chromium (Selenium WebDriver) for the whole session: a fresh profile, downloads in a tmp folder.

    `browser.download_dir` is where files the pages send as attachments land. It quits before the
    test database is destroyed (hence `django_db_setup`): Chromium keeps its connections to the live
    server open, and each of the server's threads holds a database connection until its socket closes,
    which PostgreSQL's DROP DATABASE would otherwise wait for, then refuse.
    """
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if missing:
        pytest.skip(
            f"browser tests need Debian's chromium and chromium-driver ({', '.join(missing)} missing): "
            "apt-get install chromium chromium-driver (.ci/run installs them)"
        )
    from selenium import webdriver

    profile = tmp_path_factory.mktemp("chromium-profile")
    downloads = tmp_path_factory.mktemp("downloads")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={WINDOW[0]},{WINDOW[1]}")
    options.add_experimental_option(
        "prefs",
        {
            "download.default_directory": str(downloads),
            "download.prompt_for_download": False,
            "download.directory_upgrade": True,
            "safebrowsing.enabled": False,
            "credentials_enable_service": False,
            "profile.password_manager_enabled": False,
            "profile.password_manager_leak_detection": False,
        },
    )
    service = webdriver.ChromeService(
        executable_path=str(CHROMEDRIVER), log_output=str(tmp_path_factory.getbasetemp() / "chromedriver.log")
    )
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(PAGE_LOAD_TIMEOUT)
    driver.download_dir = downloads
    try:
        yield driver
    finally:
        driver.quit()
        _wait_for_live_server_requests()


def _wait_for_live_server_requests(timeout=5.0):
    """Wait for the live server's request threads (their sockets closed with the browser) to end."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(t.name.endswith("(process_request_thread)") for t in threading.enumerate()):
            return
        time.sleep(0.05)


@pytest.fixture
def page(browser, live_server):
    """The session's browser, logged out (no cookies of an earlier test), with `page.url(path)` on the live server."""
    browser.get(live_server.url + "/")  # cookies can only be deleted for the site the browser is on
    browser.delete_all_cookies()
    browser.url = lambda path: live_server.url + path
    return browser


@pytest.fixture(scope="session")
def _group_grants(django_db_setup):
    """The data migrations that create the staff groups (they call hub.groups.grant), and the models they see.

    A transactional test's flush empties every table, the groups included; running these
    migrations' own functions again gives exactly the groups a migrated database has.
    """
    from django.db.migrations.loader import MigrationLoader
    from django.db.migrations.operations import RunPython

    from hub import groups

    loader = MigrationLoader(None, ignore_no_migrations=True)
    plan = []
    for leaf in sorted(loader.graph.leaf_nodes()):
        plan += [key for key in loader.graph.forwards_plan(leaf) if key not in plan]
    functions = []
    for key in plan:
        migration = loader.graph.nodes[key]
        if getattr(sys.modules[type(migration).__module__], "grant", None) is not groups.grant:
            continue
        functions += [op.code for op in migration.operations if isinstance(op, RunPython)]
    return loader.project_state().apps, functions


@pytest.fixture
def staff_groups(transactional_db, _group_grants):
    """The groups "AT viewers" and "AT operators" as the migrations made them (a transactional test flushed them)."""
    from django.contrib.auth.models import Group

    from hub.groups import OPERATORS, VIEWERS

    if Group.objects.filter(name__in=[VIEWERS, OPERATORS]).count() < 2:
        apps, functions = _group_grants
        for function in functions:
            function(apps, None)
    return {name: Group.objects.get(name=name) for name in (VIEWERS, OPERATORS)}
