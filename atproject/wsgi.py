"""WSGI entry point: `application`, for the production server (scripts/serve) and any other WSGI server."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "atproject.settings")

application = get_wsgi_application()

from hub.startup import report_configuration  # noqa: E402 - needs the settings loaded above

report_configuration()
