"""Benchmark: queue a 10,000-recipient SMS batch, then drain it with one worker.

    .venv/bin/python bench/sms_send.py                           # SQLite (a fresh file)
    scripts/with-postgres .venv/bin/python bench/sms_send.py     # PostgreSQL

It queues the batch twice — through the service (`sms.services.queue_sms`) and
through the admin's compose form (a real POST, as staff would) — then starts one
`manage.py worker` process against a stub AT on loopback that answers at
once, and reports the time to queue and the recipients sent per second.
Targets (2-core machine): queueing 10,000 under 2 s; one worker >= 2,000/s.
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))


class StubAT(BaseHTTPRequestHandler):
    """AT's SMS send API, answering at once: every recipient accepted."""

    counter = 0
    lock = threading.Lock()

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode())
        numbers = form["to"][0].split(",")
        with StubAT.lock:
            first = StubAT.counter
            StubAT.counter += len(numbers)
        recipients = [
            {
                "statusCode": 101,
                "number": n,
                "status": "Success",
                "cost": "KES 0.8000",
                "messageId": f"ATXid_{first + i}",
            }
            for i, n in enumerate(numbers)
        ]
        body = json.dumps({"SMSMessageData": {"Message": f"Sent to {len(numbers)}", "Recipients": recipients}}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    args = parser.parse_args()

    stub = ThreadingHTTPServer(("127.0.0.1", 0), StubAT)
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    env = {
        **os.environ,
        "AT_ENV_FILE": "",
        "DEBUG": "false",
        "SECRET_KEY": "bench-only-secret-key",
        "SECURE_SSL_REDIRECT": "false",
        "AT_WEBHOOK_TOKEN": "bench",
        "AT_API_KEY": "bench-key",
        "AT_API_URL": f"http://127.0.0.1:{stub.server_port}",
        "AT_API_MAX_RECIPIENTS": str(args.recipients),
        "LOG_LEVEL": "WARNING",
        "ALLOWED_HOSTS": "testserver",
    }
    if "DATABASE_URL" not in env:
        db_file = BASE_DIR / "bench" / "results" / "bench.sqlite3"
        db_file.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_file}{suffix}").unlink(missing_ok=True)
        env["DATABASE_URL"] = f"sqlite:///{db_file}"
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "atproject.settings"

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from hub.outbound import OutboundStatus
    from sms.models import OutboundMessage
    from sms.services import queue_sms

    call_command("migrate", verbosity=0)
    OutboundMessage.objects.all().delete()
    from hub import queue

    queue.clear()

    phones = [f"+2547{10_000_000 + i:08d}" for i in range(args.recipients)]
    print(f"database: {connection.vendor}; recipients per batch: {args.recipients:,}")

    started = time.perf_counter()
    queue_sms(phones, "Benchmark message")
    service_seconds = time.perf_counter() - started
    print(f"queue via service:      {service_seconds:6.2f} s")

    User = get_user_model()
    staff = User.objects.filter(username="bench").first() or User.objects.create_superuser("bench", "", "bench")
    browser = Client()
    browser.force_login(staff)
    started = time.perf_counter()
    response = browser.post(
        "/admin/sms/outboundbatch/compose/",
        {
            "step": "confirm",
            "confirm": "yes",
            "numbers": "\n".join(phones),
            "text": "Benchmark message",
            "sender": "bulk",
        },
    )
    form_seconds = time.perf_counter() - started
    assert response.status_code == 302, response.status_code
    print(f"queue via compose form: {form_seconds:6.2f} s")

    total = OutboundMessage.objects.filter(status=OutboundStatus.QUEUED).count()
    connection.close()
    started = time.perf_counter()
    subprocess.run(  # noqa: S603 - this project's own worker
        [
            sys.executable,
            str(BASE_DIR / "manage.py"),
            "worker",
            "--batch",
            "--interval",
            "0",
            "--no-startup-delay",
            "-v",
            "0",
        ],
        env=os.environ,
        check=True,
    )
    drain_seconds = time.perf_counter() - started
    submitted = OutboundMessage.objects.filter(status=OutboundStatus.SUBMITTED).count()
    assert submitted == total, f"{submitted} of {total} submitted"
    assert StubAT.counter == total, f"the stub accepted {StubAT.counter} for {total} messages"
    ran = [t for t in queue.tasks() if t.started_at and t.finished_at]
    busy_seconds = (max(t.finished_at for t in ran) - min(t.started_at for t in ran)).total_seconds()
    print(
        f"drain with one worker:  {drain_seconds:6.2f} s wall for {total:,} recipients "
        f"({drain_seconds - busy_seconds:.2f} s of it starting the worker process)"
    )
    print(
        f"worker throughput:      {total / busy_seconds:,.0f} recipients/s "
        f"(first task started to last finished: {busy_seconds:.2f} s)"
    )
    stub.shutdown()


if __name__ == "__main__":
    main()
