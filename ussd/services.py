"""USSD domain logic: answering hops and recording the sessions they belong to."""

import functools
import logging
from types import SimpleNamespace

from django.db import connection
from django.utils import timezone

import webhooks
from hub.callbacks.ingest import InsertEffectReturning
from hub.callbacks.models import Arrival

from . import menus
from .models import UssdEnd, UssdHop, UssdSession, screen_length_error

logger = logging.getLogger("atproject.ussd")


def session_for(session_id: str, **known) -> UssdSession:
    """The session with AT's `session_id`, created on first sight (from a hop or the end notification)."""
    session, _created = UssdSession.objects.get_or_create(
        session_id=session_id, defaults={"started_at": timezone.now(), **known}
    )
    return session


#: A session's columns as a hop creates it, in `_session_params`' order.
_SESSION_COLUMNS = (
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
)


@functools.cache
def _upsert_sql(vendor: str) -> str:
    """One statement for a hop's session: created on first sight, else its hop counted and last input kept."""
    quote = connection.ops.quote_name
    table = quote(UssdSession._meta.db_table)
    columns = _SESSION_COLUMNS
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


def _plain_screen(request: menus.Hop) -> str | None:
    """`menus.answer` for a screen without a handler; None for one with a handler (or no menu at all).

    A handler may act on the world, so it only runs once the hop is known not
    to be a repeat: such hops, and hops with no menu to answer from (they fail),
    go the ordinary way.
    """
    loaded = menus.menu_for(request.service_code)
    if loaded is None or loaded.root is None:
        return None
    screen = menus.walk(loaded, list(request.inputs))
    if screen is None:
        invalid = loaded.screens.get(loaded.invalid)
        return menus.render(invalid, request) if invalid else menus.INVALID_CHOICE
    if screen.handler:
        return None
    response = menus.render(screen, request)
    error = screen_length_error(response[4:])
    if error:
        logger.warning("USSD screen %r is too long for a phone: %s", screen.name, error)
    return response


@functools.cache
def _hop_effect_sql(vendor: str) -> tuple[str, str]:
    """The hop's session id (its known session's, or a new one from the sequence), and the session's upsert."""
    quote = connection.ops.quote_name
    table = quote(UssdSession._meta.db_table)
    session_id = (
        f"COALESCE((SELECT {quote('id')} FROM {table} WHERE {quote('session_id')} = %s), "  # noqa: S608 - quoted names
        "nextval(pg_get_serial_sequence(%s, 'id')))"
    )
    columns = ", ".join(quote(c) for c in ("id", *_SESSION_COLUMNS))
    counted = (
        f"INSERT INTO {table} ({columns}) "  # noqa: S608 - quoted names from meta
        f"SELECT {quote('session_id')}, {', '.join(['%s'] * len(_SESSION_COLUMNS))} FROM inserted "
        f"ON CONFLICT ({quote('session_id')}) DO UPDATE SET "
        f"{quote('hop_count')} = {table}.{quote('hop_count')} + 1, "
        f"{quote('last_input')} = EXCLUDED.{quote('last_input')}"
    )
    return session_id, counted


def hop_insert_effect(values: dict, db=None) -> InsertEffectReturning | None:
    """`answer_hop` within the hop's INSERT (PostgreSQL): one autocommitted statement stores the hop with
    its screen, creates or counts its session and links the two.

    The screen is computed first (a hop whose screen has a handler goes the
    ordinary way: the handler runs only for a hop that is not a repeat). A
    repeat inserts nothing, so the session's upsert, reading `inserted`,
    counts nothing. The hop points at its session's id before that row exists
    (a new session takes its id from the sequence); the foreign key is checked
    at commit, so two first hops of one session racing fail the statement and
    go the ordinary way.
    """
    if (db or connection).vendor != "postgresql":
        return None
    request = menus.Hop(
        session_id=values["at_session_id"],
        phone_number=values["phone_number"],
        service_code=values["service_code"],
        network_code=values["network_code"],
        text=values["text"],
        inputs=menus.inputs_of(values["text"]),
    )
    try:
        response = _plain_screen(request)
    except Exception:  # answer_hop fails the same way, and stores the hop failed
        return None
    if response is None:
        return None
    values["response"] = response
    values["duration_ms"] = max(0, round((timezone.now() - values["received_at"]).total_seconds() * 1000))
    session_id, counted = _hop_effect_sql(connection.vendor)
    return InsertEffectReturning(
        columns={"session_id": (session_id, [values["at_session_id"], UssdSession._meta.db_table])},
        sql=counted,
        params=_session_params(SimpleNamespace(**values)),
        returning=("session_id",),
    )


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
