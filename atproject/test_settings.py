"""Settings for the test suite: the real settings with the test values, whatever the shell exports.

Every variable the settings read is cleared first, so that `AT_WEBHOOK_TOKEN=...
./scripts/test` (or a developer's exported AT_API_URL) cannot change what the
tests see. Only the database and the queue come from the environment, so the
same suite runs on SQLite (the default), on PostgreSQL
(`DATABASE_URL=postgres://...`) and with `TASKS_BACKEND=redis`.
"""

import os
import re
from pathlib import Path

_KEPT = {"DATABASE_URL", "TASKS_BACKEND", "REDIS_URL", "SQLITE_TEST_NAME"}
_READ = set(re.findall(r'env\.\w+\(\s*"([A-Z_][A-Z0-9_]*)"', (Path(__file__).with_name("settings.py")).read_text()))
for _name in _READ - _KEPT:
    os.environ.pop(_name, None)

os.environ.update(
    {
        "AT_ENV_FILE": "",  # a developer's .env must not change what the tests see
        "SECRET_KEY": "tests-only-not-a-secret",
        "AT_WEBHOOK_TOKEN": "test-webhook-token,previous-webhook-token",
        "SECURE_SSL_REDIRECT": "false",
        # Wide limits for the tests that do not test limits; those set their own.
        "AT_AIRTIME_MAX_AMOUNT": "KES=1000,UGX=30000",
        "AT_AIRTIME_DAILY_LIMIT": "KES=100000,UGX=3000000",
    }
)

from atproject.settings import *  # noqa: E402, F403

# Hashing passwords slowly protects nothing in tests.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# WhiteNoise scans every static file when its middleware starts, and the test
# client starts the middleware for every Client(): look files up per request instead.
WHITENOISE_AUTOREFRESH = True
