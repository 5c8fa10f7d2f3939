"""What a server process says about its configuration when it starts (system checks do not run under one)."""

import logging

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger("atproject")

NO_SECRET_KEY = (
    "SECRET_KEY is not set. Set it in the environment or in .env (DEBUG=true allows an insecure development key)."
)


def require_secret_key() -> None:
    """A web server or a worker refuses to start in production without SECRET_KEY (sessions, CSRF and every
    signed value would change with each process)."""
    if getattr(settings, "SECRET_KEY_MISSING", False):
        raise ImproperlyConfigured(NO_SECRET_KEY)


def report_configuration() -> None:
    """Refuse to start without what a server cannot run without; log, once per server start, what makes the
    server refuse work it would otherwise take."""
    require_secret_key()
    if not settings.AT_WEBHOOK_TOKEN and not settings.DEBUG:
        logger.error(
            "AT_WEBHOOK_TOKEN is not set and DEBUG is off: every AT callback will be refused (403). "
            "Set AT_WEBHOOK_TOKEN and add ?token=<it> to the callback URLs in AT's dashboard."
        )
