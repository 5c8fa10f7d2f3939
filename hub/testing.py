"""Helpers for the test suites of every app (imported by tests only)."""

import json
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

from django.conf import settings
from django.db import connection

from hub import queue

BASE_DIR = Path(settings.BASE_DIR)


def load_payload(app: str, name: str) -> dict:
    """An AT payload fixture: `<app>/tests/fixtures/<name>.json`."""
    return json.loads((BASE_DIR / app / "tests" / "fixtures" / f"{name}.json").read_text("utf-8"))


def token() -> str:
    return settings.AT_WEBHOOK_TOKEN[0]


def post_callback(client, path: str, data, *, as_json: bool = False, token_value: str | None = None, **extra):
    """POST a callback the way AT does: form-encoded (or JSON), token in the query string."""
    query = "" if token_value == "" else "?" + urlencode({"token": token_value or token()})
    if as_json:
        return client.post(path + query, data=json.dumps(data), content_type="application/json", **extra)
    body = data if isinstance(data, (bytes, str)) else urlencode(data)
    return client.post(path + query, data=body, content_type="application/x-www-form-urlencoded", **extra)


@contextmanager
def database_unavailable():
    """Point the default connection at a database that cannot be reached, for real.

    SQLite: a file in a folder that does not exist; PostgreSQL: a closed port.
    Use with `transactional_db` (no test transaction is open on the connection).
    """
    original = connection.settings_dict.copy()
    connection.close()
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = "/nonexistent-folder/db.sqlite3"
    else:
        connection.settings_dict["HOST"] = "127.0.0.1"
        connection.settings_dict["PORT"] = "9"  # discard: nothing listens
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(original)


@contextmanager
def table_refuses(table: str, operation: str = "INSERT", message: str = "refused by test"):
    """Make the database refuse `operation` (INSERT, UPDATE) on `table` (a trigger), to fail an effect for real."""
    name = f"refuse_{operation.lower()}_{table}"
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                f"CREATE TRIGGER {name} BEFORE {operation} ON {table} BEGIN SELECT RAISE(ABORT, '{message}'); END"
            )
        else:
            cursor.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION '{message}'; END $$"
                " LANGUAGE plpgsql"
            )
            cursor.execute(
                f"CREATE TRIGGER {name} BEFORE {operation} ON {table} FOR EACH ROW EXECUTE FUNCTION {name}()"
            )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                cursor.execute(f"DROP TRIGGER {name}")
            else:
                cursor.execute(f"DROP TRIGGER {name} ON {table}")
                cursor.execute(f"DROP FUNCTION {name}()")


def run_worker() -> None:
    """Run the real task worker of the configured backend until no task is due (use with transactional tests):
    django-tasks-db's `db_worker`, or an RQ worker in this process."""
    queue.run_queued_tasks()


# The queue's test helpers, whatever the backend (hub.queue).
make_deferred_tasks_due = queue.make_deferred_tasks_due
queued_tasks = queue.tasks
strand_waiting_tasks = queue.strand_waiting_tasks
backdate_tasks = queue.backdate_tasks
clear_tasks = queue.clear


class TcpProxy:
    """A TCP relay on loopback to a real server, which a test can take down and bring back.

    Taking it down closes every relayed connection and refuses new ones, as a
    restarting PostgreSQL does to its clients; nothing of the server is faked.
    """

    def __init__(self, target_host: str, target_port: int):
        import socket
        import threading

        self.target = (target_host, target_port)
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._listener.close()
        self._lock = threading.Lock()
        self._sockets: list = []
        self._server: socket.socket | None = None

    def up(self) -> None:
        import socket
        import threading

        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(64)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def down(self) -> None:
        import contextlib
        import socket

        server, self._server = self._server, None
        if server is not None:
            with contextlib.suppress(OSError):
                server.shutdown(socket.SHUT_RDWR)
            server.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, server) -> None:
        import socket
        import threading

        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source, destination) -> None:
        import contextlib
        import socket

        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                destination.sendall(data)
        # Shut down, not only close: the other direction's thread is blocked reading this socket.
        for sock in (destination, source):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class RedisServer:
    """A throwaway `redis-server` on a free loopback port, nothing saved to disk (TASKS_BACKEND=redis tests)."""

    def __init__(self, executable: str = "redis-server"):
        import shutil
        import socket
        import subprocess
        import tempfile

        path = shutil.which(executable) or (executable if Path(executable).exists() else None)
        if path is None:
            raise RuntimeError("TASKS_BACKEND=redis tests need redis-server (Debian: apt-get install redis-server)")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self._dir = tempfile.TemporaryDirectory(prefix="atproject-redis-")
        self.process = subprocess.Popen(  # noqa: S603
            [path, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self._dir.name, "--logfile", ""],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._wait()

    def _wait(self, timeout: float = 10.0) -> None:
        import time

        import redis

        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.ping()
                return
            except redis.exceptions.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.05)
            finally:
                client.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except Exception:
                self.process.kill()
                self.process.wait()
        self._dir.cleanup()


def use_redis(url: str) -> None:
    """Point this process's queue (and the processes it starts: REDIS_URL) at the Redis at `url`."""
    import os

    os.environ["REDIS_URL"] = url
    config = settings.RQ_QUEUES["default"]
    settings.RQ_QUEUES = {**settings.RQ_QUEUES, "default": {**config, "URL": url}}
