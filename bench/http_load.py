"""Benchmark: callbacks under load, against the production server and a durable PostgreSQL on loopback.

    scripts/with-postgres --durable .venv/bin/python bench/http_load.py
    scripts/with-postgres --durable .venv/bin/python bench/http_load.py --server gunicorn --paced

wrk (Debian's package; installed when missing) sends with 50 connections and no
think time (or, with --paced, 100 connections each pausing a random 0-1000 ms
before each request: about 190 requests/s, to read the tail latency of a
normal day), one scenario after the other against the same server:

- bare:  a bare Django view answering "OK" (bench/urls.py): the server's and Django's cost;
- floor: a view doing one autocommitted INSERT of the report: durably storing it, at the least;
- dlr:   distinct delivery reports for messages created beforehand, stored and linked;
- ussd:  fresh USSD sessions walking the demo menu ("", "1", "1*1");
- dlr+hooks, ussd+hooks: the same with one event-webhook endpoint registered
  for every event type (its events are written to the outbox with each report;
  no worker delivers them here): the cost of webhooks on the hot path.

It prints PostgreSQL's settings (and refuses to run with fsync or
synchronous_commit off: a 200 must mean durably stored), then requests/s, p50
and p99 latency for each scenario and its ratios to the bare view and to the
floor of its own round, and checks that nothing was lost: every delivery report
answered 200 is a row linked to its message, and every USSD hop answered 200 is
a row. It also prints where the CPU went, in milliseconds per request: the
server (our Python), PostgreSQL, wrk itself, and the time the hypervisor stole.
--server picks the server: granian (what scripts/serve runs) or gunicorn
(gunicorn.conf.py), to compare them on the same machine.
"""

import argparse
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
TOKEN = "bench-webhook-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk:
        return wrk
    print("installing wrk (Debian package) ...")
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, capture_output=True)  # noqa: S607
    return shutil.which("wrk")


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PACED = False


def _proc_stat(pid: str) -> tuple[str, int, float, float] | None:
    """(command, parent pid, own CPU seconds, reaped children's CPU seconds) of a live process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    command = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    own = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    children = (int(fields[13]) + int(fields[14])) / CLOCK_TICKS
    return command, int(fields[1]), own, children


def cpu_seconds(server_pid: int) -> dict:
    """CPU seconds used so far by the server (master and workers, recycled ones included) and by PostgreSQL.

    Exited processes count through their parent's reaped-children time; wrk is
    measured separately (it is this script's child). `steal` is the time the
    hypervisor gave our virtual CPUs to someone else.
    """
    totals = {"server": 0.0, "postgres": 0.0}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        stat = _proc_stat(pid)
        if stat is None:
            continue
        command, parent, own, children = stat
        if int(pid) == server_pid:
            totals["server"] += own + children
        elif parent == server_pid:
            totals["server"] += own
        elif command == "postgres":
            totals["postgres"] += own + children
    steal = Path("/proc/stat").read_text().split()[8]
    totals["steal"] = int(steal) / CLOCK_TICKS
    return totals


def run_wrk(wrk, port, script, duration, connections, threads) -> dict:
    env = {**os.environ, "BENCH_WRK_DIR": str(BASE_DIR / "bench" / "wrk")}
    if PACED:
        env["BENCH_PACED"] = "1"
    server_pid = int(os.environ["BENCH_SERVER_PID"])
    before, wrk_before = cpu_seconds(server_pid), resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(  # noqa: S603
        [
            wrk,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            "-s",
            str(BASE_DIR / "bench" / "wrk" / script),
            f"http://127.0.0.1:{port}",
            "--",
            TOKEN,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result = {}
    for line in out.splitlines():
        if line.startswith("RESULT "):
            result.update({k: float(v) for k, v in re.findall(r"(\w+)=([\d.]+)", line)})
    result["rps"] = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    after, wrk_after = cpu_seconds(server_pid), resource.getrusage(resource.RUSAGE_CHILDREN)
    spent = {name: after[name] - before[name] for name in after}
    spent["wrk"] = (wrk_after.ru_utime + wrk_after.ru_stime) - (wrk_before.ru_utime + wrk_before.ru_stime)
    requests = max(result.get("requests", 0), 1)
    result.update({f"cpu_{name}": seconds * 1000 / requests for name, seconds in spent.items()})
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", default="bare,floor,dlr,ussd")
    parser.add_argument("--server", choices=["granian", "gunicorn"], default="granian")
    parser.add_argument("--paced", action="store_true", help="100 connections, each pausing 0-1000 ms")
    parser.add_argument("--duration", type=int, default=15, help="seconds per scenario")
    parser.add_argument("--connections", type=int, default=None, help="default 50, or 100 when --paced")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of load before measuring")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every scenario; medians are reported")
    args = parser.parse_args()
    global PACED
    PACED = args.paced
    if args.connections is None:
        args.connections = 100 if args.paced else 50
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("Run it on PostgreSQL: scripts/with-postgres --durable .venv/bin/python bench/http_load.py")

    os.environ.update(
        {
            "AT_ENV_FILE": "",
            "DEBUG": "false",
            "SECRET_KEY": "bench-only-secret-key",
            "SECURE_SSL_REDIRECT": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "AT_WEBHOOK_TOKEN": TOKEN,
            "LOG_LEVEL": "WARNING",
            "WEB_ACCESS_LOG": "/dev/null",
            "DJANGO_SETTINGS_MODULE": "bench.settings",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    from sms.models import DeliveryReport, OutboundBatch, OutboundMessage
    from ussd.models import UssdHop, UssdSession

    call_command("migrate", verbosity=0)
    from django.db import connection as database

    from bench.durable import describe_database
    from bench.urls import FLOOR_TABLE

    print(describe_database(database))
    with database.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {FLOOR_TABLE} (id bigserial PRIMARY KEY, body text NOT NULL, "
            "received_at timestamptz NOT NULL)"
        )
    wrk = ensure_wrk()
    scenarios = args.scenarios.split(",")

    if any(name.startswith("dlr") for name in scenarios):  # messages for every report wrk can send (n up to 2M/thread)
        from hub.outbound import OutboundStatus, insert_rows

        DeliveryReport.objects.all().delete()
        OutboundMessage.objects.all().delete()
        batch = OutboundBatch.objects.create(source="api", text="bench", recipient_count=0)
        per_thread = int(args.duration + args.warmup) * 4000
        for thread in range(1, args.threads + 1):
            rows = [
                {
                    "phone": "+254711000000",
                    "status": OutboundStatus.SUBMITTED,
                    "at_message_id": f"ATXid_bench_{thread}_{n}",
                }
                for n in range(1, per_thread + 1)
            ]
            insert_rows(OutboundMessage, {"batch": batch, "text": "bench"}, rows)
        from django.db import connection as db

        with db.cursor() as cursor:  # fresh planner statistics, as autovacuum keeps them on a live database
            cursor.execute("ANALYZE")
    UssdHop.objects.all().delete()
    UssdSession.objects.all().delete()

    from django.db import connection

    connection.close()
    port = free_port()
    if args.server == "gunicorn":
        command = [sys.executable, "-m", "gunicorn", "-c", str(BASE_DIR / "gunicorn.conf.py"), "atproject.wsgi",
                   "--bind", f"127.0.0.1:{port}"]  # fmt: skip
    else:  # what scripts/serve runs
        command = [str(BASE_DIR / "scripts" / "serve")]
    server = subprocess.Popen(command, cwd=BASE_DIR, env={**os.environ, "HOST": "127.0.0.1", "PORT": str(port)})  # noqa: S603
    os.environ["BENCH_SERVER_PID"] = str(server.pid)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        mode = "paced (0-1000 ms between requests)" if args.paced else "no think time"
        print(f"{args.server} on 127.0.0.1:{port}; {args.connections} connections, {mode}, {args.duration} s each")
        scripts = {"bare": "bare.lua", "floor": "floor.lua", "dlr": "dlr.lua", "ussd": "ussd.lua"}
        rounds = []
        for _round in range(args.rounds):
            measured = {}
            for name in scenarios:
                base, hooked = name.removesuffix("+hooks"), name.endswith("+hooks")
                reset(base)
                hooks(hooked)
                if args.warmup:
                    run_wrk(wrk, port, "bare.lua", args.warmup, args.connections, args.threads)
                measured[name] = run_wrk(wrk, port, scripts[base], args.duration, args.connections, args.threads)
                if hooked:
                    from webhooks.models import Event

                    measured[name]["events"] = Event.objects.count()
                if base == "dlr":
                    measured[name]["rows"] = DeliveryReport.objects.count()
                    measured[name]["linked"] = DeliveryReport.objects.filter(message__isnull=False).count()
                if base == "ussd":
                    measured[name]["rows"] = UssdHop.objects.count()
                if base == "floor":
                    with connection.cursor() as cursor:
                        cursor.execute(f"SELECT count(*) FROM {FLOOR_TABLE}")  # noqa: S608 - a constant name
                        measured[name]["rows"] = cursor.fetchone()[0]
                connection.close()
            rounds.append(measured)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    sys.exit(report(rounds, scenarios))


def reset(name):
    """Every round starts alike: no reports yet and every message submitted; no USSD session yet."""
    from django.db import connection

    from hub.outbound import OutboundStatus
    from sms.models import DeliveryReport, OutboundMessage
    from ussd.models import UssdHop, UssdSession

    if name == "dlr":
        DeliveryReport.objects.all().delete()
        OutboundMessage.objects.update(status=OutboundStatus.SUBMITTED)
    with connection.cursor() as cursor:
        if name == "ussd":  # TRUNCATE waits for a request still finishing, where DELETE would race it
            cursor.execute(f"TRUNCATE {UssdHop._meta.db_table}, {UssdSession._meta.db_table} CASCADE")
        if name == "floor":
            from bench.urls import FLOOR_TABLE

            cursor.execute(f"TRUNCATE {FLOOR_TABLE}")
        cursor.execute("ANALYZE")


def hooks(wanted: bool) -> None:
    """One webhook endpoint for every event type, or none; then long enough for every server process to see it
    (each reads which types are wanted every WANTED_TTL seconds)."""
    from webhooks.models import Endpoint, Event, EventType
    from webhooks.wanted import WANTED_TTL

    present = Endpoint.objects.exists()
    Event.objects.all().delete()
    if wanted and not present:
        Endpoint.objects.create(url="https://93.184.215.14/bench-hook", events=list(EventType.values))
    elif not wanted and present:
        Endpoint.objects.all().delete()
    else:
        return
    time.sleep(WANTED_TTL + 1)


def report(rounds, scenarios) -> int:
    """Medians over the rounds (each ratio to the bare view of its own round); 1 if anything was lost."""
    print(f"{len(rounds)} round(s); medians (each round's figures in brackets)")
    print(f"{'scenario':10} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'vs bare':>8} {'vs floor':>9}  check")
    lost = False
    for name in scenarios:
        runs = [r[name] for r in rounds]
        ratios = [r[name]["rps"] / r["bare"]["rps"] for r in rounds if "bare" in r]
        floors = [r[name]["rps"] / r["floor"]["rps"] for r in rounds if "floor" in r]
        check = ""
        for run in runs:
            if "rows" in run and (run["rows"] < run["ok"] or run.get("linked", run["ok"]) < run["ok"]):
                lost = True
        if "rows" in runs[0]:
            check = "; ".join(
                f"{run['ok']:.0f} answered 200, {run['rows']:.0f} rows"
                + (f", {run['linked']:.0f} linked" if "linked" in run else "")
                for run in runs
            )
            check += "  LOST" if lost else "  nothing lost"
        if "events" in runs[0]:
            check += "; events written " + ", ".join(f"{run['events']:.0f}" for run in runs)
        ratio = f"{statistics.median(ratios):.2f}" if ratios else "-"
        to_floor = f"{statistics.median(floors):.2f}" if floors else "-"
        print(
            f"{name:10} {statistics.median(r['rps'] for r in runs):9.0f} "
            f"{statistics.median(r['p50_ms'] for r in runs):8.1f} {statistics.median(r['p99_ms'] for r in runs):8.1f} "
            f"{ratio:>8} {to_floor:>9}  {check}"
        )
        rps = ", ".join(f"{r['rps']:.0f}" for r in runs)
        p99 = ", ".join(f"{r['p99_ms']:.0f}" for r in runs)
        shares = ", ".join(f"{x:.2f}" for x in ratios)
        floor_shares = ", ".join(f"{x:.2f}" for x in floors)
        print(f"{'':10} [{rps} req/s; p99 {p99} ms; vs bare {shares}; vs floor {floor_shares}]")
        cpu = ", ".join(
            f"{group} {statistics.median(r[f'cpu_{group}'] for r in runs):.2f}"
            for group in ("server", "postgres", "wrk", "steal")
        )
        print(f"{'':10} [CPU ms per request: {cpu}]")
    return 1 if lost else 0


if __name__ == "__main__":
    main()
