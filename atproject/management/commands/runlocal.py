"""Run the web server and a task worker together, for local use; Ctrl-C stops both."""

import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Start `runserver` and `db_worker` side by side (the local run command). Ctrl-C stops both."

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")
        parser.add_argument("--workers", type=int, default=1, help="How many task workers to start.")

    def handle(self, *args, addrport, workers, **options):
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        processes = [subprocess.Popen([*manage, "runserver", addrport])]  # noqa: S603
        for _ in range(workers):
            processes.append(subprocess.Popen([*manage, "db_worker", "--interval", "0.5", "--no-reload"]))  # noqa: S603
        self.stdout.write(f"Web server on http://{addrport}/ and {workers} task worker(s). Ctrl-C stops them.")

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
        failed = [p for p in processes if p.returncode not in (0, -signal.SIGTERM, -signal.SIGINT)]
        if failed and not stopping:
            raise SystemExit(1)
