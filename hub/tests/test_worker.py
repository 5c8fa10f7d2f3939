"""The task worker (`manage.py worker`) outlives database outages and resumes on its own."""

import os
import sqlite3
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.db import connection

from hub.outbound import OutboundStatus
from hub.testing import TcpProxy
from hub.tests.test_end_to_end import _answers, database_url, free_port, wait_until
from sms.models import OutboundMessage
from sms.services import queue_sms

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _no_other_sessions() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0] == 0


def _submitted(text: str) -> bool:
    return OutboundMessage.objects.filter(text=text, status=OutboundStatus.SUBMITTED).exists()


def test_a_worker_outlives_a_database_outage_and_resumes_on_its_own():
    """PostgreSQL: every connection of the worker dropped and refused for 5 s, as a restart does.
    SQLite: another writer holds the lock for 4 s, longer than the worker's busy timeout."""
    sim_port = free_port()
    url, proxy = database_url(), None
    if connection.vendor == "postgresql":
        db = connection.settings_dict
        proxy = TcpProxy(db["HOST"], int(db["PORT"]))
        proxy.up()
        url = f"postgres://{db['USER']}:{db['PASSWORD']}@127.0.0.1:{proxy.port}/{db['NAME']}"
    env = {
        **os.environ,
        "AT_ENV_FILE": "",
        "DJANGO_SETTINGS_MODULE": "atproject.settings",
        "DATABASE_URL": url,
        "DEBUG": "false",
        "SECRET_KEY": "worker-tests",
        "AT_API_KEY": "k",
        "AT_API_URL": f"http://127.0.0.1:{sim_port}",
        "DB_BUSY_TIMEOUT": "1",
        "LOG_LEVEL": "WARNING",
    }
    manage = [sys.executable, "manage.py"]
    simulator = subprocess.Popen(
        [*manage, "atsim", "--port", str(sim_port), "--api-key", "k", "--delay", "600"],
        env=env,
        cwd=settings.BASE_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker = subprocess.Popen(
        [*manage, "worker", "--interval", "0.1", "--no-startup-delay"],
        env=env,
        cwd=settings.BASE_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until(lambda: _answers(f"http://127.0.0.1:{sim_port}/phone/log"), 30, "the simulator")
        queue_sms(["+254711000001"], "before the outage")
        wait_until(lambda: _submitted("before the outage"), 30, "the first send")

        if proxy is not None:
            proxy.down()
            queue_sms(["+254711000002"], "during the outage")  # the web side still reaches the database
            time.sleep(5)
            assert worker.poll() is None, "the worker exited during the outage"
            proxy.up()
        else:
            queue_sms(["+254711000002"], "during the outage")
            holder = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
            holder.execute("BEGIN IMMEDIATE")
            time.sleep(4)
            holder.close()
            assert worker.poll() is None, "the worker exited during the outage"

        wait_until(lambda: _submitted("during the outage"), 60, "the send queued during the outage")
        assert worker.poll() is None
        assert list(OutboundMessage.objects.values_list("attempts", flat=True)) == [1, 1]  # nothing sent twice
    finally:
        for process in (worker, simulator):
            process.terminate()
        output = worker.communicate(timeout=15)[0]
        simulator.wait(timeout=15)
        if proxy is not None:
            proxy.down()
            wait_until(_no_other_sessions, 10, "the worker's sessions to end")
    if proxy is not None:
        assert "Database unavailable" in output  # it noticed, waited, and carried on
