"""Settings read from the environment: secure in production, refusing to start without secrets."""

import os
import subprocess
import sys

import pytest
from django.conf import settings

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "k" * 20 + "-production-like-secret-key-with-enough-entropy-0123456789",
    "AT_WEBHOOK_TOKEN": "a-long-random-webhook-token",
    "ALLOWED_HOSTS": "hub.example.com",
    "AT_ENV_FILE": "",
}


def manage(*args, **env):
    clean = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}  # nothing from the test run
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_deploy_is_clean_with_production_values():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_without_secret_key_refuses_to_serve_and_fails_the_deploy_check():
    without = {**PRODUCTION, "SECRET_KEY": ""}
    for command in (["check", "--deploy"], ["worker", "--batch"]):
        result = manage(*command, **without)
        assert result.returncode != 0, command
        assert "SECRET_KEY is not set" in result.stderr, result.stderr[-500:]
    clean = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    server = subprocess.run(
        [sys.executable, "-c", "import atproject.wsgi"],
        cwd=settings.BASE_DIR,
        env={**clean, **without, "DJANGO_SETTINGS_MODULE": "atproject.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert server.returncode != 0
    assert "SECRET_KEY is not set" in server.stderr


def test_a_bare_checkout_passes_check_and_makemigrations_check():
    """Nothing configured (no .env, no environment): the commands that serve nothing still run."""
    for command in (["check"], ["makemigrations", "--check", "--dry-run"]):
        result = manage(*command, AT_ENV_FILE="")
        assert result.returncode == 0, result.stdout + result.stderr[-800:]


def test_production_without_webhook_token_fails_deploy_check():
    result = manage("check", "--deploy", **{**PRODUCTION, "AT_WEBHOOK_TOKEN": ""})
    assert result.returncode != 0
    assert "atproject.E001" in result.stderr


def test_proxy_header_trusted_only_when_configured():
    code = "from django.conf import settings; print(getattr(settings, 'SECURE_PROXY_SSL_HEADER', None))"
    off = manage("shell", "--no-imports", "-c", code, **PRODUCTION)
    on = manage("shell", "--no-imports", "-c", code, **PRODUCTION, SECURE_PROXY_SSL_HEADER="true")
    assert off.stdout.strip() == "None"
    assert on.stdout.strip() == "('HTTP_X_FORWARDED_PROTO', 'https')"


@pytest.mark.parametrize(("value", "expected"), [(None, "5"), ("", "None"), ("0", "0"), (" 12 ", "12")])
def test_postgresql_statements_are_prepared_after_db_prepare_threshold_uses(value, expected):
    """Unset: 5 (the documented default); empty: never (PgBouncer in transaction mode); else the number."""
    code = "from django.conf import settings; print(settings.DATABASES['default']['OPTIONS']['prepare_threshold'])"
    env = {**PRODUCTION, "DATABASE_URL": "postgres://u:p@127.0.0.1:5432/db"}
    if value is not None:
        env["DB_PREPARE_THRESHOLD"] = value
    result = manage("shell", "--no-imports", "-c", code, **env)
    assert result.stdout.strip() == expected, result.stderr[-500:]


def test_sqlite_runs_in_wal_mode_with_immediate_transactions(db):
    from django.db import connection

    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
    assert connection.settings_dict["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


def test_env_example_documents_every_variable():
    import re
    from pathlib import Path

    base = Path(settings.BASE_DIR)
    read = set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z_][A-Z0-9_]*)"', (base / "atproject/settings.py").read_text()))
    documented = set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", (base / ".env.example").read_text(), re.MULTILINE))
    assert read, "no variables found in settings.py"
    assert read - documented == set()


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("AT_AIRTIME_MAX_AMOUNT", "KES=10O0", "CURRENCY=AMOUNT pairs"),
        ("AT_AIRTIME_MAX_AMOUNT", "1000", "CURRENCY=AMOUNT pairs"),
        ("AT_AIRTIME_DAILY_LIMIT", "KÉS=1000", "CURRENCY=AMOUNT pairs"),
        ("AT_TRUSTED_PROXIES", "10.0.0.0/33", "IP networks"),
        ("AT_WEBHOOK_ALLOWED_IPS", "52.0.0.0/8,not-a-network", "IP networks"),
        ("AT_SMS_CHUNK_SIZE", "abc", "a whole number"),
        ("AT_SEND_MAX_ATTEMPTS", "0", "a whole number from 1"),
        ("AT_READ_TIMEOUT", "-3", "a number"),
        ("AT_TIMEZONE", "Mars/Base", "a time zone name"),
        ("TIME_ZONE", "Nairobi", "a time zone name"),
        ("DEBUG", "maybe", "true or false"),
        ("AT_LOG_PII", "yes please", "true or false"),
        ("AT_DEFAULT_COUNTRY_CODE", "+2540", "a country calling code"),
        ("AT_API_URL", "ftp://example.com", "an http:// or https:// URL"),
        ("AT_PUBLIC_BASE_URL", "hub.example.com", "an http:// or https:// URL"),
        ("AT_VOICE_CONTENT_TYPE", "text/html", "one of text/plain, application/xml"),
        ("AT_VOICE_NUMBER", "0711082000", "a phone number in international form"),
        ("AT_API_THROTTLE_RATE", "fast", "requests per period"),
        ("AT_CALLBACK_DB_TIMEOUT", "0", "a number"),
        ("DATABASE_URL", "mysql2://x", "DATABASE_URL is not valid"),
    ],
)
def test_a_bad_setting_stops_check_and_worker_naming_the_variable(variable, value, expected):
    for command in (["check"], ["worker", "--batch"]):
        result = manage(*command, **{**PRODUCTION, variable: value})
        assert result.returncode != 0, result.stdout
        assert variable in result.stderr and expected in result.stderr, result.stderr[-500:]


def test_a_bad_setting_stops_the_web_server_naming_the_variable():
    clean = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    result = subprocess.run(
        [sys.executable, "-c", "import atproject.wsgi"],
        cwd=settings.BASE_DIR,
        env={**clean, **PRODUCTION, "AT_TRUSTED_PROXIES": "10.0.0.0/33", "DJANGO_SETTINGS_MODULE": "atproject.settings"},  # noqa: E501
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "AT_TRUSTED_PROXIES='10.0.0.0/33' is not valid" in result.stderr


def test_a_web_server_without_webhook_token_says_at_start_that_it_refuses_callbacks():
    clean = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    result = subprocess.run(
        [sys.executable, "-c", "import atproject.wsgi"],
        cwd=settings.BASE_DIR,
        env={**clean, **PRODUCTION, "AT_WEBHOOK_TOKEN": "", "DJANGO_SETTINGS_MODULE": "atproject.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "AT_WEBHOOK_TOKEN is not set and DEBUG is off: every AT callback will be refused" in result.stderr


def test_the_suite_ignores_what_the_shell_exports():
    """`AT_WEBHOOK_TOKEN=... ./scripts/test`: the test settings still use their own values."""
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.AT_WEBHOOK_TOKEN, settings.AT_API_URL, settings.AT_LOG_PII)"
    )
    clean = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=settings.BASE_DIR,
        env={
            **clean,
            "DJANGO_SETTINGS_MODULE": "atproject.test_settings",
            "AT_WEBHOOK_TOKEN": "from-the-shell-0123456789",
            "AT_API_URL": "http://127.0.0.1:1",
            "AT_LOG_PII": "true",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == "['test-webhook-token', 'previous-webhook-token']  False", result.stderr
