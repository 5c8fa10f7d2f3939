"""The spool's replayer: store the callbacks spooled while the database was down, as they arrived.

`python manage.py replay_spool` (and `maintain`) take the spool file away
under its lock, feed every line through the normal ingestion (repeats
deduplicated as usual), and keep the lines that still cannot be stored:

- each callback keeps its original arrival time (`received_at`);
- an interactive callback (USSD, voice, airtime validation) is stored with the
  answer the caller actually got while the database was down (the apology,
  Failed), never with an answer computed now that nobody saw;
- a line that cannot be read (torn by a crash mid-write, edited by hand) is
  moved to `callbacks.quarantine.jsonl` with the reason, and reported; the
  lines after it are replayed;
- a file left by a replay that crashed (`callbacks.jsonl.replaying-<pid>`) is
  picked up by the next one; each file being replayed is locked, so two
  replays never read the same file.
"""

import base64
import binascii
import fcntl
import json
import logging
import os
from pathlib import Path
from typing import NamedTuple

from django.db import InterfaceError, OperationalError
from django.utils.dateparse import parse_datetime

from .ingest import ingest
from .models import Arrival
from .payload import parse_body
from .registry import kinds
from .spool import FILE_NAME, append_lines, spool_path

logger = logging.getLogger("hub.callbacks")

QUARANTINE_NAME = "callbacks.quarantine.jsonl"


class Replayed(NamedTuple):
    stored: int
    waiting: int
    quarantined: int


class BadLine(ValueError):
    """A spooled line that cannot be replayed as it is."""


def quarantine_path() -> Path:
    return spool_path().with_name(QUARANTINE_NAME)


def replay() -> Replayed:
    """Store every spooled callback; lines that fail again stay spooled, unreadable ones are quarantined."""
    path = spool_path()
    stored = waiting = quarantined = 0
    for taken in [*_leftovers(path), *_take(path)]:
        with open(taken, encoding="utf-8", errors="surrogateescape") as held:
            fcntl.flock(held, fcntl.LOCK_EX)  # a leftover is only ours once its dead owner's lock is gone
            if not taken.exists():
                continue  # another replay finished it while we waited
            result = _replay_file(held)
            taken.unlink()
        stored, waiting, quarantined = stored + result[0], waiting + result[1], quarantined + result[2]
    if quarantined:
        logger.error("%d spooled line(s) could not be read: kept in %s", quarantined, quarantine_path())
    return Replayed(stored, waiting, quarantined)


def _take(path: Path) -> list[Path]:
    """Move the spool file away under its lock, so that writers start a new one."""
    if not path.exists():
        return []
    taken = path.with_name(f"{FILE_NAME}.replaying-{os.getpid()}")
    with open(path, "a", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            return []
        os.replace(path, taken)
    return [taken]


def _leftovers(path: Path) -> list[Path]:
    """Files of replays that stopped half-way (their process died), not held by a live replay."""
    found = []
    for leftover in sorted(path.parent.glob(f"{FILE_NAME}.replaying-*")):
        with open(leftover, encoding="utf-8") as probe:
            try:
                fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live replay holds it
            fcntl.flock(probe, fcntl.LOCK_UN)
        found.append(leftover)
    return found


def _replay_file(held) -> tuple[int, int, int]:
    stored, still_waiting, bad = 0, [], []
    registered = kinds()
    for number, line in enumerate(held, start=1):
        line = line.rstrip("\n")
        if not line.strip():
            continue
        try:
            kind, parsed, extra = _read(line, registered)
        except BadLine as exc:
            head, tail = _split_torn(line)
            bad.append(json.dumps({"reason": str(exc), "line": number, "text": head[:100_000]}))
            try:  # a line torn by a crash, then appended to: the record after the tear is whole
                kind, parsed, extra = _read(tail, registered)
            except BadLine:
                continue
        try:
            ingest(kind, parsed, **extra)
            stored += 1
        except (OperationalError, InterfaceError):
            still_waiting.append(line)
    if still_waiting:
        append_lines(spool_path(), still_waiting)
    if bad:
        append_lines(quarantine_path(), bad)
    return stored, len(still_waiting), len(bad)


def _split_torn(line: str) -> tuple[str, str]:
    """A line that a crash cut short runs on into the next record: (the torn part, the next record or "")."""
    start = line.rfind('{"kind"', 1)
    return (line, "") if start <= 0 else (line[:start], line[start:])


def _read(line: str, registered) -> tuple:
    """The kind, parsed body and ingest arguments of one spooled line; BadLine naming what is wrong."""
    try:
        record = json.loads(line)
    except ValueError:
        raise BadLine("not a complete JSON line (torn by a crash?)") from None
    if not isinstance(record, dict):
        raise BadLine("not a spooled callback")
    kind = registered.get(record.get("kind"))
    if kind is None:
        raise BadLine(f"unknown callback kind {record.get('kind')!r}")
    try:
        body = base64.b64decode(str(record.get("body", "")), validate=True)
    except (binascii.Error, ValueError):
        raise BadLine("its body is not base64") from None
    received_at = parse_datetime(str(record.get("received_at") or ""))
    if received_at is None:
        raise BadLine("its arrival time is missing or unreadable")
    answer = record.get("answer")
    extra = {"source_ip": record.get("source_ip"), "arrival": Arrival(received_at)}
    if isinstance(answer, str):
        extra["answered"] = answer
    return kind, parse_body(body, str(record.get("content_type") or "")), extra
