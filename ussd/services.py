"""USSD domain logic: answering hops and recording the sessions they belong to."""

import functools
import logging

from django.db import connection
from django.utils import timezone

from atproject.callbacks.views import elapsed_ms

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


def count_hop(hop: UssdHop) -> int:
    """The hop's session (created on first sight), counted, in one statement; returns its id.

    The hot path of every USSD request: the ORM's get_or_create and update took
    four to six statements for this.
    """
    started = UssdSession._meta.get_field("started_at").get_db_prep_save(timezone.now(), connection)
    params = [
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
    with connection.cursor() as cursor:
        cursor.execute(_upsert_sql(connection.vendor), params)
        return cursor.fetchone()[0]


def answer_hop(hop: UssdHop) -> None:
    """A hop's effect: count it on its session, compute the screen, store the screen on the hop."""
    hop.session_id = count_hop(hop)
    request = menus.Hop(
        session_id=hop.at_session_id,
        phone_number=hop.phone_number,
        service_code=hop.service_code,
        network_code=hop.network_code,
        text=hop.text,
        inputs=menus.inputs_of(hop.text),
    )
    hop.response = menus.answer(request)  # raising marks the hop failed; the view answers END with an apology
    hop.duration_ms = elapsed_ms()
    UssdHop.objects.filter(pk=hop.pk).update(session=hop.session_id, response=hop.response, duration_ms=hop.duration_ms)


def record_end(end: UssdEnd) -> None:
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
