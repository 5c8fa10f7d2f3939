"""`GET /healthz`: 200 when the database answers (503 otherwise), with the task queue's state.

The queue part tells monitoring how many tasks wait, how long the oldest has
waited, and when a worker was last seen: a growing queue with no recent worker
means sends are not going out.
"""

from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.views.decorators.http import require_safe

from .maintenance import queue_health


@require_safe
def healthz(request):
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        queue = queue_health()
    except DatabaseError:
        return JsonResponse({"status": "unavailable", "database": "unavailable"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok", "queue": queue})
