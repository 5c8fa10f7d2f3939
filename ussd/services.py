"""USSD domain logic: answering hops and recording the sessions they belong to."""

import functools
import logging

from django.db import connection
from django.utils import timezone

import webhooks
from hub.callbacks.models import Arrival

from . import menus
from .models import UssdEnd, UssdHop, UssdSession

logger = logging.getLogger("atproject.ussd")


def session_for(session_id: str, **known) -> UssdSession:
    """The session with AT's `session_id`, created on first sight (from a hop or the end notification)."""
    session, _created = UssdSession.objects.get_or_create(
        session_id=session_id, defaults={"started_at": timezone.now(), **known}
    )
    return session


@functools.cache
def _upsert_sql(vendor: str) -> str:
    """One statement for a hop's session: created on first sight, else its hop counted and last input kept."""
    quote = connection.ops.quote_name
    table = quote(UssdSession._meta.db_table)
    columns = [
        "session_id",
        "phone_number",
        "phone_e164",
        "service_code",
        "network_code",
        "started_at",
        "last_input",
        "hop_count",
        "status",
        "cost_currency",
    ]
    return (
        f"INSERT INTO {table} ({', '.join(quote(c) for c in columns)}) "  # noqa: S608 - quoted names from meta
        f"VALUES ({', '.join(['%s'] * len(columns))}) "
        f"ON CONFLICT ({quote('session_id')}) DO UPDATE SET "
        f"{quote('hop_count')} = {table}.{quote('hop_count')} + 1, "
        f"{quote('last_input')} = EXCLUDED.{quote('last_input')} "
        f"RETURNING {quote('id')}"
    )


def _session_params(hop: UssdHop) -> list:
    started = UssdSession._meta.get_field("started_at").get_db_prep_save(timezone.now(), connection)
    return [
        hop.at_session_id,
        hop.phone_number,
        hop.phone_e164,
        hop.service_code,
        hop.network_code,
        started,
        hop.text[:255],
        1,
        "",
        "",
    ]


@functools.cache
def _answer_sql(vendor: str) -> str:
    """The hop's session counted and its screen stored: one statement on PostgreSQL, else two."""
    quote = connection.ops.quote_name
    update = (
        f"UPDATE {quote(UssdHop._meta.db_table)} SET {quote('session_id')} = {{session}}, "  # noqa: S608 - quoted names
        f"{quote('response')} = %s, {quote('duration_ms')} = %s WHERE {quote('id')} = %s"
    )
    if vendor == "postgresql":
        counted = update.format(session=f"(SELECT {quote('id')} FROM counted)")  # noqa: S608
        return f"WITH counted AS ({_upsert_sql(vendor)}) {counted} RETURNING {quote('session_id')}"
    return update.format(session="%s")


def answer_hop(hop: UssdHop, arrival: Arrival | None = None) -> None:
    """A hop's effect: compute the screen, then count the hop on its session and store the screen on the hop."""
    request = menus.Hop(
        session_id=hop.at_session_id,
        phone_number=hop.phone_number,
        service_code=hop.service_code,
        network_code=hop.network_code,
        text=hop.text,
        inputs=menus.inputs_of(hop.text),
    )
    response = menus.answer(request)  # raising marks the hop failed; the view answers END with an apology
    record_screen(hop, response, arrival.elapsed_ms() if arrival else None)


def answered_hop(hop: UssdHop, answer: str, arrival: Arrival | None = None) -> None:
    """A hop replayed from the spool: the caller got `answer` (the apology) while the database was down."""
    record_screen(hop, answer, None)


def record_screen(hop: UssdHop, response: str, duration_ms: int | None) -> None:
    """Count the hop on its session and store the screen sent on the hop.

    The hot path of every USSD request, so written out: the session is created
    on first sight or counted by one upsert, and on PostgreSQL that upsert and
    the hop's update are one statement (the ORM took six).
    """
    hop.response, hop.duration_ms = response, duration_ms
    answer = [hop.response, hop.duration_ms, hop.pk]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_answer_sql(connection.vendor), [*_session_params(hop), *answer])
            hop.session_id = cursor.fetchone()[0]
        else:
            cursor.execute(_upsert_sql(connection.vendor), _session_params(hop))
            hop.session_id = cursor.fetchone()[0]
            cursor.execute(_answer_sql(connection.vendor), [hop.session_id, *answer])


def record_end(end: UssdEnd, arrival: Arrival | None = None) -> None:
    """The end notification's effect: the session's final status, cost and duration."""
    session = session_for(
        end.at_session_id,
        phone_number=end.phone_number,
        phone_e164=end.phone_e164,
        service_code=end.service_code,
        network_code=end.network_code,
    )
    UssdEnd.objects.filter(pk=end.pk).update(session=session)
    end.session = session
    UssdSession.objects.filter(pk=session.pk).update(
        status=end.status,
        cost=end.cost,
        cost_currency=end.cost_currency,
        duration_ms=end.duration_ms,
        ended_at=end.date or end.received_at,
    )
    webhooks.emit("ussd.session.ended", session)
