"""The interactive docs in a real browser: Swagger UI at /api/docs/ runs from our own static files under the
site's Content-Security-Policy, lists the read and invoke endpoints, and a staff session tries one out.

The browser fixtures are the console's (console/tests/conftest.py); without Chromium these tests skip.
"""

import pytest
from django.contrib.auth import get_user_model
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from console.tests.conftest import browser, page  # noqa: F401 - the fixtures

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WAIT = 20  # seconds


def test_swagger_ui_lists_the_endpoints_and_a_staff_session_tries_one(page):  # noqa: F811
    user = get_user_model().objects.create_superuser("docs", "docs@example.com", "docs-pw")
    page.get(page.url("/admin/login/"))
    page.find_element(By.NAME, "username").send_keys("docs")
    page.find_element(By.NAME, "password").send_keys("docs-pw")
    page.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    WebDriverWait(page, WAIT).until(EC.url_to_be(page.url("/admin/")))
    assert user.is_staff

    page.get_log("browser")  # the admin's own messages (its favicon) are not the docs'
    page.get(page.url("/api/docs/"))
    wait = WebDriverWait(page, WAIT)
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, ".opblock-summary-path")))
    paths = {e.get_attribute("data-path") for e in page.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    assert {"/api/v1/messages/", "/api/v1/phones/{number}/", "/api/sms/invoke-bulk-sms"} <= paths
    assert not any(p.startswith("/api/sms/delivery-reports") for p in paths)
    # Nothing refused by the Content-Security-Policy, nothing fetched from elsewhere.
    errors = [e["message"] for e in page.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == [], errors

    # Try GET /api/v1/messages/ with the admin's session.
    operation = page.find_element(By.ID, "operations-v1-v1_messages_list")
    operation.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    wait.until(lambda _: operation.find_elements(By.CSS_SELECTOR, ".try-out__btn"))
    operation.find_element(By.CSS_SELECTOR, ".try-out__btn").click()
    operation.find_element(By.CSS_SELECTOR, ".execute").click()
    wait.until(lambda _: operation.find_elements(By.CSS_SELECTOR, ".live-responses-table tbody .response-col_status"))
    status = operation.find_element(By.CSS_SELECTOR, ".live-responses-table tbody .response-col_status").text
    assert status.startswith("200"), status
