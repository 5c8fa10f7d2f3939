"""The webhook token check: AT signs nothing, so the callback URL carries a secret.

Accepted as `?token=...` in the callback URL or as the password of HTTP Basic
auth (the user name is ignored). Every token in AT_WEBHOOK_TOKEN is accepted, so
that a new token can be rolled out before the old one is withdrawn.
"""

import base64
import binascii
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
    """True when no token is configured, or when the request offers one of them."""
    tokens = settings.AT_WEBHOOK_TOKEN
    if not tokens:
        return True
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
            logger.warning(
                "Refused a callback to %s from %s: invalid or missing webhook token",
                request.path,
                request.META.get("REMOTE_ADDR"),
            )
        return allowed
