"""The spool: callbacks that arrived while the database was down, kept on local disk until replayed.

When a callback cannot be stored, its raw request (kind, content type, body,
source IP, arrival time) is appended as one JSON line to AT_SPOOL_DIR/callbacks.jsonl,
under an exclusive lock, so that several processes can write it. `python manage.py
replay_spool` feeds every line through the normal ingestion (repeats deduplicated
as usual) and keeps the lines that still cannot be stored.
"""

import base64
import fcntl
import json
import logging
import os
from pathlib import Path

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.utils import timezone

logger = logging.getLogger("atproject.callbacks")

FILE_NAME = "callbacks.jsonl"


def spool_path() -> Path:
    return Path(settings.AT_SPOOL_DIR) / FILE_NAME


def _append(lines: list[str]) -> None:
    path = spool_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(descriptor, "a", encoding="utf-8") as spool:
        fcntl.flock(spool, fcntl.LOCK_EX)
        spool.write("".join(line + "\n" for line in lines))
        spool.flush()
        os.fsync(spool.fileno())


def spool(kind_name: str, content_type: str, body: bytes, source_ip: str | None) -> None:
    """Keep one callback that could not be stored."""
    record = {
        "kind": kind_name,
        "content_type": content_type,
        "body": base64.b64encode(body).decode("ascii"),
        "source_ip": source_ip,
        "received_at": timezone.now().isoformat(),
    }
    _append([json.dumps(record)])
    logger.error("Database unavailable: %s callback spooled to %s", kind_name, spool_path())


def replay() -> tuple[int, int]:
    """Store every spooled callback; returns (stored, still waiting). Lines that fail again stay spooled."""
    from .ingest import ingest
    from .payload import parse_body
    from .registry import kinds

    path = spool_path()
    if not path.exists():
        return 0, 0
    taken = path.with_name(f"{FILE_NAME}.replaying-{os.getpid()}")
    with open(path, "a", encoding="utf-8") as lock:  # no writer appends while the file is moved away
        fcntl.flock(lock, fcntl.LOCK_EX)
        os.replace(path, taken)
    stored, waiting = 0, []
    registered = kinds()
    for line in taken.read_text("utf-8").splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        kind = registered.get(record["kind"])
        if kind is None:
            logger.error("Spooled callback of unknown kind %r kept", record["kind"])
            waiting.append(line)
            continue
        parsed = parse_body(base64.b64decode(record["body"]), record["content_type"])
        try:
            ingest(kind.model, parsed, source_ip=record.get("source_ip"))
            stored += 1
        except (OperationalError, InterfaceError):
            waiting.append(line)
    if waiting:
        _append(waiting)
    taken.unlink()
    return stored, len(waiting)
