"""Security: every URL protected as its kind requires, secrets and query strings never logged, allowlists."""

import os
import re
import subprocess
import sys
import time

import pytest
import requests
from django.conf import settings
from django.contrib.admin.sites import site
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.authentication import SessionAuthentication
from rest_framework.views import APIView

from hub.api import StaffTokenAuthentication
from hub.callbacks.auth import WebhookSourcePermission, WebhookTokenPermission
from hub.callbacks.views import CallbackView
from hub.invoke import InvokePermission, InvokeView
from hub.testing import load_payload, post_callback

# Views outside the admin that anyone may GET: they reveal nothing and change nothing (the API's
# schema and its docs describe endpoints, which each check their caller).
PUBLIC = {"welcome", "healthz", "ready", "schema", "docs"}


def walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern


def test_every_view_is_a_protected_kind():
    """Fails when a callback lacks the token check, an invoke, read or webhook-endpoint view lacks staff
    authentication and its permission, /metrics its token, or a view is unknown."""
    from alerts.metrics import metrics_view
    from api.views import CanViewModel, IsStaff, ReadAPIView
    from webhooks.api import EndpointPermission, EndpointViewMixin

    staff_auth = (StaffTokenAuthentication, SessionAuthentication)
    checked = {"callback": 0, "invoke": 0, "read": 0, "webhook-endpoints": 0, "metrics": 0, "public api": 0}
    for route, pattern in walk(get_resolver().url_patterns):
        # A view's class (as_view()), or a viewset's (a router's routes).
        view_class = getattr(pattern.callback, "view_class", None) or getattr(pattern.callback, "cls", None)
        if route.startswith("admin/"):
            continue
        if view_class is not None and issubclass(view_class, CallbackView):
            assert WebhookTokenPermission in view_class.permission_classes, route
            assert WebhookSourcePermission in view_class.permission_classes, route
            assert view_class.http_method_names == ["post"], route
            checked["callback"] += 1
        elif view_class is not None and issubclass(view_class, InvokeView):
            assert InvokePermission in view_class.permission_classes, route
            assert view_class.authentication_classes == (StaffTokenAuthentication, SessionAuthentication), route
            assert view_class.required_permission, route
            assert view_class.throttle_classes, route
            checked["invoke"] += 1
        elif view_class is not None and issubclass(view_class, ReadAPIView):
            assert tuple(view_class.authentication_classes) == staff_auth, route
            assert any(issubclass(p, (CanViewModel, IsStaff)) for p in view_class.permission_classes), route
            checked["read"] += 1
        elif view_class is not None and issubclass(view_class, EndpointViewMixin):
            assert tuple(view_class.authentication_classes) == staff_auth, route
            assert any(issubclass(p, EndpointPermission) for p in view_class.permission_classes), route
            checked["webhook-endpoints"] += 1
        elif pattern.name in {"schema", "docs"}:
            assert not any(hasattr(view_class, m) for m in ("post", "put", "patch", "delete")), route  # read-only
            checked["public api"] += 1
        elif pattern.callback is metrics_view:
            checked["metrics"] += 1  # its bearer token and allowlist: alerts/tests/test_metrics.py
        else:
            assert not (view_class and issubclass(view_class, APIView)), f"unchecked API view at {route}"
            assert pattern.name in PUBLIC, f"unexpected view at {route}"
    from hub.callbacks.registry import kinds

    assert checked["callback"] == len(kinds()) and checked["invoke"] == 5 and checked["metrics"] == 1
    assert checked["read"] >= 8 and checked["webhook-endpoints"] == 3 and checked["public api"] == 2, checked


def test_admin_actions_that_send_name_their_permission():
    for model_admin in site._registry.values():
        for name, (function, _, _) in model_admin.get_actions(_superuser_request()).items():
            if name == "delete_selected":
                continue
            allowed = getattr(function, "allowed_permissions", None) or getattr(function, "required_permission", None)
            assert allowed, f"{type(model_admin).__name__}.{name} checks no permission"


def _superuser_request():
    from django.contrib.auth.models import AnonymousUser
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = AnonymousUser()
    request.user.has_perm = lambda perm: True
    return request


@pytest.mark.django_db
def test_admin_keeps_csrf(staff_user):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(staff_user)
    response = browser.post("/admin/sms/autoreplyrule/add/", {"keyword": "X", "reply": "Y", "active": "on"})
    assert response.status_code == 403


@pytest.mark.django_db
def test_invoke_refuses_anonymous_unpermitted_and_session_get(client, django_user_model, staff_user):
    for path in (
        "/api/sms/invoke-bulk-sms",
        "/api/voice/invoke-call",
        "/api/airtime/invoke-send-airtime",
        "/api/sim-swap/invoke-check-simswap",
    ):
        assert client.get(path, {"phone": "+254711000000"}).status_code == 401
    nobody = django_user_model.objects.create_user("nobody", password="pw", is_staff=True)
    nobody.user_permissions.add(Permission.objects.get(codename="view_outboundmessage"))
    from rest_framework.authtoken.models import Token

    api = Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=nobody).key}")
    assert api.get("/api/sms/invoke-bulk-sms", {"phone": "+254711000000", "message": "x"}).status_code == 403
    client.force_login(staff_user)
    assert client.get("/api/sms/invoke-bulk-sms", {"phone": "+254711000000", "message": "x"}).status_code == 403


# --- Network allowlist ----------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("remote", "forwarded", "expected"),
    [
        ("52.1.2.3", "", 200),  # in the allowlist
        ("8.8.8.8", "", 403),  # outside it
        ("8.8.8.8", "52.1.2.3", 403),  # a forged header from an untrusted client is ignored
        ("10.0.0.5", "52.1.2.3", 200),  # the trusted proxy vouches for the AT address
        ("10.0.0.5", "52.1.2.3, 8.8.8.8", 403),  # the nearest untrusted hop counts
        ("10.0.0.5", "", 403),  # the proxy itself is not AT
    ],
)
def test_callbacks_only_from_allowed_networks(client, settings, remote, forwarded, expected):
    settings.AT_WEBHOOK_ALLOWED_IPS = ["52.0.0.0/8", "2001:db8::/32"]
    settings.AT_TRUSTED_PROXIES = ["10.0.0.0/24"]
    extra = {"REMOTE_ADDR": remote}
    if forwarded:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    response = post_callback(client, "/api/sms/delivery-reports", load_payload("sms", "delivery_report"), **extra)
    assert response.status_code == expected


@pytest.mark.django_db
def test_source_ip_is_the_forwarded_client_behind_a_trusted_proxy(client, settings):
    from sms.models import DeliveryReport

    settings.AT_TRUSTED_PROXIES = ["127.0.0.1/32"]
    post_callback(
        client, "/api/sms/delivery-reports", load_payload("sms", "delivery_report"), HTTP_X_FORWARDED_FOR="52.1.2.3"
    )
    assert DeliveryReport.objects.get().source_ip == "52.1.2.3"


# --- Static files without DEBUG ---------------------------------------------------------------------------------


def test_admin_static_files_are_served_without_debug(client):
    assert settings.DEBUG is False
    response = client.get("/static/admin/css/base.css")
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"/*")


# --- Logs of a full run -----------------------------------------------------------------------------------------

SECRET_KEY_VALUE = "atsk_log-capture-api-key-0123456789"
TOKEN_VALUE = "log-capture-webhook-token-9876543210"


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("server", ["runserver", "serve", "gunicorn"])
def test_a_full_run_logs_no_secret_and_no_query_string(server, tmp_path):
    """Dev server or gunicorn, a worker and the simulator: callbacks with ?token=, invoke calls with a token,
    sends through the real SDK. Their whole output must contain neither secret nor any query string."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from hub.tests.test_end_to_end import _answers, database_url, free_port, wait_until
    from sms.models import OutboundMessage

    web, sim = free_port(), free_port()
    env = {
        **os.environ,
        "AT_ENV_FILE": "",
        "DJANGO_SETTINGS_MODULE": "atproject.settings",
        "DATABASE_URL": database_url(),
        "DEBUG": "false",
        "SECRET_KEY": "x" * 50,
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "AT_WEBHOOK_TOKEN": TOKEN_VALUE,
        "AT_API_KEY": SECRET_KEY_VALUE,
        "AT_API_URL": f"http://127.0.0.1:{sim}",
        "LOG_LEVEL": "DEBUG",
        "WEB_CONCURRENCY": "1",
        "PORT": str(web),
    }
    manage = [sys.executable, "manage.py"]
    if server == "gunicorn":
        web_command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "atproject.wsgi"]
    elif server == "serve":  # the production server: granian
        env["PYTHON_BIN"] = os.path.dirname(sys.executable)
        web_command = ["scripts/serve"]
    else:
        web_command = [*manage, "runserver", f"127.0.0.1:{web}", "--noreload"]
    commands = [
        web_command,
        [*manage, "worker", "--interval", "0.1", "--no-startup-delay"],
        [
            *manage,
            "atsim",
            "--port",
            str(sim),
            "--project-url",
            f"http://127.0.0.1:{web}",
            "--delay",
            "0.1",
            "--failure-rate",
            "0",
        ],
    ]
    log = open(tmp_path / "run.log", "wb")  # noqa: SIM115 - closed below
    processes = [
        subprocess.Popen(c, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=settings.BASE_DIR) for c in commands
    ]
    try:
        wait_until(lambda: _answers(f"http://127.0.0.1:{web}/healthz"), 30, "the server")
        wait_until(lambda: _answers(f"http://127.0.0.1:{sim}/phone/log"), 30, "the simulator")
        user = get_user_model().objects.create_superuser("logs", "", "pw")
        token = Token.objects.create(user=user).key
        base = f"http://127.0.0.1:{web}"
        requests.get(
            f"{base}/api/sms/invoke-bulk-sms",
            params={"phone": "+254711000001", "message": "hi"},
            headers={"Authorization": f"Token {token}"},
            timeout=10,
        )
        requests.post(
            f"{base}/api/sms/delivery-reports",
            params={"token": TOKEN_VALUE},
            data={"id": "x", "status": "Success"},
            timeout=10,
        )
        requests.post(
            f"{base}/api/sms/delivery-reports",
            params={"token": "a-wrong-guess"},
            data={"id": "x", "status": "Success"},
            timeout=10,
        )
        requests.get(f"{base}/api/sms/", params={"token": TOKEN_VALUE}, timeout=10)
        # A path that decodes to two lines must stay one line in the access log.
        requests.get(f"{base}/nothing%0Aforged-line%20%22GET%20/admin/%22%20200", timeout=10)
        wait_until(lambda: OutboundMessage.objects.filter(status="delivered").exists(), 30, "a delivery")
        time.sleep(0.5)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)
        log.close()
    output = (tmp_path / "run.log").read_text("utf-8", "replace")
    assert "delivery-reports" in output and "invoke-bulk-sms" in output  # the requests were logged
    for secret in (SECRET_KEY_VALUE, TOKEN_VALUE, token, "a-wrong-guess"):
        assert secret not in output
    assert not re.search(r"/[\w\-/]*\?\w+=", output), "a query string reached the logs"
    assert not any(line.startswith("forged-line") for line in output.splitlines()), "a forged access-log line"
    assert "+254711000001" not in output, "a subscriber's number reached the logs"


# --- What every page may load, and input a database cannot compare ----------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/admin/login/", "/healthz", "/api/sms/"])
def test_every_page_carries_a_content_security_policy(client, path):
    policy = client.get(path)["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    assert "object-src 'none'" in policy and "frame-ancestors 'none'" in policy


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    ["status__exact=%00", "q=%00", "q=a%00b", "network_code=%00&q=x", "%00=1"],
)
def test_a_nul_character_in_an_admin_query_is_a_400_not_a_500(staff_client, query):
    response = staff_client.get(f"/admin/sms/deliveryreport/?{query}")
    assert response.status_code == 400
    assert b"NUL" in response.content


@pytest.mark.django_db
def test_a_nul_character_in_an_admin_form_is_a_400(staff_client):
    response = staff_client.post("/admin/sms/outboundmessage/", {"action": "resend", "_selected_action": "\x00"})
    assert response.status_code == 400
