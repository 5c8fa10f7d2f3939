"""Migrations that change indexes on tables with rows: they go both ways and drop only what they say."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

#: (app, the migration before its plain-index one), for the two apps the test reads the indexes of.
BEFORE_PLAIN_INDEXES = [
    ("sms", "0008_outbound_last_error_next_attempt"),
    ("ussd", "0008_failed_index_names_with_app_label"),
]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def indexes(table: str) -> dict[str, dict]:
    with connection.cursor() as cursor:
        return {
            name: info
            for name, info in connection.introspection.get_constraints(cursor, table).items()
            if info["index"] or info["unique"]
        }


@pytest.mark.django_db(transaction=True)
def test_the_plain_index_migrations_keep_the_repeat_constraint_and_go_back():
    from django.db.migrations.loader import MigrationLoader

    latest = [key for key in MigrationLoader(connection).graph.leaf_nodes() if key[0] in {"sms", "ussd"}]
    after = indexes("sms_deliveryreport")
    try:
        migrate(BEFORE_PLAIN_INDEXES)
        before = indexes("sms_deliveryreport")
        on_key_before = sorted(n for n, i in before.items() if i["columns"] == ["dedupe_key"])
        assert "sms_deliveryreport_dedupe" in on_key_before
        assert len(on_key_before) == (3 if connection.vendor == "postgresql" else 2)  # + plain (+ LIKE)
    finally:
        migrate(latest)
    assert indexes("sms_deliveryreport").keys() == after.keys()
    on_key = [n for n, i in after.items() if i["columns"] == ["dedupe_key"]]
    assert on_key == ["sms_deliveryreport_dedupe"]  # the repeat constraint, and nothing else
    assert after["sms_deliveryreport_dedupe"]["unique"]
    hop_indexes = indexes("ussd_ussdhop")
    assert [n for n, i in hop_indexes.items() if i["columns"] == ["dedupe_key"]] == ["ussd_ussdhop_dedupe"]
