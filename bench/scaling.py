"""Benchmark: send throughput with 1, 2 and 4 workers, on the database queue and on Redis, in one run.

    scripts/with-postgres --durable .venv/bin/python bench/scaling.py
    scripts/with-postgres --durable .venv/bin/python bench/scaling.py --messages 4000 --workers 1,2,4,8

For each backend (TASKS_BACKEND=database, then redis: a throwaway redis-server
on loopback, with RQ's forking workers and with `worker --no-fork`) and each
number of workers, it starts that many
`manage.py worker` processes and the local AT simulator (answering each send
after --latency seconds, as AT takes time to answer), queues --messages SMS
through the service (`queue_sms`: one task per AT_SMS_CHUNK_SIZE recipients),
and measures from the moment the batch commits until AT's answer is stored for
every message (`submitted`, or `rejected` where the simulator refuses a number).
Messages per second = messages / that time.

It refuses a PostgreSQL that may lose acknowledged writes (fsync or
synchronous_commit off): `scripts/with-postgres --durable`. Run it on an
otherwise quiet machine; it prints the load average before and after.
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
MANAGE = [sys.executable, str(BASE_DIR / "manage.py")]
SIM_KEY = "bench-simulator-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit(f"timed out waiting for {what}")


def base_env(args, sim_port: int) -> dict:
    return {
        **os.environ,
        "AT_ENV_FILE": "",
        "DJANGO_SETTINGS_MODULE": "atproject.settings",
        "DEBUG": "false",
        "SECRET_KEY": "bench-only-secret-key",
        "SECURE_SSL_REDIRECT": "false",
        "AT_WEBHOOK_TOKEN": "bench",
        "AT_API_KEY": SIM_KEY,
        "AT_API_URL": f"http://127.0.0.1:{sim_port}",
        "AT_SMS_CHUNK_SIZE": str(args.chunk),
        "AT_SHORTCODE": "8995",
        "LOG_LEVEL": "WARNING",
    }


# --- One backend, every worker count (a process of its own: TASKS_BACKEND is read at start-up) ---------------


def run_backend(args) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from bench.durable import describe_database
    from hub import queue
    from hub.outbound import OutboundStatus
    from sms.models import OutboundBatch, OutboundMessage
    from sms.services import queue_sms

    call_command("migrate", verbosity=0)
    print(json.dumps({"database": describe_database(connection)}), flush=True)
    phones = [f"+2547{10_000_000 + i:08d}" for i in range(args.messages)]
    for workers in [int(w) for w in args.workers.split(",")]:
        OutboundMessage.objects.all().delete()
        OutboundBatch.objects.all().delete()
        queue.clear()
        connection.close()
        processes = [
            subprocess.Popen(  # noqa: S603 - this project's own worker
                [*MANAGE, "worker", "--interval", "0.05", "--no-startup-delay", "-v", "0", *args.worker_option],
                env=os.environ,
                stdout=subprocess.DEVNULL,
                start_new_session=True,
            )
            for _ in range(workers)
        ]
        try:
            time.sleep(args.warmup)  # every worker has started and is waiting for tasks
            started = time.perf_counter()
            batch = queue_sms(phones, "Scaling benchmark")  # commits: the tasks are enqueued (published)
            while True:
                left = batch.messages.filter(status__in=[OutboundStatus.QUEUED, OutboundStatus.SENDING]).count()
                if not left:
                    break
                if time.perf_counter() - started > args.timeout:
                    sys.exit(f"{left} of {args.messages} not submitted after {args.timeout} s")
                time.sleep(0.05)
            seconds = time.perf_counter() - started
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
        attempts = set(OutboundMessage.objects.values_list("attempts", flat=True))
        assert attempts == {1}, f"every message sent once, not {attempts}"
        statuses = dict(Counter(OutboundMessage.objects.values_list("status", flat=True)))
        print(
            json.dumps(
                {"backend": queue.backend_name(), "workers": workers, "seconds": seconds,
                 "per_second": args.messages / seconds, "statuses": statuses}
            ),
            flush=True,
        )  # fmt: skip


# --- The run: simulator, Redis, one child per backend ---------------------------------------------------------


def start_redis() -> tuple[subprocess.Popen, str, str, str]:
    path = shutil.which("redis-server")
    if path is None:
        sys.exit("redis-server is missing (Debian: apt-get install redis-server)")
    port, folder = free_port(), tempfile.mkdtemp(prefix="atproject-bench-redis-")
    process = subprocess.Popen(  # noqa: S603
        [path, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", folder],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import redis

    wait_until(lambda: redis.Redis(port=port, socket_connect_timeout=1).ping(), 10, "redis-server")
    version = redis.Redis(port=port).info()["redis_version"]
    return process, f"redis://127.0.0.1:{port}/0", f"Redis {version} (no persistence)", folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--chunk", type=int, default=25, help="Recipients per task and AT request (AT_SMS_CHUNK_SIZE).")
    parser.add_argument("--latency", type=float, default=0.05, help="Seconds the simulator takes to answer a send.")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument(
        "--backends", default="database,redis,redis:no-fork", help="redis:no-fork: workers started with --no-fork."
    )
    parser.add_argument("--worker-option", action="append", default=[], help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=float, default=5.0, help="Seconds the workers get to start.")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_backend(args)
        return
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("Run it on PostgreSQL: scripts/with-postgres --durable .venv/bin/python bench/scaling.py")

    sim_port = free_port()
    env = base_env(args, sim_port)
    simulator = subprocess.Popen(  # noqa: S603
        [*MANAGE, "atsim", "--port", str(sim_port), "--api-key", SIM_KEY, "--latency", str(args.latency),
         "--failure-rate", "0", "--drop-delivery-reports", "--project-url", "http://127.0.0.1:9"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    redis_server, redis_url, redis_dir = None, "", ""
    load_before = os.getloadavg()
    results, described = [], []
    try:
        wait_until(lambda: urllib.request.urlopen(f"http://127.0.0.1:{sim_port}/phone/log", timeout=1), 30, "atsim")
        for spec in args.backends.split(","):
            backend, _, mode = spec.partition(":")
            child_env = {**env, "TASKS_BACKEND": backend}
            options = ["--worker-option=--no-fork"] if mode == "no-fork" else []
            if backend == "redis":
                if redis_server is None:
                    redis_server, redis_url, about, redis_dir = start_redis()
                    described.append(about)
                child_env["REDIS_URL"] = redis_url
            child = subprocess.run(  # noqa: S603
                [sys.executable, __file__, "--child", *sys.argv[1:], *options],
                env=child_env,
                stdout=subprocess.PIPE,
                text=True,
                check=True,
            )
            for line in child.stdout.splitlines():
                record = json.loads(line)
                if "database" in record:
                    if record["database"] not in described:
                        described.insert(0, record["database"])
                else:
                    results.append({**record, "backend": spec})
    finally:
        simulator.terminate()
        if redis_server is not None:
            redis_server.terminate()
            redis_server.wait(timeout=10)
            shutil.rmtree(redis_dir, ignore_errors=True)
    load_after = os.getloadavg()
    print(f"{' | '.join(described)}; {os.cpu_count()} CPUs")
    print(
        f"{args.messages:,} SMS in tasks of {args.chunk} recipients; the simulator answers each send after "
        f"{args.latency * 1000:.0f} ms"
    )
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min)")
    print(f"{'backend':<15}{'workers':>8}{'seconds':>10}{'messages/s':>12}")
    for r in results:
        print(f"{r['backend']:<15}{r['workers']:>8}{r['seconds']:>10.2f}{r['per_second']:>12,.0f}  {r['statuses']}")


if __name__ == "__main__":
    main()
