"""Benchmark: what one callback costs in-process: statements, round trips and CPU per request.

    scripts/with-postgres --durable .venv/bin/python bench/hot_path.py
    scripts/with-postgres --durable .venv/bin/python bench/hot_path.py --profile dlr

No HTTP server and no load generator: the WSGI application is called in this
process, one request after the other, exactly as a server's worker thread calls
it (the response read and closed, so Django's request_finished runs). That
makes the figures steady on a busy machine, where throughput is not:

- statements per request (each SQL statement Django sends, savepoints included)
  and round trips (those plus BEGIN and COMMIT for every transaction opened);
- CPU milliseconds per request of this process (our Python, Django, the
  driver) and of the PostgreSQL backend serving its connection.

Scenarios, as bench/http_load.py sends them: `bare` (a view answering "OK"),
`floor` (one autocommitted INSERT of the report: durably storing it, at the
least), `dlr` (distinct delivery reports for known messages, stored and
linked) and `ussd` (fresh USSD sessions walking the demo menu: "", "1", "1*1").
`--profile NAME` prints cProfile's heaviest functions for one scenario.
"""

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
TOKEN = "bench-webhook-token"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SHOW_STATEMENTS = False


def body_for(name: str, n: int) -> tuple[str, str, bytes]:
    """(path, query string, form body) of the n-th request of a scenario (the wrk scripts' requests)."""
    if name == "bare":
        return "/bench/ok", "", b""
    if name == "floor":
        return (
            "/bench/floor",
            "",
            f"id=ATXid_hot_{n}&status=Success&phoneNumber=%2B254711000000&networkCode=63902".encode(),
        )
    if name == "dlr":
        body = f"id=ATXid_hot_{n}&status=Success&phoneNumber=%2B254711{n % 1000000:06d}&networkCode=63902&retryCount=0"
        return "/api/sms/delivery-reports", f"token={TOKEN}", body.encode()
    session, step = divmod(n, 3)
    text = ("", "1", "1%2A1")[step]
    body = (
        f"sessionId=ATUid_hot_{session}&serviceCode=%2A384%2A123%23&phoneNumber=%2B254711{session % 1000000:06d}"
        f"&networkCode=63902&text={text}"
    )
    return "/api/ussd/session", f"token={TOKEN}", body.encode()


def environ_for(path: str, query: str, body: bytes) -> dict:
    return {
        "REQUEST_METHOD": "POST" if body else "GET",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": query,
        "CONTENT_TYPE": "application/x-www-form-urlencoded" if body else "",
        "CONTENT_LENGTH": str(len(body)),
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_USER_AGENT": "bench",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


class Caller:
    """Calls the WSGI application as a server would, checking each answer is a 200."""

    def __init__(self, application):
        self.application = application
        self.status = None

    def _start_response(self, status, headers, exc_info=None):
        self.status = status

    def __call__(self, name: str, n: int) -> bytes:
        result = self.application(environ_for(*body_for(name, n)), self._start_response)
        try:
            content = b"".join(result)
        finally:
            result.close()
        if not self.status.startswith("200"):
            raise SystemExit(f"{name} request {n} answered {self.status}: {content[:300]!r}")
        return content


def backend_cpu(pid: int | None) -> float:
    """CPU seconds used so far by the PostgreSQL backend `pid` (0 when it cannot be read)."""
    if pid is None:
        return 0.0
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def backend_pid(connection) -> int | None:
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def count_statements(call, name: str, start: int, requests: int) -> tuple[float, float]:
    """(SQL statements, round trips) per request, over `requests` requests.

    Round trips count BEGIN, COMMIT and savepoints too (Django records them as it sends them).
    """
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        for n in range(start, start + requests):
            call(name, n)
    trips = len(captured.captured_queries)
    control = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")
    statements = sum(1 for q in captured.captured_queries if not q["sql"].startswith(control))
    if SHOW_STATEMENTS:
        print(f"-- {name}: the statements of its last request")
        for query in captured.captured_queries[-round(trips / requests) :]:
            print("  ", query["sql"][:300])
    return statements / requests, trips / requests


def measure(call, name: str, start: int, requests: int) -> tuple[float, float]:
    """(this process's CPU ms, the PostgreSQL backend's CPU ms) per request."""
    from django.db import connection

    call(name, start)  # the connection opened before the backend is looked up
    pid = backend_pid(connection)
    before, backend_before = time.process_time(), backend_cpu(pid)
    for n in range(start + 1, start + 1 + requests):
        call(name, n)
    after, backend_after = time.process_time(), backend_cpu(pid)
    if pid is not None and backend_pid(connection) != pid:
        pid = None  # the connection was replaced meanwhile: the backend's figure would be partial
    spent = (after - before) * 1000 / requests
    return spent, ((backend_after - backend_before) * 1000 / requests) if pid is not None else float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", default="bare,floor,dlr,ussd")
    parser.add_argument("--requests", type=int, default=3000, help="requests measured per scenario and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the lowest CPU figure of each is reported")
    parser.add_argument(
        "--log-level", default="WARNING", help="LOG_LEVEL of the application (INFO logs every callback)"
    )
    parser.add_argument("--profile", metavar="SCENARIO", help="print cProfile's heaviest functions for SCENARIO")
    parser.add_argument("--statements", action="store_true", help="print the SQL of one request per scenario")
    args = parser.parse_args()
    global SHOW_STATEMENTS
    SHOW_STATEMENTS = args.statements
    os.environ.update(
        {
            "AT_ENV_FILE": "",
            "DEBUG": "false",
            "SECRET_KEY": "bench-only-secret-key",
            "SECURE_SSL_REDIRECT": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "AT_WEBHOOK_TOKEN": TOKEN,
            "LOG_LEVEL": args.log_level,
            "DJANGO_SETTINGS_MODULE": "bench.settings",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command
    from django.core.wsgi import get_wsgi_application
    from django.db import connection

    from bench.durable import describe_database
    from bench.urls import FLOOR_TABLE
    from hub.outbound import OutboundStatus, insert_rows
    from sms.models import DeliveryReport, OutboundBatch, OutboundMessage
    from ussd.models import UssdHop, UssdSession

    call_command("migrate", verbosity=0)
    print(describe_database(connection))
    scenarios = args.scenarios.split(",")
    per_round = args.requests + 1
    total = (args.rounds + 1) * per_round + 300  # rounds, the statement count, a warm-up
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {FLOOR_TABLE} (id bigserial PRIMARY KEY, body text NOT NULL, "
            "received_at timestamptz NOT NULL)"
        )
        cursor.execute(f"TRUNCATE {FLOOR_TABLE}")
    DeliveryReport.objects.all().delete()
    OutboundMessage.objects.filter(at_message_id__startswith="ATXid_hot_").delete()
    UssdHop.objects.all().delete()
    UssdSession.objects.all().delete()
    if "dlr" in scenarios:
        batch = OutboundBatch.objects.create(source="api", text="bench", recipient_count=0)
        rows = [
            {"phone": "+254711000000", "status": OutboundStatus.SUBMITTED, "at_message_id": f"ATXid_hot_{n}"}
            for n in range(total)
        ]
        insert_rows(OutboundMessage, {"batch": batch, "text": "bench"}, rows)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    connection.close()

    call = Caller(get_wsgi_application())
    print(f"{args.requests} requests per scenario and round, {args.rounds} rounds, LOG_LEVEL={args.log_level}")
    if args.profile:
        name = args.profile
        for n in range(200):
            call(name, n)
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        for n in range(200, 200 + args.requests):
            call(name, n)
        profiler.disable()
        stats = pstats.Stats(profiler).sort_stats("cumulative")
        stats.print_stats(60)
        stats.sort_stats("tottime").print_stats(40)
        return

    print(f"{'scenario':10} {'statements':>10} {'round trips':>12} {'CPU ms (Python)':>16} {'CPU ms (PostgreSQL)':>20}")
    for name in scenarios:
        for n in range(200):  # warm-up: connection, prepared statements, caches
            call(name, total - 300 + n)
        statements, trips = count_statements(call, name, 0, min(300, per_round))
        cpu = [measure(call, name, (r + 1) * per_round, args.requests) for r in range(args.rounds)]
        python = min(c[0] for c in cpu)
        backend = min(c[1] for c in cpu)
        spread = ", ".join(f"{c[0]:.3f}" for c in cpu)
        print(
            f"{name:10} {statements:10.2f} {trips:12.2f} {python:16.3f} {backend:20.3f}   [Python per round: {spread}]"
        )
    if "dlr" in scenarios:
        linked = DeliveryReport.objects.filter(message__isnull=False).count()
        print(f"delivery reports stored: {DeliveryReport.objects.count()}, linked to their message: {linked}")
    if "ussd" in scenarios:
        print(f"USSD hops stored: {UssdHop.objects.count()}, sessions: {UssdSession.objects.count()}")


if __name__ == "__main__":
    main()
