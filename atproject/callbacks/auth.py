"""The webhook token check: AT signs nothing, so the callback URL carries a secret.

Accepted as `?token=...` in the callback URL or as the password of HTTP Basic
auth (the user name is ignored). Every token in AT_WEBHOOK_TOKEN is accepted, so
that a new token can be rolled out before the old one is withdrawn.
"""

import base64
import binascii
import functools
import ipaddress
import logging

from django.conf import settings
from django.utils.crypto import constant_time_compare
from rest_framework.permissions import BasePermission

logger = logging.getLogger("atproject.callbacks")


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


@functools.cache
def networks(cidrs: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs if c.strip())


def _address(text: str):
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _within(address, nets) -> bool:
    return any(address.version == net.version and address in net for net in nets)


class WebhookSourcePermission(BasePermission):
    """When AT_WEBHOOK_ALLOWED_IPS is set, callbacks only from those networks (an extra layer; AT publishes none)."""

    message = "Callbacks are not accepted from this address."

    def has_permission(self, request, view) -> bool:
        allowed = networks(tuple(settings.AT_WEBHOOK_ALLOWED_IPS))
        if not allowed:
            return True
        from .views import client_ip

        source = _address(client_ip(request._request) or "")
        if source is not None and _within(source, allowed):
            return True
        logger.warning("Refused a callback to %s from %s: not in AT_WEBHOOK_ALLOWED_IPS", request.path, source)
        return False
