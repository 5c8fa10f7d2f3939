"""What a server process says about its configuration when it starts (system checks do not run under one)."""

import logging

from django.conf import settings

logger = logging.getLogger("atproject")


def report_configuration() -> None:
    """Log, once per server start, what makes the server refuse work it would otherwise take."""
    if not settings.AT_WEBHOOK_TOKEN and not settings.DEBUG:
        logger.error(
            "AT_WEBHOOK_TOKEN is not set and DEBUG is off: every AT callback will be refused (403). "
            "Set AT_WEBHOOK_TOKEN and add ?token=<it> to the callback URLs in AT's dashboard."
        )
