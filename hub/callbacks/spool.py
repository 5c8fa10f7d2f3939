"""The spool's writer: callbacks that arrived while the database was down, kept on local disk.

When a callback cannot be stored, its raw request (kind, content type, body,
source IP, arrival time, and for interactive kinds the answer the caller got)
is appended as one JSON line to AT_SPOOL_DIR/callbacks.jsonl, under an
exclusive lock, so that several processes can write it, and synced to disk
before the answer goes out. `replay.py` stores the lines once the database is back.

The spool is per web node: each node's `maintain` replays its own folder.
"""

import base64
import fcntl
import json
import logging
import os
from datetime import datetime
from pathlib import Path

from django.conf import settings

logger = logging.getLogger("hub.callbacks")

FILE_NAME = "callbacks.jsonl"


def spool_path() -> Path:
    return Path(settings.AT_SPOOL_DIR) / FILE_NAME


def append_lines(path: Path, lines: list[str]) -> None:
    """Append whole lines to `path` under an exclusive lock, synced to disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(descriptor, "a", encoding="utf-8") as spool_file:
        fcntl.flock(spool_file, fcntl.LOCK_EX)
        spool_file.write("".join(line + "\n" for line in lines))
        spool_file.flush()
        os.fsync(spool_file.fileno())


def spool(
    kind_name: str,
    content_type: str,
    body: bytes,
    source_ip: str | None,
    *,
    received_at: datetime,
    answer: str | None = None,
) -> None:
    """Keep one callback that could not be stored; `answer` is what an interactive caller was told."""
    record = {
        "kind": kind_name,
        "content_type": content_type,
        "body": base64.b64encode(body).decode("ascii"),
        "source_ip": source_ip,
        "received_at": received_at.isoformat(),
    }
    if answer is not None:
        record["answer"] = answer
    append_lines(spool_path(), [json.dumps(record)])
    logger.error("Database unavailable: %s callback spooled to %s", kind_name, spool_path())
