"""Settings for atproject, read from the environment (and `.env` when present).

Every variable is documented in `.env.example`. Defaults are the offline, embedded
ones (SQLite, AT sandbox); nothing secret has a production default: with DEBUG off, SECRET_KEY must be
set or the web server and the worker refuse to start.
"""

import os
import secrets
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from atproject.config import Env

BASE_DIR = Path(__file__).resolve().parent.parent

# AT_ENV_FILE="" disables reading a file (the test settings do, so that a
# developer's `.env` never leaks into the suite).
_env_file = os.environ.get("AT_ENV_FILE", str(BASE_DIR / ".env"))
if _env_file and Path(_env_file).is_file():
    environ.Env.read_env(_env_file)
# Every value is parsed here, once: a bad one stops `check`, the server and the
# worker with a message naming the variable (atproject/config.py).
env = Env()

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="").strip()
#: DEBUG off and no SECRET_KEY: the web server and the worker refuse to start (hub.startup) and
#: `check --deploy` fails; commands that serve nothing (check, makemigrations, migrate) still run,
#: with a key of their own that nothing outlives.
SECRET_KEY_MISSING = not SECRET_KEY and not DEBUG
if SECRET_KEY_MISSING:
    SECRET_KEY = secrets.token_urlsafe(50)
elif not SECRET_KEY:
    SECRET_KEY = "django-insecure-development-only-key-never-use-in-production"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    # Django's admin with the console's site: the dashboard at /admin/ (console/sites.py).
    "console.apps.HubAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_tasks",
    "django_tasks_db",
    "hub.apps.HubConfig",
    "sms",
    "voice",
    "airtime",
    "simswap",
    "ussd",
    "alerts.apps.AlertsConfig",
    "console.apps.ConsoleConfig",
    # The read API (/api/v1/), its OpenAPI schema and docs (drf-spectacular; Swagger UI from the sidecar's files).
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "api.apps.ApiConfig",
    # Event webhooks: endpoints other systems register, an outbox, signed deliveries with retries.
    "webhooks.apps.WebhooksConfig",
    # Development: the local AT simulator (`manage.py atsim`); it adds no URL to the product.
    "simulator.apps.SimulatorConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # AT's callbacks go from here straight to their view: what follows serves browsers.
    "atproject.middleware.CallbacksSkipPageMiddleware",
    # A Content-Security-Policy on every page (CONTENT_SECURITY_POLICY below).
    "csp.middleware.CSPMiddleware",
    # Serves the admin's static files from gunicorn, with DEBUG off too.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "hub.middleware.RefuseNulCharacters",
]

ROOT_URLCONF = "atproject.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "atproject.wsgi.application"

# --- Database -------------------------------------------------------------
# Embedded default: one SQLite file in the project folder, in WAL mode with
# immediate transactions, so that the web server, the worker and the local
# simulator can all write to it. Production: DATABASE_URL=postgres://...
# Seconds to wait for a new PostgreSQL connection (libpq's minimum is 2): a
# stalled server then fails fast, like one that is down.
DB_CONNECT_TIMEOUT = env.int("DB_CONNECT_TIMEOUT", default=3, minimum=2, maximum=60)
_database_url = env.str("DATABASE_URL").strip() or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
try:
    DATABASES = {"default": environ.Env.db_url_config(_database_url)}
except Exception:  # django-environ's own errors vary (KeyError, ValueError, ImproperlyConfigured)
    raise ImproperlyConfigured(
        "DATABASE_URL is not valid: expected sqlite:///path/to/db.sqlite3 or postgres://user:password@host:5432/name."
    ) from None
if DATABASES["default"].get("ENGINE") not in ("django.db.backends.sqlite3", "django.db.backends.postgresql"):
    raise ImproperlyConfigured(
        "DATABASE_URL is not valid: expected sqlite:///path/to/db.sqlite3 or postgres://user:password@host:5432/name."
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Seconds a writer waits for another's lock before its statement fails.
    busy_timeout = env.float("DB_BUSY_TIMEOUT", default=20.0, minimum=0.1, maximum=600)
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": busy_timeout,
            "init_command": (
                f"PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;PRAGMA busy_timeout={busy_timeout * 1000:.0f};"
            ),
        }
    )
    # A file, not ":memory:", for the test database too: WAL and several
    # processes (live server, worker) need one.
    # SQLITE_TEST_NAME lets two test runs on one checkout use two files.
    _test_name = env.str("SQLITE_TEST_NAME").strip() or str(BASE_DIR / "test_db.sqlite3")
    DATABASES["default"].setdefault("TEST", {}).setdefault("NAME", _test_name)
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60, minimum=0))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
    # Server-side parameters, and statements prepared after DB_PREPARE_THRESHOLD
    # uses on a connection: PostgreSQL then parses and plans each hot statement
    # (callback ingestion) once per connection instead of once per callback.
    # Django leaves preparing off for connection poolers: set DB_PREPARE_THRESHOLD
    # empty behind PgBouncer in transaction mode (without max_prepared_statements).
    options = DATABASES["default"].setdefault("OPTIONS", {})
    options.setdefault("server_side_binding", True)
    options.setdefault("connect_timeout", DB_CONNECT_TIMEOUT)
    # Empty (not unset) turns preparing off.
    preparing = env.str("DB_PREPARE_THRESHOLD", default="5").strip() != ""
    options.setdefault("prepare_threshold", env.int("DB_PREPARE_THRESHOLD", 5, minimum=0) if preparing else None)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
# The operator's zone: the admin shows every time in it, and "today" (the
# airtime daily limit, the dashboard) is a day in it. Default: AT_TIMEZONE.
TIME_ZONE = env.zone("TIME_ZONE", default=env.zone("AT_TIMEZONE", default="UTC"))
USE_I18N = True
USE_TZ = True
# Every time the admin shows carries its seconds and its zone ("2 Dec 2026, 10:15:03 EAT").
FORMAT_MODULE_PATH = ["atproject.formats"]

STATIC_URL = "static/"
# WhiteNoise serves the admin's files straight from where Django's finders find
# them: no `collectstatic` needed. Set STATIC_ROOT to collect them elsewhere.
STATIC_ROOT = env.str("STATIC_ROOT").strip() or None
WHITENOISE_USE_FINDERS = True

# --- Security (on whenever DEBUG is off) ------------------------------------
# Behind a TLS-terminating proxy or tunnel (ngrok, cloudflared, a load
# balancer) set SECURE_PROXY_SSL_HEADER=true so that Django trusts its
# X-Forwarded-Proto header and builds https:// URLs.
if env.bool("SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = env.bool("USE_X_FORWARDED_HOST", default=False)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# What a page may load and run (django-csp): only our own scripts, styles,
# images and fonts (the product runs offline: no CDN); recordings may play from
# AT's https URLs. Callback data shown in the admin can never run as a script.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        # The admin and our pages set style attributes.
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "media-src": ["'self'", "https:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- Africa's Talking -------------------------------------------------------
AT_USERNAME = env.str("AT_USERNAME", default="sandbox").strip() or "sandbox"
AT_API_KEY = env.str("AT_API_KEY", default="").strip()
AT_SHORTCODE = env.str("AT_SHORTCODE", default="").strip()
AT_SENDER_ID = env.str("AT_SENDER_ID", default="").strip()
AT_VOICE_NUMBER = env.phone("AT_VOICE_NUMBER")
# Comma-separated: every listed token is accepted, so a new one can be rolled
# out before the old one is removed from AT's dashboard. With DEBUG off and no
# token, every callback is refused (hub.callbacks.auth).
AT_WEBHOOK_TOKEN = env.list("AT_WEBHOOK_TOKEN")
# Zone of AT's dates that carry none ("2026-11-27 10:15:03").
AT_TIMEZONE = env.zone("AT_TIMEZONE", default="UTC")
# Largest callback body accepted; larger ones get 413.
AT_CALLBACK_MAX_BYTES = env.int("AT_CALLBACK_MAX_BYTES", default=256 * 1024, minimum=1024, maximum=10 * 1024 * 1024)
# Country code for local numbers such as 0712 345 678 (e.g. 254); empty: none.
AT_DEFAULT_COUNTRY_CODE = env.country_code("AT_DEFAULT_COUNTRY_CODE")

# Every call to AT goes to this host instead of AT's own when set (the local
# simulator, a test stub); it must serve AT's paths (/version1/messaging, ...).
AT_API_URL = env.url("AT_API_URL")
# Seconds to wait for AT: to connect, then for its answer.
AT_CONNECT_TIMEOUT = env.float("AT_CONNECT_TIMEOUT", default=3.05, minimum=0.1, maximum=120)
AT_READ_TIMEOUT = env.float("AT_READ_TIMEOUT", default=30.0, minimum=0.1, maximum=600)
# Recipients per request to AT's SMS API.
AT_SMS_CHUNK_SIZE = env.int("AT_SMS_CHUNK_SIZE", default=500, minimum=1, maximum=10000)
# Tries of one send whose request never reached AT, and the first wait between
# them in seconds (doubled each time).
AT_SEND_MAX_ATTEMPTS = env.int("AT_SEND_MAX_ATTEMPTS", default=5, minimum=1, maximum=100)
AT_RETRY_BACKOFF = env.float("AT_RETRY_BACKOFF", default=30.0, minimum=0, maximum=3600)
# Also retry SMS, calls and SIM-swap checks that AT answered 502/503/504. A
# gateway error can follow a request AT accepted: a retry may then send twice.
# Off: they end `unknown`, for staff to resend. Airtime is never retried so.
AT_RETRY_GATEWAY_ERRORS = env.bool("AT_RETRY_GATEWAY_ERRORS", default=False)
# Requests per user to the invoke API, e.g. 60/min, 1000/hour.
AT_API_THROTTLE_RATE = env.rate("AT_API_THROTTLE_RATE", default="60/min")
# Most recipients one invoke API request may name.
AT_API_MAX_RECIPIENTS = env.int("AT_API_MAX_RECIPIENTS", default=10000, minimum=1)

# What a USSD caller reads when something inside went wrong (the session ends).
AT_USSD_ERROR_TEXT = env.str("AT_USSD_ERROR_TEXT", default="Sorry, the service is unavailable. Please try again later.")
# Content type of voice XML answers: text/plain (as AT's examples) or application/xml.
AT_VOICE_CONTENT_TYPE = env.choice("AT_VOICE_CONTENT_TYPE", "text/plain", ("text/plain", "application/xml"))
# What a caller hears when something inside went wrong.
AT_VOICE_ERROR_TEXT = env.str(
    "AT_VOICE_ERROR_TEXT", default="Sorry, we cannot take your call right now. Please try again later."
)

# Airtime is money. Only the currencies named in both are accepted: the most
# one recipient may get, and the most all recipients together may get in one
# day (the operator's day, TIME_ZONE), e.g. "KES=1000,UGX=30000".
AT_AIRTIME_MAX_AMOUNT = env.money_limits("AT_AIRTIME_MAX_AMOUNT", default="KES=1000")
AT_AIRTIME_DAILY_LIMIT = env.money_limits("AT_AIRTIME_DAILY_LIMIT", default="KES=10000")
# AT's validation callback must match a send of ours made within this window.
AT_AIRTIME_VALIDATION_WINDOW_MINUTES = env.int("AT_AIRTIME_VALIDATION_WINDOW_MINUTES", default=10, minimum=1)

# Callbacks that arrive while the database is down are kept here until
# `manage.py replay_spool` stores them (the run command's maintenance does it).
AT_SPOOL_DIR = env.str("AT_SPOOL_DIR").strip() or str(BASE_DIR / "var" / "spool")
# Seconds a callback waits for the database before it is treated as down
# (spooled; 503, or the USSD/voice apology, or airtime validation Failed). AT
# abandons a USSD screen after about 10 s: keep it well under that.
AT_CALLBACK_DB_TIMEOUT = env.float("AT_CALLBACK_DB_TIMEOUT", default=5.0, minimum=0.5, maximum=60)

# A row still `sending` this long after its last update means its worker died.
AT_REAP_AFTER_SECONDS = env.int("AT_REAP_AFTER_SECONDS", default=300, minimum=1)
# Callback events and finished task results older than this are pruned.
AT_RETENTION_DAYS = env.int("AT_RETENTION_DAYS", default=90, minimum=1)
# /healthz says no worker is alive when none ran a task for this long.
AT_WORKER_STALE_SECONDS = env.int("AT_WORKER_STALE_SECONDS", default=180, minimum=1)

# Optional extra layer: callbacks only from these networks (CIDRs, comma-separated;
# empty: any). Behind a proxy, list it in AT_TRUSTED_PROXIES: X-Forwarded-For is
# believed only when the request comes from one of those.
AT_WEBHOOK_ALLOWED_IPS = env.networks("AT_WEBHOOK_ALLOWED_IPS")
AT_TRUSTED_PROXIES = env.networks("AT_TRUSTED_PROXIES")
# Phone numbers and message texts appear in logs and stored errors only when this is on.
AT_LOG_PII = env.bool("AT_LOG_PII", default=False)

# --- Event webhooks ----------------------------------------------------------
# Endpoints resolving to loopback, private or link-local addresses are refused
# (at registration and at every delivery) unless this is on: a receiver on our
# own network is then allowed, over http:// too.
AT_EVENTS_ALLOW_PRIVATE = env.bool("AT_EVENTS_ALLOW_PRIVATE", default=False)
# Seconds a delivery waits for the receiver: to connect, then for its answer.
AT_EVENTS_CONNECT_TIMEOUT = env.float("AT_EVENTS_CONNECT_TIMEOUT", default=3.0, minimum=0.1, maximum=30)
AT_EVENTS_READ_TIMEOUT = env.float("AT_EVENTS_READ_TIMEOUT", default=10.0, minimum=0.1, maximum=60)

# --- Alerts, metrics ---------------------------------------------------------
# Where incidents are told: e-mail addresses, and URLs that get a JSON POST
# (a Slack or Teams incoming webhook shows its `text`).
AT_ALERT_EMAILS = env.emails("AT_ALERT_EMAILS")
AT_ALERT_WEBHOOK_URLS = env.urls("AT_ALERT_WEBHOOK_URLS")
# The hub's public address (https://hub.example.com): notifications link to the
# admin page of their cause on it, and `manage.py doctor` checks it without --base-url.
AT_PUBLIC_BASE_URL = env.url("AT_PUBLIC_BASE_URL")
# Mail: smtp+tls://user:password@host:587, consolemail:// (printed), filemail:///path.
globals().update(env.email_url("EMAIL_URL", default="consolemail://"))  # EMAIL_BACKEND, EMAIL_HOST, ...
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL").strip() or "atproject@localhost"
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# /metrics (Prometheus): answered only with `Authorization: Bearer <this>`; empty: 404.
AT_METRICS_TOKEN = env.str("AT_METRICS_TOKEN").strip()
# Optional: /metrics only from these networks (CIDRs).
AT_METRICS_ALLOWED_IPS = env.networks("AT_METRICS_ALLOWED_IPS")

# Django refuses bodies over this with a 400 of its own; keep it above ours so
# that our 413 is what a too-large callback gets.
DATA_UPLOAD_MAX_MEMORY_SIZE = max(2_621_440, AT_CALLBACK_MAX_BYTES + 1)

# --- Background tasks (Django Tasks API) ---------------------------------------
# `python manage.py worker` runs them (whichever the backend); add workers to send faster.
# TASKS_BACKEND=database (default, embedded): tasks are rows of the database
# (django-tasks-db), a task commits with the rows it sends, nothing else to run.
# TASKS_BACKEND=redis: tasks go through Redis at REDIS_URL (RQ, by django-tasks-rq),
# for many workers on many nodes; they are published once the rows commit, and
# `maintain` re-enqueues rows a lost publish left queued. Delayed retries need
# RQ's scheduler, which every `manage.py worker` runs (one at a time holds it).
TASKS_BACKEND = env.choice("TASKS_BACKEND", "database", ("database", "redis"))
REDIS_URL = env.redis_url("REDIS_URL", default="redis://127.0.0.1:6379/0")
if TASKS_BACKEND == "redis":
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
    INSTALLED_APPS += ["django_rq", "django_tasks_rq"]  # the RQ dashboard: superusers, under Other
else:
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


def _redis_with_timeouts(url: str) -> str:
    """A Redis that does not answer fails an enqueue in seconds, not never (unless the URL sets its own)."""
    from urllib.parse import parse_qs, urlsplit

    wanted = {"socket_connect_timeout": "3", "socket_timeout": "10"}
    present = parse_qs(urlsplit(url).query)
    extra = "&".join(f"{k}={v}" for k, v in wanted.items() if k not in present)
    return url if not extra else f"{url}{'&' if '?' in url else '?'}{extra}"


RQ_QUEUES = {
    # A task running longer than DEFAULT_TIMEOUT seconds is stopped (its rows are then reaped `unknown`).
    "default": {"URL": _redis_with_timeouts(REDIS_URL), "DEFAULT_TIMEOUT": 900},
}
# Rows still `queued` this long after they were due (created, or their retry's
# time) with no task waiting for them are enqueued again by `maintain`.
AT_SWEEP_AFTER_SECONDS = env.int("AT_SWEEP_AFTER_SECONDS", default=120, minimum=10)

# --- Cache ------------------------------------------------------------------
# In the database, so that every web process and node shares it (the API
# throttle counts requests across processes, the periodic jobs' pace is one for
# every `maintain`) with nothing else to run. It stays there with
# TASKS_BACKEND=redis too: it holds little, and a Redis restart does not reset it.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "atproject_cache",
    }
}

# --- Django REST framework --------------------------------------------------
REST_FRAMEWORK = {
    "EXCEPTION_HANDLER": "hub.api.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # `?format=` is an ordinary parameter here, not DRF's renderer switch (which answers 404 to unknown ones).
    "URL_FORMAT_OVERRIDE": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# The OpenAPI schema at /api/schema/, its docs at /api/docs/ (Swagger UI from our own static files).
SPECTACULAR_SETTINGS = {
    "TITLE": "atproject API",
    "DESCRIPTION": (
        "The invoke API (send SMS, place calls, send airtime, check SIM swaps) and the read API (/api/v1/: "
        "what was sent and received, with AT's reports). A staff user's token: `Authorization: Token <key>`. "
        'Errors are `{"error": "..."}`.'
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/",
    "PREPROCESSING_HOOKS": ["api.schema.public_endpoints_only"],
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

# --- Logging ----------------------------------------------------------------
# Query strings carry the webhook token: the filter strips them from every
# record of the development server's request log.
LOG_LEVEL = env.choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "strip_query_strings": {"()": "hub.logfilters.StripQueryStrings"},
        "mask_phone_numbers": {"()": "hub.logfilters.MaskPhoneNumbers"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["strip_query_strings", "mask_phone_numbers"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Replace Django's own handlers (which print again when DEBUG is on).
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
