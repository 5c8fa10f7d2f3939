"""ASGI entry point: `application`, for the production server (scripts/serve) and any other ASGI server."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "atproject.settings")

application = get_asgi_application()

from hub.startup import report_configuration  # noqa: E402 - needs the settings loaded above

report_configuration()
