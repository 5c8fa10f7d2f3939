"""What every benchmark prints first: the database and its durability settings, refusing a non-durable PostgreSQL."""

import sys


def describe_database(connection, *, require_durable: bool = True) -> str:
    """ "PostgreSQL 15.18, fsync=on, synchronous_commit=on, ..." (exits when fsync or synchronous_commit is off)."""
    if connection.vendor != "postgresql":
        return f"{connection.vendor} {connection.Database.sqlite_version} (not a production database)"
    names = ("server_version", "fsync", "synchronous_commit", "full_page_writes", "wal_level", "shared_buffers",
             "commit_delay", "commit_siblings", "max_connections")  # fmt: skip
    with connection.cursor() as cursor:
        values = {}
        for name in names:
            cursor.execute(f"SHOW {name}")
            values[name] = cursor.fetchone()[0]
    text = "PostgreSQL " + ", ".join(f"{k}={v}" if k != "server_version" else v for k, v in values.items())
    if require_durable and (values["fsync"] != "on" or values["synchronous_commit"] != "on"):
        sys.exit(
            f"{text}\nRefusing to benchmark a database that may lose acknowledged writes: run it with "
            "scripts/with-postgres --durable (fsync and synchronous_commit on)."
        )
    return text
