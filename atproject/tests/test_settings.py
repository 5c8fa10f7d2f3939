"""Settings read from the environment: secure in production, refusing to start without secrets."""

import os
import subprocess
import sys

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


def test_production_without_secret_key_refuses_to_start():
    result = manage("check", **{**PRODUCTION, "SECRET_KEY": ""})
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


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
