"""Notifications of incidents: e-mail to AT_ALERT_EMAILS, a JSON POST to each of AT_ALERT_WEBHOOK_URLS.

Every opening and resolution is told to each channel by its own task
(alerts/tasks.py, enqueued once the incident's transaction commits), retried
with exponential backoff when the channel fails; each try is a
`NotificationAttempt`. The webhook body has a `text` field, so that a Slack or
Teams incoming webhook shows it as it is, and the structured fields next to it:
rule, kind, key, severity, state (opened, resolved or test), summary, figures,
opened_at / resolved_at (ISO 8601) and link.

Links are absolute when settings define AT_PUBLIC_BASE_URL (e.g.
https://hub.example.com); otherwise they are the admin's paths (/admin/...),
as nothing here knows the host staff reach the admin by.

Nothing sent carries the API key, a webhook token, an alert webhook's URL or,
unless AT_LOG_PII is on, a phone number (masked as in the logs): `scrub` runs
over every text and figure that leaves.
"""

import logging
from datetime import datetime, timedelta
from decimal import Decimal
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.mail import EmailMessage
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from hub.callbacks.payload import mask_phones_in

from .models import Channel, Incident, NoticeEvent, NotificationAttempt

logger = logging.getLogger("atproject.alerts")

#: Seconds to connect to a webhook, and to wait for its answer.
CONNECT_TIMEOUT = 3
READ_TIMEOUT = 5
#: Tries per notification and channel; the waits between them double: 4, 8, 16, 32 minutes (an hour in all).
MAX_ATTEMPTS = 5
FIRST_RETRY = timedelta(minutes=4)


def retry_delay(attempt: int) -> timedelta:
    """The wait after try `attempt` failed: 4 minutes, doubled after each try."""
    return FIRST_RETRY * 2 ** (attempt - 1)


# --- What never leaves -----------------------------------------------------------------------


def _secrets() -> list[str]:
    values = [getattr(settings, "AT_API_KEY", ""), getattr(settings, "AT_METRICS_TOKEN", "")]
    values += list(getattr(settings, "AT_WEBHOOK_TOKEN", []) or [])
    return sorted({v for v in values if v and len(v) >= 4}, key=len, reverse=True)


def scrub(text) -> str:
    """`text` fit to leave: secrets and alert webhook URLs replaced, phone numbers masked (unless AT_LOG_PII)."""
    text = str(text)
    for index, url in enumerate(settings.AT_ALERT_WEBHOOK_URLS):
        if not url:
            continue
        text = text.replace(url, describe_webhook(url, index))
        # Errors of the HTTP client name the URL's path ("Max retries exceeded with url: /services/T…/B…/x").
        parts = urlsplit(url)
        for piece in (f"{parts.path}?{parts.query}", parts.path, parts.query):
            if len(piece) > 1 and piece != "/?":
                text = text.replace(piece, "/…")
    for secret in _secrets():
        text = text.replace(secret, "[redacted]")
    return text if settings.AT_LOG_PII else mask_phones_in(text)


def scrub_data(value):
    """`scrub` over every string of the data (keys kept); amounts as text and times in ISO 8601, for JSON."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: scrub_data(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub_data(item) for item in value]
    if isinstance(value, str):
        return scrub(value)
    return value


def describe_webhook(url: str, index: int) -> str:
    """A webhook as staff may see it: its number and host (the path of a Slack or Teams URL is its secret)."""
    parts = urlsplit(url)
    return f"webhook {index + 1}: {parts.scheme}://{parts.hostname or '?'}/…"


# --- What is sent ------------------------------------------------------------------------------


def absolute(path: str) -> str:
    """`path` on AT_PUBLIC_BASE_URL when settings define it; the path itself otherwise."""
    base = (getattr(settings, "AT_PUBLIC_BASE_URL", "") or "").rstrip("/")
    return f"{base}{path}" if base and path.startswith("/") else path


def _local(moment) -> str:
    return date_format(timezone.localtime(moment), "j M Y, H:i:s T") if moment else ""


def message(incident: Incident | None, event: str) -> tuple[str, str, dict]:
    """(subject, text, webhook body) telling of `event` (opened, resolved, test) on `incident`."""
    if incident is None:
        now = timezone.now()
        link = absolute(reverse("admin:alerts_alertrule_changelist"))
        text = f"Test notification from the AT hub: alerts reach this channel. Sent {_local(now)}. Rules: {link}"
        body = {
            "text": text, "rule": "Test notification", "kind": "test", "key": "", "severity": "info",
            "state": NoticeEvent.TEST.value, "summary": "Alerts reach this channel.", "figures": {},
            "opened_at": now.isoformat(), "resolved_at": None, "link": link, "incident": None,
        }  # fmt: skip
        return "[AT hub] Test notification", scrub(text), scrub_data(body)
    rule = incident.rule
    about = f" [{incident.key}]" if incident.key else ""
    link = absolute(incident.link or reverse("admin:index"))
    incident_link = absolute(reverse("admin:alerts_incident_change", args=[incident.pk]))
    if event == NoticeEvent.RESOLVED:
        when = f"Resolved {_local(incident.resolved_at)} (open since {_local(incident.opened_at)})."
        headline = f"RESOLVED: {rule.name}{about}"
    else:
        when = f"Open since {_local(incident.opened_at)}."
        headline = f"{incident.severity.upper()}: {rule.name}{about}"
    text = f"{headline}\n{incident.summary}\n{when}\nCause: {link}\nIncident: {incident_link}"
    body = {
        "text": text,
        "rule": rule.name,
        "kind": rule.kind,
        "key": incident.key,
        "severity": incident.severity,
        "state": event,
        "summary": incident.summary,
        "figures": incident.figures,
        "opened_at": incident.opened_at.isoformat(),
        "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
        "link": link,
        "incident_link": incident_link,
        "incident": incident.pk,
    }
    return f"[AT hub] {headline}", scrub(text), scrub_data(body)


# --- Channels ----------------------------------------------------------------------------------


def targets() -> list[tuple[str, int]]:
    """Every (channel, index) to tell: one e-mail to all AT_ALERT_EMAILS, each of AT_ALERT_WEBHOOK_URLS."""
    found = [(Channel.EMAIL.value, 0)] if settings.AT_ALERT_EMAILS else []
    return found + [(Channel.WEBHOOK.value, i) for i in range(len(settings.AT_ALERT_WEBHOOK_URLS))]


def target_label(channel: str, index: int) -> str:
    if channel == Channel.EMAIL:
        return ", ".join(settings.AT_ALERT_EMAILS)
    urls = settings.AT_ALERT_WEBHOOK_URLS
    return describe_webhook(urls[index], index) if index < len(urls) else f"webhook {index + 1} (no longer set)"


def _send_email(subject: str, text: str) -> tuple[bool, int | None, str]:
    mail = EmailMessage(scrub(subject), text, settings.DEFAULT_FROM_EMAIL, list(settings.AT_ALERT_EMAILS))
    mail.send(fail_silently=False)
    return True, None, ""


def _post_webhook(index: int, body: dict) -> tuple[bool, int | None, str]:
    urls = settings.AT_ALERT_WEBHOOK_URLS
    if index >= len(urls):
        return False, None, "this webhook is no longer in AT_ALERT_WEBHOOK_URLS"
    answer = requests.post(
        urls[index],
        json=body,
        timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
        allow_redirects=False,  # a redirect could take the body elsewhere: it counts as a failure
        headers={"User-Agent": "atproject-alerts"},
    )
    if 200 <= answer.status_code < 300:
        return True, answer.status_code, ""
    return False, answer.status_code, f"HTTP {answer.status_code}: {answer.text[:200]}"


def deliver(incident: Incident | None, event: str, channel: str, index: int, attempt: int = 1) -> NotificationAttempt:
    """Tell one channel of `event` once; the try is recorded (and returned), whatever happened."""
    subject, text, body = message(incident, event)
    try:
        if channel == Channel.EMAIL:
            success, status, error = _send_email(subject, text)
        else:
            success, status, error = _post_webhook(index, body)
    except Exception as exc:  # any failure of the channel is recorded, and retried
        success, status, error = False, None, f"{type(exc).__name__}: {exc}"
    if not success:
        logger.warning("Alert notification (%s, %s) failed: %s", event, channel, scrub(error))
    return NotificationAttempt.objects.create(
        incident=incident,
        event=event,
        channel=channel,
        target=target_label(channel, index)[:500],
        attempt=attempt,
        at=timezone.now(),
        success=success,
        status_code=status,
        error=scrub(error)[:500],
    )


def send_test() -> list[NotificationAttempt]:
    """A test notice to every channel, now (not through the queue): the admin shows each result."""
    return [deliver(None, NoticeEvent.TEST, channel, index) for channel, index in targets()]
