"""Settings for the test suite: the real settings, with test defaults for what the environment lacks.

DATABASE_URL still comes from the environment, so the same suite runs on SQLite
(the default) and on PostgreSQL (`DATABASE_URL=postgres://...`).
"""

import os

os.environ["AT_ENV_FILE"] = ""  # a developer's .env must not change what the tests see
os.environ.setdefault("SECRET_KEY", "tests-only-not-a-secret")
os.environ.setdefault("AT_WEBHOOK_TOKEN", "test-webhook-token,previous-webhook-token")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")

from atproject.settings import *  # noqa: F403

# Hashing passwords slowly protects nothing in tests.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# WhiteNoise scans every static file when its middleware starts, and the test
# client starts the middleware for every Client(): look files up per request instead.
WHITENOISE_AUTOREFRESH = True
