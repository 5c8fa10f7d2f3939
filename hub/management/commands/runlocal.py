"""Run the web server and task workers together for local use, with the AT simulator when there is no AT key.

Ctrl-C stops them all. Without AT_API_KEY, a local AT simulator (`atsim`) runs
beside them and AT_API_URL points the gateway at it, so sends, delivery reports,
USSD, calls, airtime and SIM swap all work offline; with a key it stays off.
"""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

SIM_PORT = 8002
SIM_API_KEY = "atsim-local-key"


class Command(BaseCommand):
    help = "Start runserver and task workers side by side (the local run command); Ctrl-C stops them."

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")
        parser.add_argument("--workers", type=int, default=1, help="How many task workers to start.")
        parser.add_argument(
            "--simulator",
            choices=["auto", "on", "off"],
            default="auto",
            help="Run the local AT simulator: auto = when AT_API_KEY is empty.",
        )

    def handle(self, *args, addrport, workers, simulator, **options):
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        env = dict(os.environ)
        use_simulator = simulator == "on" or (simulator == "auto" and not settings.AT_API_KEY)
        commands = []
        if use_simulator:
            env.update({"AT_API_URL": f"http://127.0.0.1:{SIM_PORT}", "AT_API_KEY": SIM_API_KEY})
            # Numbers to send from, unless configured: the simulator accepts any.
            env.setdefault("AT_SHORTCODE", settings.AT_SHORTCODE or "8995")
            env.setdefault("AT_VOICE_NUMBER", settings.AT_VOICE_NUMBER or "+254711082000")
            commands.append([*manage, "atsim", "--port", str(SIM_PORT), "--project-url", f"http://{addrport}"])
        commands.append([*manage, "runserver", addrport])
        commands += [[*manage, "worker", "--interval", "0.5"] for _ in range(workers)]
        commands.append([*manage, "maintain", "--every", "30"])  # spool, reaper, pruning, worker heartbeat
        processes = [subprocess.Popen(command, env=env) for command in commands]  # noqa: S603
        self.stdout.write(f"Web server on http://{addrport}/ and {workers} task worker(s). Ctrl-C stops them.")
        if use_simulator:
            self.stdout.write(
                f"No AT_API_KEY: the local AT simulator answers instead of AT. Its phone page: "
                f"http://127.0.0.1:{SIM_PORT}/"
            )

        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping and all(p.poll() is None for p in processes):
                time.sleep(0.2)
        finally:
            for process in processes:
                if process.poll() is None:
                    process.terminate()
            for process in processes:
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
        if not stopping:
            raise SystemExit(1)  # one of them died on its own
