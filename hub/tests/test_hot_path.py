"""The callback hot path: only what a callback needs, the fewest statements."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from hub.testing import load_payload, post_callback
from sms.models import DeliveryReport

pytestmark = pytest.mark.django_db

DLR_URL = "/api/sms/delivery-reports"
USSD_URL = "/api/ussd/session"


def test_a_callback_skips_the_browser_middleware(client):
    client.cookies["sessionid"] = "anything"
    client.cookies["csrftoken"] = "x" * 32
    response = post_callback(client, DLR_URL, load_payload("sms", "delivery_report"))
    assert response.status_code == 200
    assert DeliveryReport.objects.count() == 1
    # No CSP built for a text answer, no session looked up, no cookie set.
    assert "Content-Security-Policy" not in response
    assert "Vary" not in response
    assert not response.cookies
    assert not hasattr(response.wsgi_request, "session")
    # SecurityMiddleware, above the shortcut, still answers for callbacks.
    assert response["X-Content-Type-Options"] == "nosniff"


def test_pages_keep_the_whole_middleware(client):
    response = client.get("/admin/login/")
    assert "Content-Security-Policy" in response
    assert hasattr(response.wsgi_request, "session")
    assert hasattr(response.wsgi_request, "user")


def test_the_shortcut_keeps_the_callback_views_answers(client):
    # Refused, wrong method, unknown path next to a callback: the same answers as through the full stack.
    assert (
        post_callback(client, DLR_URL, load_payload("sms", "delivery_report"), token_value="wrong").status_code == 403
    )
    assert client.get(DLR_URL).status_code == 405
    assert post_callback(client, DLR_URL + "-nope", {}).status_code == 404
    assert DeliveryReport.objects.count() == 0


@pytest.mark.django_db(transaction=True)  # as served: no test transaction around the request
def test_a_delivery_report_costs_the_same_statements_for_n_and_2n_reports(client):
    def statements(first: int, count: int) -> int:
        with CaptureQueriesContext(connection) as captured:
            for n in range(first, first + count):
                payload = {**load_payload("sms", "delivery_report"), "id": f"ATXid_hot_{n}"}
                assert post_callback(client, DLR_URL, payload).status_code == 200
        return len(captured.captured_queries)

    statements(0, 1)  # what a process reads once (its first connection, cached settings)
    once, twice = statements(1, 5), statements(6, 10)
    assert twice == 2 * once
    if connection.vendor == "postgresql":
        assert once == 5  # stored, linked and applied in one autocommitted statement each


def test_a_ussd_hop_costs_the_same_statements_for_n_and_2n_hops(client):
    def statements(first: int, count: int) -> int:
        with CaptureQueriesContext(connection) as captured:
            for n in range(first, first + count):
                body = {
                    "sessionId": f"ATUid_hot_{n}",
                    "serviceCode": "*384*123#",
                    "phoneNumber": "+254711000001",
                    "networkCode": "63902",
                    "text": "",
                }
                response = post_callback(client, USSD_URL, body)
                assert response.status_code == 200 and response.content.startswith(b"CON ")
        return len(captured.captured_queries)

    statements(0, 1)  # the menu's first load
    once, twice = statements(1, 5), statements(6, 10)
    assert twice == 2 * once


@pytest.mark.django_db(transaction=True)
def test_a_ussd_hop_is_the_menu_read_and_one_statement_on_postgresql(client):
    import importlib

    from django.apps import apps

    if connection.vendor != "postgresql":
        pytest.skip("the one-statement effect is PostgreSQL's")
    if not apps.get_model("ussd", "Menu").objects.exists():  # a transactional test starts with empty tables
        importlib.import_module("ussd.migrations.0002_demo_menu").install(apps, None)
    hop = {"sessionId": "ATUid_one", "serviceCode": "*384*123#", "phoneNumber": "+254711000001", "networkCode": "63902"}
    post_callback(client, USSD_URL, {**hop, "text": ""})  # the menu's first load
    with CaptureQueriesContext(connection) as captured:
        response = post_callback(client, USSD_URL, {**hop, "text": "1"})
    assert response.status_code == 200 and response.content.startswith((b"CON ", b"END "))
    assert [q["sql"].split()[0] for q in captured.captured_queries] == ["SELECT", "WITH"]


@pytest.mark.django_db
def test_the_one_statement_hop_leaves_exactly_the_rows_the_plain_effect_leaves():
    import dataclasses
    from datetime import timedelta

    from django.utils import timezone

    from hub.callbacks.ingest import ingest
    from hub.callbacks.models import Arrival
    from hub.callbacks.payload import ParsedBody
    from hub.callbacks.registry import kinds
    from ussd.models import UssdHop, UssdSession

    if connection.vendor != "postgresql":
        pytest.skip("the one-statement effect is PostgreSQL's")
    declared = kinds()["ussd.session"]
    assert declared.insert_effect is not None
    plain = dataclasses.replace(declared, insert_effect=None)
    start = timezone.now()
    hops = [
        ("S1", ""),
        ("S1", "1"),
        ("S1", "1"),  # a repeat: counted on the hop, not on the session
        ("S2", ""),
        ("S1", "1*1"),
        ("S2", "9"),  # an invalid choice
        ("S2", "9*9*9"),
    ]

    def run(kind, tag):
        for n, (session, text) in enumerate(hops):
            data = {
                "sessionId": f"{tag}-{session}",
                "serviceCode": "*384*123#",
                "phoneNumber": "+254711000001",
                "networkCode": "63902",
                "text": text,
            }
            ingest(
                kind,
                ParsedBody(data=data, content_type="application/json"),
                arrival=Arrival(start + timedelta(seconds=n)),
            )
        stored = [
            (h.at_session_id.split("-", 1)[1], h.text, h.response, h.state, h.times_received,
             h.session.session_id.split("-", 1)[1] if h.session else None)
            for h in UssdHop.objects.filter(at_session_id__startswith=f"{tag}-").order_by("received_at", "pk")
        ]  # fmt: skip
        sessions = [
            (s.session_id.split("-", 1)[1], s.hop_count, s.last_input, s.phone_e164, s.service_code, s.status)
            for s in UssdSession.objects.filter(session_id__startswith=f"{tag}-").order_by("session_id")
        ]
        return stored, sessions

    one = run(declared, "one")
    assert one == run(plain, "two")
    assert [s[1] for s in one[1]] == [3, 3]


HANDLED = []


def _counted(hop):
    HANDLED.append(hop.text)
    return "END Counted"


def test_a_handler_screen_runs_once_for_a_repeated_hop(client):
    from ussd.handlers import screen_handler
    from ussd.models import Menu, Option, Screen, UssdSession

    screen_handler(name="hot-path-counted", label="Counted")(_counted)
    menu = Menu.objects.get(is_default=True)
    counted = Screen.objects.create(menu=menu, name="counted", handler="hot-path-counted")
    Option.objects.create(screen=Screen.objects.get(name="start"), input="7", next_screen=counted)
    HANDLED.clear()
    hop = {"sessionId": "ATUid_h", "serviceCode": "*384*123#", "phoneNumber": "+254711000001", "text": "7"}
    answers = [post_callback(client, USSD_URL, hop).content for _ in range(2)]
    assert answers == [b"END Counted", b"END Counted"]
    assert HANDLED == ["7"]  # the repeat is answered from the stored hop, its handler not run again
    assert UssdSession.objects.get(session_id="ATUid_h").hop_count == 1


@pytest.mark.django_db(transaction=True)
def test_a_hop_racing_its_sessions_first_hop_is_stored_step_by_step_with_a_warning_not_an_error(client, caplog):
    """Two first hops of one session at once (AT retrying, say): the one-statement path cannot link the second
    to a session the first has not committed yet; the ordinary path stores it, and that is no error."""
    import importlib
    import threading

    from django.apps import apps
    from django.db import connections
    from django.utils import timezone

    from ussd.models import UssdHop, UssdSession

    if connection.vendor != "postgresql":
        pytest.skip("the one-statement effect is PostgreSQL's")
    if not apps.get_model("ussd", "Menu").objects.exists():
        importlib.import_module("ussd.migrations.0002_demo_menu").install(apps, None)
    post_callback(client, USSD_URL, {"sessionId": "ATUid_warm", "serviceCode": "*384*123#",
                                     "phoneNumber": "+254711000002", "networkCode": "63902", "text": ""})  # fmt: skip
    # The first hop's transaction: its session inserted, not committed yet.
    first = connections.create_connection("default")
    first.set_autocommit(False)
    with first.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {UssdSession._meta.db_table} (session_id, phone_number, phone_e164, service_code, "
            "network_code, hop_count, last_input, started_at, status, cost_currency) "
            "VALUES ('ATUid_race', '+254711000001', '+254711000001', '*384*123#', '63902', 1, '', %s, '', '')",
            [timezone.now()],
        )
    first.inc_thread_sharing()
    committer = threading.Timer(1.0, first.commit)  # it commits while ours waits on it
    committer.start()
    hop = {"sessionId": "ATUid_race", "serviceCode": "*384*123#", "phoneNumber": "+254711000001",
           "networkCode": "63902", "text": ""}  # fmt: skip
    try:
        with caplog.at_level("WARNING", logger="hub.callbacks"):
            response = post_callback(client, USSD_URL, hop)
    finally:
        committer.join()
        first.dec_thread_sharing()
        first.close()
    assert response.status_code == 200 and response.content.startswith(b"CON ")
    stored = UssdHop.objects.get(at_session_id="ATUid_race")
    assert stored.session.session_id == "ATUid_race" and stored.response
    assert UssdSession.objects.get(session_id="ATUid_race").hop_count == 2
    assert not [r for r in caplog.records if r.levelname == "ERROR"], caplog.text
    assert "a concurrent callback conflicted" in caplog.text


@pytest.mark.django_db(transaction=True)  # as served: autocommitted, one connection kept between requests
def test_the_hot_statements_are_prepared_on_postgresql(client):
    """Parsed and planned once per connection, not once per callback (DB_PREPARE_THRESHOLD, 5 by default)."""
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    assert connection.settings_dict["OPTIONS"]["prepare_threshold"] == 5
    for n in range(8):
        payload = {**load_payload("sms", "delivery_report"), "id": f"ATXid_prepared_{n}"}
        assert post_callback(client, DLR_URL, payload).status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any('INTO "sms_deliveryreport"' in statement for statement in prepared), prepared


#: The tables every callback or send writes to.
HOT_TABLES = [
    "sms_deliveryreport",
    "sms_inboundmessage",
    "sms_outboundmessage",
    "ussd_ussdhop",
    "ussd_ussdsession",
    "voice_voiceinstruction",
    "voice_voiceevent",
]


def test_the_hot_tables_keep_no_index_that_no_query_uses():
    """No LIKE (varchar_pattern_ops) index beside a plain one, no second index on the repeat key."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's LIKE indexes")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s) ORDER BY 1, 2",
            [HOT_TABLES],
        )
        indexes = cursor.fetchall()
    assert {table for table, _, _ in indexes} == set(HOT_TABLES)
    assert [name for _, name, definition in indexes if "_pattern_ops" in definition] == [
        "ussd_ussdsession_session_id_4b3f9f80_like"  # of its unique session_id (left: a constraint AT's id needs)
    ]
    on_key = {}
    for table, name, definition in indexes:
        if "(dedupe_key" in definition:
            on_key.setdefault(table, []).append(name)
    assert all(len(names) == 1 for names in on_key.values()), on_key
    assert set(on_key) == set(HOT_TABLES) - {"sms_outboundmessage", "ussd_ussdsession"}


@pytest.mark.parametrize("label", ["sms.DeliveryReport", "ussd.UssdHop", "voice.VoiceEvent"])
def test_a_repeat_is_found_through_an_index_in_a_prepared_statements_generic_plan(label):
    """A prepared statement's generic plan cannot see that the key is not empty: `with_key` says so."""
    import psycopg
    from django.apps import apps

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's generic plans")
    model = apps.get_model(label)
    # A table with rows and statistics, as in production: the planner weighs its indexes by them.
    model.objects.bulk_create([model(dedupe_key=f"{n:064d}") for n in range(2000)])
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
    # As `get()` sends it: no ordering (which another index could serve).
    sql, params = model.with_key("a" * 64).order_by().values_list("pk").query.sql_with_params()
    numbered = sql
    for n in range(1, len(params) + 1):
        numbered = numbered.replace("%s", f"${n}", 1)
    connection.ensure_connection()
    types = ", ".join(["varchar"] * len(params))
    values = ", ".join(["%s"] * len(params))
    # Client-side binding: PREPARE's own $n stay its parameters, the values given to EXECUTE are quoted in.
    with psycopg.ClientCursor(connection.connection) as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"PREPARE repeat_lookup({types}) AS {numbered}")
        try:
            cursor.execute(f"EXPLAIN EXECUTE repeat_lookup({values})", params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("DEALLOCATE repeat_lookup")
    assert "Index Cond: ((dedupe_key)::text = ($1)::text)" in plan, plan  # found by the key, not scanned for it
