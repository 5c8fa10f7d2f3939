"""The set-up doctor: checks what a deployment needs to work with AT and says what to do about each problem.

`python manage.py doctor [--base-url https://...] [--self-test]` prints the
report, and superusers see it in the admin (`admin:doctor`). Every line is OK,
WARNING or ERROR with what to do; `Report.failed` (any ERROR) makes the command
exit non-zero, for deployment scripts.

The report holds the exact URL of every callback field of AT's dashboard, the
webhook token included: it is shown only to whoever may read the settings (the
shell's user, a superuser), never logged.

The self-test posts, through the public base URL, a synthetic callback of each
passive kind (those answered a plain OK). It carries one marker field and
nothing else, so no effect runs (nothing is sent, no opt-out or call is
recorded): the hub stores it as `failed` ("missing required field") and answers
400 naming the field. Finding that row by its marker proves the tunnel or
proxy, the path and the token end to end; the rows are then deleted.
"""

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import parse_qs, quote, unquote, urlsplit

import requests
from django.conf import settings
from django.core.cache import cache
from django.http.request import validate_host
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from hub import gateway
from hub.callbacks.payload import parse_money
from hub.callbacks.registry import kinds
from hub.callbacks.views import CallbackView
from hub.checks import MIN_TOKEN_LENGTH

OK, WARNING, ERROR = "OK", "WARNING", "ERROR"

#: AT's dashboard field for each callback kind (kinds not listed are named by their kind).
DASHBOARD_FIELDS = {
    "sms.delivery-reports": "SMS → Settings → Delivery Reports",
    "sms.twoway": "SMS → Settings → Incoming Messages",
    "sms.opt-out": "SMS → Settings → Bulk SMS Opt Out",
    "sms.subscription": "SMS → Settings → Subscription Notifications",
    "voice.instruct": "Voice → your number → Callback URL",
    "voice.events": "Voice → your number → Events URL",
    "ussd.session": "USSD → your service code → Callback URL",
    "ussd.status": "USSD → your service code → Events URL",
    "airtime.validation": "Airtime → Settings → Validation URL",
    "airtime.status": "Airtime → Settings → Status URL",
    "simswap.status": "SIM swap → Settings → Callback URL",
}

#: The field the self-test's synthetic callbacks carry (and nothing else).
MARKER_FIELD = "atprojectDoctor"
#: How long AT may take to activate a new API key.
ACTIVATION_DELAY = timedelta(minutes=20)
KEY_SEEN_PREFIX = "atproject:doctor:key-first-seen:"
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}
WEAK_TOKENS = {"token", "secret", "changeme", "change-me", "password", "test", "webhook", "africastalking"}


@dataclass(frozen=True)
class Line:
    level: str
    topic: str
    text: str
    todo: str = ""


@dataclass(frozen=True)
class CallbackUrl:
    kind: str
    field: str
    url: str
    passive: bool


@dataclass
class Report:
    base_url: str = ""
    lines: list[Line] = field(default_factory=list)
    callback_urls: list[CallbackUrl] = field(default_factory=list)

    def add(self, level: str, topic: str, text: str, todo: str = "") -> None:
        self.lines.append(Line(level, topic, text, todo))

    @property
    def failed(self) -> bool:
        return any(line.level == ERROR for line in self.lines)

    def count(self, level: str) -> int:
        return sum(1 for line in self.lines if line.level == level)


@dataclass(frozen=True)
class BaseUrl:
    """The public base URL as given: scheme, host[:port], path prefix, and a token it may carry."""

    scheme: str
    netloc: str
    host: str
    prefix: str
    token: str | None

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{self.netloc}"

    @property
    def loopback(self) -> bool:
        return self.host in LOOPBACK_HOSTS or self.host.startswith("127.")


def parse_base_url(text: str) -> BaseUrl:
    """`https://host[:port][/prefix][?token=...]` (or `https://user:token@host`); ValueError naming the problem."""
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"the base URL must be http(s)://host[:port][/prefix], not {text!r}")
    token = parse_qs(parts.query).get("token", [None])[0]
    if token is None and parts.password:
        token = unquote(parts.password)
    netloc = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    if ":" in parts.hostname:
        netloc = f"[{parts.hostname}]" + ("" if parts.port is None else f":{parts.port}")
    prefix = parts.path.rstrip("/")
    for kind in kinds().values():  # a callback URL pasted whole: keep what comes before the callback's path
        if prefix.endswith(kind.path):
            prefix = prefix[: -len(kind.path)]
            break
    return BaseUrl(parts.scheme, netloc, parts.hostname, prefix, token)


def run(
    base_url: str | None = None, *, self_test: bool = False, timeout: float = 10.0, probe_sandbox: bool = False
) -> Report:
    """Every check, in the order of the report (the self-test only when asked and a base URL is given).

    `probe_sandbox`: when AT refuses the key of a live username, ask AT's sandbox whether the key is one of
    its own (the command does; the admin page, serving other requests in other threads, does not).
    """
    base_url = base_url or getattr(settings, "AT_PUBLIC_BASE_URL", "") or None
    report = Report(base_url=base_url or "")
    database_ready = check_database(report)
    check_credentials(report, probe_sandbox=probe_sandbox)
    if database_ready:
        check_senders(report)
        check_operations(report)
    check_token(report)
    base = None
    if base_url:
        try:
            base = parse_base_url(base_url)
        except ValueError as exc:
            report.add(
                ERROR, "Public base URL", str(exc), "Give the URL AT reaches this hub at, e.g. https://hub.example.com"
            )
    else:
        report.add(
            WARNING,
            "Public base URL",
            "No base URL given: the web settings and the callback URLs are not checked.",
            "Run again with --base-url https://<the host AT posts to>.",
        )
    if base is not None:
        check_web_settings(report, base)
        check_url_token(report, base)
        report.callback_urls = callback_urls(base)
        if self_test and not database_ready:
            report.add(ERROR, "Self-test", "The self-test needs the database.", "Fix the database first (above).")
        elif self_test:
            run_self_test(report, base, timeout=timeout)
    elif self_test:
        report.add(ERROR, "Self-test", "The self-test needs the public base URL.", "Add --base-url https://...")
    return report


# --- The database ---------------------------------------------------------------------


def check_database(report: Report) -> bool:
    """The database answers and every migration is applied; False when the checks that read it cannot run."""
    from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
    from django.db.migrations.executor import MigrationExecutor

    try:
        connection = connections[DEFAULT_DB_ALIAS]
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as exc:
        report.add(ERROR, "Database", f"The database cannot be reached: {type(exc).__name__}.", "Check DATABASE_URL.")
        return False
    if pending:
        report.add(
            ERROR,
            "Database",
            f"{len(pending)} migration(s) not applied (the first: {pending[0][0].app_label}.{pending[0][0].name}).",
            "Run python manage.py migrate.",
        )
        return False
    report.add(OK, "Database", f"{connection.vendor}, every migration applied.")
    return True


# --- AT's credentials ------------------------------------------------------------------


def _key_first_seen(key: str):
    """When the doctor first saw this API key (kept by a fingerprint, never the key), recording it now if never."""
    from django.db import DatabaseError

    fingerprint = hashlib.sha256(key.encode()).hexdigest()[:16]
    now = timezone.now()
    try:
        seen = cache.get(KEY_SEEN_PREFIX + fingerprint)
        if seen is None:
            cache.set(KEY_SEEN_PREFIX + fingerprint, now.isoformat(), timeout=None)
    except DatabaseError:
        return now, True
    if seen is None:
        return now, True
    return timezone.datetime.fromisoformat(seen), False


def check_credentials(report: Report, *, probe_sandbox: bool = False) -> None:
    topic = "AT credentials"
    username = settings.AT_USERNAME
    sandbox = username == "sandbox"
    where = "AT's sandbox (AT_USERNAME=sandbox)" if sandbox else f"the live account {username!r}"
    if settings.AT_API_URL:
        report.add(
            WARNING if not settings.DEBUG else OK,
            "AT host",
            f"AT_API_URL sends every call to {settings.AT_API_URL}, not to AT.",
            "Leave AT_API_URL empty in production." if not settings.DEBUG else "",
        )
    if sandbox and not settings.DEBUG:
        report.add(
            WARNING,
            "AT account",
            "AT_USERNAME is sandbox with DEBUG off: nothing reaches real phones.",
            "Set AT_USERNAME to your live app's username and AT_API_KEY to that app's key.",
        )
    if not settings.AT_API_KEY:
        report.add(
            ERROR,
            topic,
            "AT_API_KEY is not set: every send fails.",
            "Set AT_API_KEY (AT's dashboard → Settings → API Key).",
        )
        return
    first_seen, new = _key_first_seen(settings.AT_API_KEY)
    try:
        answer = gateway.application_data()
    except gateway.ATError as exc:
        if exc.status == 401:
            _refused_key(report, sandbox, username, first_seen, new, probe_sandbox=probe_sandbox)
        elif exc.reached:
            report.add(
                ERROR, topic, f"The balance call to {where} failed: {exc}", "Check AT's status page, then try again."
            )
        else:
            report.add(
                ERROR,
                topic,
                f"AT could not be reached: {exc}",
                "Check this machine's DNS, outbound HTTPS and proxy settings (and AT_API_URL if set).",
            )
        return
    user = (answer.get("UserData") or answer.get("userData") or {}) if isinstance(answer, dict) else {}
    try:
        amount, currency = parse_money(user.get("balance") or "")
    except ValueError:
        amount, currency = None, ""
    balance = f"{currency} {amount}" if amount is not None else "unreadable"
    report.add(OK, topic, f"AT accepted the key for {where}; balance {balance}.")


def _sandbox_accepts_key() -> bool:
    """Whether AT's sandbox takes AT_API_KEY: one balance call through the gateway with AT_USERNAME=sandbox.

    Settings are changed for the call, so only a single-threaded process (the command) asks; never with
    AT_API_URL set (the simulator or a stub answer for every username alike).
    """
    from django.test.utils import override_settings

    if settings.AT_API_URL:
        return False
    with override_settings(AT_USERNAME="sandbox"):
        try:
            gateway.application_data()
        except gateway.ATError:
            return False
    return True


def _refused_key(
    report: Report, sandbox: bool, username: str, first_seen, new: bool, *, probe_sandbox: bool = False
) -> None:
    age = timezone.now() - first_seen
    if sandbox:
        text = "AT refused AT_API_KEY for the sandbox (401): it is not a sandbox key; a live app's key, perhaps."
        todo = (
            "With a live key, set AT_USERNAME to that app's username (AT's dashboard, top left); "
            "else copy the key from the sandbox app (AT's dashboard → Sandbox → Settings → API Key)."
        )
    elif probe_sandbox and _sandbox_accepts_key():
        text = f"AT_API_KEY is a sandbox key (AT's sandbox accepts it), but AT_USERNAME is the live {username!r}."
        todo = f"Use the API key of the live app {username!r}, or set AT_USERNAME=sandbox to stay in the sandbox."
    else:
        text = f"AT refused AT_API_KEY for the live username {username!r} (401)."
        todo = (
            "A sandbox key needs AT_USERNAME=sandbox; a live key must be generated in the app named "
            f"{username!r} (AT's dashboard → Settings → API Key)."
        )
    if age < ACTIVATION_DELAY and not new:
        ready = timezone.localtime(first_seen + ACTIVATION_DELAY).strftime("%H:%M")
        text += f" This key was first seen {int(age.total_seconds() // 60)} min ago: AT may still be activating it."
        todo = f"A new key takes about 20 minutes to work: run the doctor again after {ready}. " + todo
    elif new:
        todo += " If you created this key in the last 20 minutes, AT may not have activated it yet: try again later."
    report.add(ERROR, "AT credentials", text, todo)


# --- Senders ---------------------------------------------------------------------------


def _products_in_use() -> dict[str, bool]:
    """Which products this hub has used (sent with, or received callbacks of): a few EXISTS queries."""
    from sms.models import InboundMessage, OutboundMessage, SmsMode, SubscriptionEvent
    from voice.models import Call, OutboundCall

    return {
        "sms": OutboundMessage.objects.exists(),
        "two-way": InboundMessage.objects.exists()
        or SubscriptionEvent.objects.exists()
        or OutboundMessage.objects.filter(mode=SmsMode.PREMIUM).exists(),
        "voice": OutboundCall.objects.exists() or Call.objects.exists(),
    }


def check_senders(report: Report) -> None:
    from sms.models import OutboundMessage

    used = _products_in_use()
    since = timezone.now() - timedelta(days=1)
    if settings.AT_SENDER_ID:
        refused = OutboundMessage.objects.filter(
            sender=settings.AT_SENDER_ID, failure_reason__icontains="InvalidSenderId", updated_at__gte=since
        ).count()
        if refused:
            report.add(
                ERROR,
                "Sender id",
                f"AT refused the sender id {settings.AT_SENDER_ID!r} (InvalidSenderId) for {refused} messages today.",
                "Register it with AT (dashboard → SMS → Alphanumerics) or change AT_SENDER_ID.",
            )
        else:
            report.add(OK, "Sender id", f"AT_SENDER_ID is {settings.AT_SENDER_ID!r}.")
    else:
        report.add(
            WARNING if used["sms"] else OK,
            "Sender id",
            "AT_SENDER_ID is not set: bulk SMS go from AT's shared default sender."
            + (" SMS are sent from this hub." if used["sms"] else " (no SMS sent yet)"),
            "Set AT_SENDER_ID to your registered alphanumeric sender id." if used["sms"] else "",
        )
    if settings.AT_SHORTCODE:
        report.add(OK, "Shortcode", f"AT_SHORTCODE is {settings.AT_SHORTCODE!r}.")
    else:
        report.add(
            ERROR if used["two-way"] else OK,
            "Shortcode",
            "AT_SHORTCODE is not set"
            + (
                ": inbound SMS or subscriptions arrive, but replies and premium SMS need the shortcode."
                if used["two-way"]
                else " (two-way SMS not in use)."
            ),
            "Set AT_SHORTCODE to your AT shortcode." if used["two-way"] else "",
        )
    if settings.AT_VOICE_NUMBER:
        report.add(OK, "Voice number", f"AT_VOICE_NUMBER is {settings.AT_VOICE_NUMBER}.")
    else:
        report.add(
            ERROR if used["voice"] else OK,
            "Voice number",
            "AT_VOICE_NUMBER is not set"
            + (": calls are in use, and outbound calls need it." if used["voice"] else " (voice not in use)."),
            "Set AT_VOICE_NUMBER to your AT voice number (+254...)." if used["voice"] else "",
        )


# --- Workers, maintenance, alert channels, metrics -------------------------------------------------------


#: `maintain` reads AT's balance every 10 minutes: no reading for this long means it does not run.
MAINTAIN_STALE = timedelta(minutes=30)


def check_operations(report: Report) -> None:
    from hub.maintenance import queue_health
    from hub.models import BalanceSnapshot
    from hub.queue import unavailable_errors

    try:
        health = queue_health()
    except unavailable_errors() as exc:
        report.add(ERROR, "Task queue", f"The task queue cannot be reached: {type(exc).__name__}.", "Check REDIS_URL.")
        health = None
    if health is not None and health["worker_recent"]:
        report.add(OK, "Worker", f"A worker was seen {health['worker_seen_seconds_ago']} s ago.")
    elif health is not None:
        seen = health["worker_seen_seconds_ago"]
        report.add(
            WARNING,
            "Worker",
            ("No worker has ever run here" if seen is None else f"No worker seen for {seen} s")
            + f": sends stay queued ({health['waiting']} task(s) waiting).",
            "Run python manage.py worker under a supervisor (see Keep the worker running).",
        )
    latest = BalanceSnapshot.objects.order_by("-fetched_at").values_list("fetched_at", flat=True).first()
    if latest is not None and timezone.now() - latest <= MAINTAIN_STALE:
        report.add(OK, "Maintenance", "manage.py maintain runs (AT's balance read recently).")
    else:
        report.add(
            WARNING,
            "Maintenance",
            "manage.py maintain has not run in the last 30 minutes: alert rules are not evaluated, the spool is not "
            "replayed, stuck rows are not reaped.",
            "Run python manage.py maintain from cron every minute, or maintain --every 30 as a service.",
        )
    if settings.AT_ALERT_EMAILS or settings.AT_ALERT_WEBHOOK_URLS:
        channels = len(settings.AT_ALERT_EMAILS) + len(settings.AT_ALERT_WEBHOOK_URLS)
        report.add(OK, "Alert channels", f"{channels} channel(s) told of incidents.")
    else:
        report.add(
            WARNING,
            "Alert channels",
            "Neither AT_ALERT_EMAILS nor AT_ALERT_WEBHOOK_URLS is set: incidents show only in the admin and /healthz.",
            "Set AT_ALERT_EMAILS and/or AT_ALERT_WEBHOOK_URLS (a Slack or Teams incoming webhook).",
        )
    token = settings.AT_METRICS_TOKEN
    if token and len(token) < MIN_TOKEN_LENGTH:
        report.add(
            WARNING,
            "Metrics token",
            f"AT_METRICS_TOKEN has {len(token)} characters, fewer than {MIN_TOKEN_LENGTH}.",
            "Use python -c 'import secrets; print(secrets.token_urlsafe(24))'.",
        )
    else:
        report.add(OK, "Metrics token", "/metrics is on, behind AT_METRICS_TOKEN." if token else "/metrics is off.")


# --- The webhook token -----------------------------------------------------------------


def check_token(report: Report) -> None:
    topic = "Webhook token"
    tokens = settings.AT_WEBHOOK_TOKEN
    make = "python -c 'import secrets; print(secrets.token_urlsafe(24))'"
    if not tokens:
        report.add(
            ERROR if not settings.DEBUG else WARNING,
            topic,
            "AT_WEBHOOK_TOKEN is not set: "
            + ("every callback is refused (403)." if not settings.DEBUG else "anyone may post fake callbacks."),
            f"Set AT_WEBHOOK_TOKEN to a long random string ({make}) and add ?token=<it> to AT's callback URLs.",
        )
        return
    for position, token in enumerate(tokens, start=1):
        name = "AT_WEBHOOK_TOKEN" if len(tokens) == 1 else f"token {position} of AT_WEBHOOK_TOKEN"
        if len(token) < MIN_TOKEN_LENGTH:
            report.add(
                ERROR, topic, f"{name} has {len(token)} characters, fewer than {MIN_TOKEN_LENGTH}.", f"Use {make}."
            )
        elif token.lower() in WEAK_TOKENS or len(set(token)) < 8:
            report.add(
                ERROR, topic, f"{name} is easy to guess (a common word or few distinct characters).", f"Use {make}."
            )
        elif len(token) < 24:
            report.add(WARNING, topic, f"{name} has {len(token)} characters: 24 or more is safer.", f"Use {make}.")
        else:
            report.add(OK, topic, f"{name} is set ({len(token)} characters).")
    if len(tokens) > 1:
        report.add(
            WARNING,
            topic,
            f"{len(tokens)} tokens are accepted (a rotation under way).",
            "Once AT's dashboard uses only the first, remove the others from AT_WEBHOOK_TOKEN.",
        )


def check_url_token(report: Report, base: BaseUrl) -> None:
    """A token carried by the base URL (a callback URL pasted whole) must be one the hub accepts."""
    if base.token is None:
        return
    topic = "Token in the base URL"
    matches = [constant_time_compare(base.token, t) for t in settings.AT_WEBHOOK_TOKEN]
    if not any(matches):
        report.add(
            ERROR,
            topic,
            "The token in the base URL is not one AT_WEBHOOK_TOKEN accepts: every callback sent there is refused "
            "(403).",
            "Paste the URLs below into AT's dashboard (they carry the right token), or add that token to "
            "AT_WEBHOOK_TOKEN.",
        )
    elif not matches[0]:
        report.add(
            WARNING,
            topic,
            "The base URL carries an older token of AT_WEBHOOK_TOKEN (not the first).",
            "Update AT's dashboard to the URLs below before removing the old token.",
        )
    else:
        report.add(OK, topic, "The base URL carries the current webhook token.")


# --- Web settings against the public URL -----------------------------------------------


def check_web_settings(report: Report, base: BaseUrl) -> None:
    https = base.scheme == "https"
    public = not base.loopback
    if settings.DEBUG:
        report.add(
            ERROR if public else WARNING,
            "DEBUG",
            "DEBUG is on" + (f" while {base.host} is public: error pages show settings and code." if public else "."),
            "Set DEBUG=false.",
        )
    else:
        report.add(OK, "DEBUG", "DEBUG is off.")
    if validate_host(base.host, settings.ALLOWED_HOSTS):
        report.add(OK, "ALLOWED_HOSTS", f"{base.host} is allowed.")
    else:
        report.add(
            ERROR,
            "ALLOWED_HOSTS",
            f"{base.host} is not in ALLOWED_HOSTS: every request for it, AT's callbacks included, gets 400 "
            "Bad Request.",
            f"Add {base.host} to ALLOWED_HOSTS.",
        )
    trusted = _origin_trusted(base.origin, settings.CSRF_TRUSTED_ORIGINS)
    report.add(
        OK if trusted else WARNING,
        "CSRF_TRUSTED_ORIGINS",
        f"{base.origin} is trusted." if trusted else f"{base.origin} is not in CSRF_TRUSTED_ORIGINS.",
        ""
        if trusted
        else f"Add {base.origin} to CSRF_TRUSTED_ORIGINS, else logging into the admin through it may "
        'fail with "CSRF verification failed".',
    )
    proxy_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if https and public and not proxy_header:
        report.add(
            ERROR if settings.SECURE_SSL_REDIRECT else WARNING,
            "Proxy header",
            "SECURE_PROXY_SSL_HEADER is not set: behind a TLS proxy or tunnel Django takes every request for plain http"
            + (
                " and redirects it, AT's callbacks included (redirect loop; AT does not follow it)."
                if settings.SECURE_SSL_REDIRECT
                else "."
            ),
            "Set SECURE_PROXY_SSL_HEADER=true (the proxy must set X-Forwarded-Proto).",
        )
    elif not https and settings.SECURE_SSL_REDIRECT:
        report.add(
            ERROR,
            "Proxy header",
            f"{base.origin} is plain http but SECURE_SSL_REDIRECT is on: AT's callbacks get a redirect, not stored.",
            "Give AT an https:// URL (a TLS proxy or tunnel), or set SECURE_SSL_REDIRECT=false on a private network.",
        )
    elif not https and public:
        report.add(
            WARNING,
            "Proxy header",
            f"{base.origin} is plain http: the token travels in clear.",
            "Serve it through HTTPS (a TLS proxy or tunnel).",
        )
    else:
        report.add(OK, "Proxy header", "https through SECURE_PROXY_SSL_HEADER." if https and public else "Local URL.")


def _origin_trusted(origin: str, trusted) -> bool:
    for entry in trusted:
        if entry == origin:
            return True
        scheme, _, host = entry.partition("://")
        if host.startswith("*.") and origin.startswith(scheme + "://") and origin.split("://", 1)[1].endswith(host[1:]):
            return True
    return False


# --- The callback URLs -----------------------------------------------------------------


def callback_urls(base: BaseUrl) -> list[CallbackUrl]:
    """The URL to paste into each callback field of AT's dashboard, with the current (first) token."""
    tokens = settings.AT_WEBHOOK_TOKEN
    query = f"?token={quote(tokens[0], safe='')}" if tokens else ""
    return [
        CallbackUrl(
            name,
            DASHBOARD_FIELDS.get(name, name),
            f"{base.origin}{base.prefix}{kind.path}{query}",
            kind.view is CallbackView,
        )
        for name, kind in kinds().items()
    ]


# --- The self-test ---------------------------------------------------------------------


def run_self_test(report: Report, base: BaseUrl, *, timeout: float = 10.0) -> None:
    """Post a marker-only callback of each passive kind through the public URL; find each row stored; delete them."""
    token = base.token if base.token is not None else (settings.AT_WEBHOOK_TOKEN or [""])[0]
    session = requests.Session()
    for name, kind in kinds().items():
        if kind.view is not CallbackView:
            continue
        topic = f"Self-test {name}"
        nonce = secrets.token_hex(8)
        url = f"{base.origin}{base.prefix}{kind.path}"
        try:
            response = session.post(
                url, params={"token": token}, data={MARKER_FIELD: nonce}, timeout=timeout, allow_redirects=False
            )
        except requests.RequestException as exc:
            report.add(
                ERROR,
                topic,
                f"{url} could not be reached: {type(exc).__name__}.",
                "Is the server running, and the tunnel or proxy up and pointing at it?",
            )
            continue
        rows = kind.model.objects.filter(**{f"payload__{MARKER_FIELD}": nonce})
        stored = rows.exists()
        rows.delete()
        status = response.status_code
        if stored:
            report.add(OK, topic, f"posted through {base.origin}, stored, removed (answered {status}).")
        elif status == 403:
            report.add(
                ERROR,
                topic,
                f"{url} refused the token (403): "
                + (
                    "the token in the base URL is wrong."
                    if base.token is not None
                    else "that server does not accept AT_WEBHOOK_TOKEN."
                ),
                "Use the URLs of this report, with their token; check AT_WEBHOOK_TOKEN and AT_WEBHOOK_ALLOWED_IPS "
                "on the server.",
            )
        elif 300 <= status < 400:
            report.add(
                ERROR,
                topic,
                f"{url} answered a redirect ({status}) to {response.headers.get('Location', '?')}: AT does not "
                "follow it.",
                "Set SECURE_PROXY_SSL_HEADER=true behind a TLS proxy, or give AT the final URL.",
            )
        elif status == 404:
            report.add(
                ERROR, topic, f"{url} answered 404: the path does not reach this hub.", "Check the proxy's path prefix."
            )
        elif status == 400 and "application/json" not in response.headers.get("Content-Type", ""):
            report.add(
                ERROR, topic, f"{url} answered 400 Bad Request (not ours).", f"Add {base.host} to ALLOWED_HOSTS."
            )
        else:
            report.add(
                ERROR,
                topic,
                f"{url} answered {status} but nothing was stored in this hub's database.",
                "The URL reaches another server (an old tunnel, another deployment): point it at this one.",
            )
