"""A deadline on the database for one callback: a stalled database fails like one that is down.

A frozen PostgreSQL (a stopped server, a hung disk, a lock held for minutes)
does not refuse anything: the statement is sent and no answer comes, so a USSD
hop waited 40 s while AT had long given up. Under `database_deadline(seconds)`:

- PostgreSQL: a watchdog thread shuts the connection's socket down when the
  time is up; the statement waiting on it fails at once with OperationalError,
  which the callback view already treats as "database down" (spool, 503, the
  USSD/voice apology, airtime validation Failed). A new connection waits at most
  DB_CONNECT_TIMEOUT (libpq's connect_timeout).
- SQLite: nothing can hang but a lock; the connection's busy timeout is cut to
  the deadline for the callback and restored afterwards.

One watchdog thread serves every request of a process; arming it costs a
dictionary insert, no thread per request.
"""

import contextlib
import heapq
import itertools
import logging
import os
import socket
import threading
import time

logger = logging.getLogger("hub.callbacks")


class _Watchdog:
    def __init__(self):
        self._lock = threading.Condition()
        self._heap: list[tuple[float, int]] = []
        self._armed: dict[int, Deadline] = {}
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, deadline: "Deadline") -> int:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="db-deadline-watchdog", daemon=True)
                self._thread.start()
            ident = next(self._ids)
            self._armed[ident] = deadline
            heapq.heappush(self._heap, (deadline.at, ident))
            if self._heap[0][1] == ident:
                self._lock.notify()
            return ident

    def disarm(self, ident: int) -> None:
        with self._lock:
            self._armed.pop(ident, None)

    def _run(self) -> None:
        while True:
            with self._lock:
                while self._heap and self._heap[0][1] not in self._armed:
                    heapq.heappop(self._heap)  # disarmed in time
                if not self._heap:
                    self._lock.wait()
                    continue
                at, ident = self._heap[0]
                delay = at - time.monotonic()
                if delay > 0:
                    self._lock.wait(delay)
                    continue
                heapq.heappop(self._heap)
                deadline = self._armed.pop(ident)
            deadline.expire()


_watchdog = _Watchdog()


class Deadline:
    """What `database_deadline` yields: `expired` tells whether the time ran out."""

    def __init__(self, connection, seconds: float):
        self.connection = connection
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.expired = False
        self.finished = False  # the request left the block: too late to break anything
        self.lock = threading.Lock()

    def expire(self) -> None:
        """Called by the watchdog thread: break the connection the request thread is waiting on.

        No new connection may be opened for the rest of the request either:
        Django reconnects while it closes a broken transaction, and against a
        stalled server that would wait DB_CONNECT_TIMEOUT more.
        """
        with self.lock:
            if self.finished:
                return
            self.expired = True
            self.connection.get_new_connection = _refuse_new_connection
            raw = self.connection.connection  # psycopg's connection, or None while connecting
            if raw is None:
                return
            try:
                fileno = raw.pgconn.socket
                with socket.socket(fileno=os.dup(fileno)) as sock:
                    sock.shutdown(socket.SHUT_RDWR)
            except (OSError, AttributeError, ValueError) as exc:  # already closed: nothing to break
                logger.debug("database deadline: nothing to break (%s)", type(exc).__name__)
                return
        logger.error("The database did not answer within %.1f s: treated as unavailable", self.seconds)


def _refuse_new_connection(conn_params):
    from django.db import OperationalError

    raise OperationalError("the database did not answer before the callback's deadline")


@contextlib.contextmanager
def database_deadline(connection, seconds: float):
    """Within this block, a statement on `connection` that is not answered in `seconds` fails (OperationalError)."""
    deadline = Deadline(connection, seconds)
    if connection.vendor == "sqlite":
        with _sqlite_busy_timeout(connection, seconds):
            yield deadline
        return
    if connection.vendor != "postgresql":
        yield deadline
        return
    ident = _watchdog.arm(deadline)
    try:
        yield deadline
    finally:
        _watchdog.disarm(ident)
        with deadline.lock:
            deadline.finished = True
        if deadline.expired:  # its socket was shut down: the next request gets a new connection
            vars(connection).pop("get_new_connection", None)
            with contextlib.suppress(Exception):
                connection.close()


@contextlib.contextmanager
def _sqlite_busy_timeout(connection, seconds: float):
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout")
        previous = cursor.fetchone()[0]
        cursor.execute(f"PRAGMA busy_timeout = {int(seconds * 1000)}")
    try:
        yield
    finally:
        if connection.connection is not None:
            with contextlib.suppress(Exception), connection.cursor() as cursor:
                cursor.execute(f"PRAGMA busy_timeout = {int(previous)}")
