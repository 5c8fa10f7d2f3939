"""`GET /healthz`: 200 when the database answers (503 otherwise), with the task queue's state.

The queue part tells monitoring how many tasks wait, how long the oldest has
waited, and when a worker was last seen: a growing queue with no recent worker
means sends are not going out. `at.recent_failure` says when calling AT last
failed (unreachable, no answer, 5xx, refused credentials) in the last 15
minutes, unless AT has answered since.
"""

from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.views.decorators.http import require_safe

from .gateway import last_unreachable
from .maintenance import queue_health

#: Sections apps add to /healthz (name → a function returning JSON-able data), e.g. the alerts' open incidents.
_sections: dict = {}


def health_section(name: str):
    """Register a function whose result /healthz reports under `name` (apps call it in `ready()`)."""

    def register(function):
        _sections[name] = function
        return function

    return register


@require_safe
def healthz(request):
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        queue = queue_health()
        at = last_unreachable()
        sections = {name: function() for name, function in _sections.items()}
    except DatabaseError:
        return JsonResponse({"status": "unavailable", "database": "unavailable"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok", "queue": queue, "at": {"recent_failure": at}, **sections})
