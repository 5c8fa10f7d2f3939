"""The project's URLs plus the benchmark's two anchors (never used otherwise).

- `/bench/ok`: a bare Django view answering "OK": what the server and Django cost.
- `/bench/floor`: one autocommitted INSERT of the request's body, then "OK": what
  durably storing a callback costs at the least, the floor our callbacks are
  measured against.
"""

from django.db import connection
from django.http import HttpResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from atproject.urls import urlpatterns as project_urlpatterns

FLOOR_TABLE = "bench_floor"


@csrf_exempt
def ok(request):
    return HttpResponse("OK", content_type="text/plain")


@csrf_exempt
def floor(request):
    # As the callback view does: no CONN_HEALTH_CHECKS `SELECT 1` first (one INSERT is one round trip).
    connection.health_check_done = True
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {FLOOR_TABLE} (body, received_at) VALUES (%s, %s)",  # noqa: S608 - a constant name
            [request.body.decode("utf-8", "replace"), timezone.now()],
        )
    return HttpResponse("OK", content_type="text/plain")


urlpatterns = [path("bench/ok", ok), path("bench/floor", floor), *project_urlpatterns]
