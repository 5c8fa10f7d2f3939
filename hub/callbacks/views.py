"""The one callback view: authenticate → check size → parse → store and apply → answer.

Apps answer differently (USSD screens, voice XML) by overriding `respond()`; the
path to it is the same for every kind.
"""

import json
import logging
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, connections, router
from django.http import HttpResponse
from rest_framework.exceptions import MethodNotAllowed
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from hub.api import IgnoreAcceptHeader, PayloadTooLarge, ServiceUnavailable

from .auth import WebhookSourcePermission, WebhookTokenPermission
from .deadline import database_deadline
from .ingest import Outcome, ingest
from .models import Arrival
from .network import client_ip
from .payload import parse_body
from .registry import CallbackKind
from .spool import spool

logger = logging.getLogger("hub.callbacks")


def read_body(request) -> bytes:
    """The body, refused with 413 above AT_CALLBACK_MAX_BYTES (before Django's own 400)."""
    limit = settings.AT_CALLBACK_MAX_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise PayloadTooLarge(f"Request body too large: {declared} bytes, the limit is {limit}.")
    body = request.body
    if len(body) > limit:
        raise PayloadTooLarge(f"Request body too large: the limit is {limit} bytes.")
    return body


class CallbackView(APIView):
    """Receives one kind of AT callback (`kind`, set by `callback_path`)."""

    #: Set by `callback_path` (`as_view(kind=...)`, which needs the class attribute to exist); a mounted view
    #: always has one, so it is typed without None.
    kind: CallbackKind[Any] = None  # type: ignore[assignment]
    http_method_names = ["post"]
    authentication_classes = ()
    permission_classes = (WebhookSourcePermission, WebhookTokenPermission)
    throttle_classes = ()
    parser_classes = ()  # the body is parsed by `parse_body`, with our size limit
    renderer_classes = (JSONRenderer,)
    content_negotiation_class = IgnoreAcceptHeader

    def initial(self, request, *args, **kwargs):
        # A wrong method is 405 whatever the token: say the real problem first.
        if request.method.lower() not in self.http_method_names:
            raise MethodNotAllowed(request.method)
        super().initial(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        arrival = Arrival.now()
        django_request = request._request
        body = read_body(django_request)
        parsed = parse_body(body, django_request.content_type, django_request)
        connection = connections[router.db_for_write(self.kind.model)]
        try:
            with database_deadline(connection, settings.AT_CALLBACK_DB_TIMEOUT) as deadline:
                outcome = self.store(parsed, client_ip(django_request), arrival, deadline)
        except (OperationalError, InterfaceError):
            keep = (self.kind.name, django_request.content_type, body, client_ip(django_request))
            try:
                response = self.unavailable()
            except ServiceUnavailable:
                spool(*keep, received_at=arrival.at)
                raise
            answer = json.dumps(response.data) if hasattr(response, "data") else response.content.decode()
            spool(*keep, received_at=arrival.at, answer=answer)
            return response
        if outcome.error:
            return self.refuse(outcome)
        return self.respond(outcome)

    def store(self, parsed, source_ip, arrival: Arrival, deadline) -> Outcome:
        """`ingest`, once more on a fresh connection when the kept one turns out to be broken.

        CONN_HEALTH_CHECKS would cost a `SELECT 1` before every callback; here a
        connection that died (a PostgreSQL restart, a failover) is found by the
        first statement instead, and the callback stored on a new connection.
        When the database is really down, or did not answer before the deadline
        (AT_CALLBACK_DB_TIMEOUT), that fails too and the caller spools.
        """
        connection = deadline.connection
        # Only a server connection can die between requests (an SQLite file is reopened for each).
        kept = connection.vendor == "postgresql" and connection.connection is not None
        connection.health_check_done = True
        try:
            return ingest(self.kind, parsed, source_ip=source_ip, arrival=arrival)
        except (OperationalError, InterfaceError):
            if not kept or connection.in_atomic_block or deadline.expired:
                raise
            logger.warning("The database connection was broken; storing the callback on a new one")
            connection.close()
            return ingest(self.kind, parsed, source_ip=source_ip, arrival=arrival)

    #: Interactive callbacks (USSD, voice, airtime validation) are answered with
    #: content that AT shows or acts on, and never fail the caller.
    interactive = False

    def unavailable(self):
        """The answer when the database is down (the callback was spooled): 503, so that AT retries later."""
        raise ServiceUnavailable()

    def refuse(self, outcome: Outcome):
        """The answer to a stored but invalid callback."""
        return Response({"error": outcome.error}, status=400)

    def respond(self, outcome: Outcome):
        """The answer to a stored callback: AT only needs a fast 200."""
        return HttpResponse("OK", content_type="text/plain")
