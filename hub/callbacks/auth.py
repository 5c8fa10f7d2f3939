"""The webhook token check: AT signs nothing, so the callback URL carries a secret.

Accepted as `?token=...` in the callback URL or as the password of HTTP Basic
auth (the user name is ignored). Every token in AT_WEBHOOK_TOKEN is accepted, so
that a new token can be rolled out before the old one is withdrawn.
"""

import base64
import binascii
import logging

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.utils.crypto import constant_time_compare
from rest_framework.permissions import BasePermission

from .network import address, client_ip, networks, within

logger = logging.getLogger("hub.callbacks")


def count_refusal(request, reason: str) -> None:
    """Add one to this hour's refused callbacks for the path (never the token). Never fails the request."""
    from django.db import DatabaseError
    from django.utils import timezone

    from hub.models import RefusedCallback

    now = timezone.now()
    hour = now.replace(minute=0, second=0, microsecond=0)
    source = client_ip(request)
    try:
        updated = RefusedCallback.objects.filter(hour=hour, path=request.path[:200], reason=reason).update(
            count=models.F("count") + 1, last_source_ip=source, last_at=now
        )
        if not updated:
            try:
                with transaction.atomic():
                    RefusedCallback.objects.create(
                        hour=hour, path=request.path[:200], reason=reason, count=1, last_source_ip=source, last_at=now
                    )
            except IntegrityError:  # created by a concurrent refusal: count on it
                RefusedCallback.objects.filter(hour=hour, path=request.path[:200], reason=reason).update(
                    count=models.F("count") + 1, last_source_ip=source, last_at=now
                )
    except DatabaseError:
        logger.warning("Could not count a refused callback (database unavailable)")


def _basic_auth_password(request) -> str | None:
    scheme, _, credentials = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "basic" or not credentials:
        return None
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    _user, sep, password = decoded.partition(":")
    return password if sep else None


def supplied_tokens(request) -> list[str]:
    """The secrets a request offers: the `token` query parameter and the Basic auth password."""
    offered = [request.GET.get("token"), _basic_auth_password(request)]
    return [t for t in offered if t]


def token_is_valid(request) -> bool:
    """True when the request offers one of the configured tokens.

    With no token configured, only a development server (DEBUG on) takes
    callbacks: in production an empty AT_WEBHOOK_TOKEN refuses them all, rather
    than serve them to anyone (system checks do not run under a WSGI server).
    """
    tokens = settings.AT_WEBHOOK_TOKEN
    if not tokens:
        return settings.DEBUG
    offered = supplied_tokens(request)
    # Compare against every token, without stopping early, to leak no timing.
    matches = [constant_time_compare(o, t) for o in offered for t in tokens]
    return any(matches)


class WebhookTokenPermission(BasePermission):
    """DRF permission for callback views; refused requests are answered 403 and not stored."""

    message = "Invalid or missing webhook token: add ?token=<AT_WEBHOOK_TOKEN> to the callback URL."

    def has_permission(self, request, view) -> bool:
        allowed = token_is_valid(request._request)
        if not allowed:
            count_refusal(request._request, "no token configured" if not settings.AT_WEBHOOK_TOKEN else "token")
        if not allowed and not settings.AT_WEBHOOK_TOKEN:
            self.message = "Callbacks are refused: AT_WEBHOOK_TOKEN is not set on this server."
            logger.error("Refused a callback to %s: AT_WEBHOOK_TOKEN is not set (DEBUG is off)", request.path)
        elif not allowed:
            logger.warning(
                "Refused a callback to %s from %s: invalid or missing webhook token",
                request.path,
                request.META.get("REMOTE_ADDR"),
            )
        return allowed


class WebhookSourcePermission(BasePermission):
    """When AT_WEBHOOK_ALLOWED_IPS is set, callbacks only from those networks (an extra layer; AT publishes none)."""

    message = "Callbacks are not accepted from this address."

    def has_permission(self, request, view) -> bool:
        allowed = networks(tuple(settings.AT_WEBHOOK_ALLOWED_IPS))
        if not allowed:
            return True
        source = address(client_ip(request._request) or "")
        if source is not None and within(source, allowed):
            return True
        count_refusal(request._request, "address")
        logger.warning("Refused a callback to %s from %s: not in AT_WEBHOOK_ALLOWED_IPS", request.path, source)
        return False
