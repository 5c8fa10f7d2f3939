"""USSD domain logic: answering hops and recording the sessions they belong to."""

import logging

from django.db.models import F
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


def answer_hop(hop: UssdHop) -> None:
    """A hop's effect: compute the screen, store it on the hop, count the hop on its session."""
    session = session_for(
        hop.at_session_id,
        phone_number=hop.phone_number,
        phone_e164=hop.phone_e164,
        service_code=hop.service_code,
        network_code=hop.network_code,
    )
    request = menus.Hop(
        session_id=hop.at_session_id,
        phone_number=hop.phone_number,
        service_code=hop.service_code,
        network_code=hop.network_code,
        text=hop.text,
        inputs=menus.inputs_of(hop.text),
    )
    hop.response = menus.answer(request)  # raising marks the hop failed; the view answers END with an apology
    hop.session = session
    hop.duration_ms = elapsed_ms()
    UssdHop.objects.filter(pk=hop.pk).update(session=session, response=hop.response, duration_ms=hop.duration_ms)
    UssdSession.objects.filter(pk=session.pk).update(hop_count=F("hop_count") + 1, last_input=hop.text[:255])


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
