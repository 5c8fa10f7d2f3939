"""SIM swap domain logic: queue checks, send them, apply AT's results."""

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

import webhooks
from hub import gateway
from hub.answers import Outcome, chunked, link_early_events, store_answers
from hub.callbacks.models import Arrival
from hub.outbound import OutboundStatus, handle_failure

from .models import SimSwapCheck, SimSwapStatusEvent

logger = logging.getLogger("atproject.simswap")


def queue_checks(phones, *, user=None) -> list[SimSwapCheck]:
    with transaction.atomic():
        checks = SimSwapCheck.objects.bulk_create(
            SimSwapCheck(phone=phone, requested_by=user) for phone in dict.fromkeys(phones)
        )
        SimSwapCheck.enqueue([c.pk for c in checks])
    logger.info("%d SIM swap check(s) queued", len(checks))
    return checks


def chunk_size() -> int:
    """Numbers per check request to AT: AT_SIM_SWAP_CHUNK_SIZE, else AT_SMS_CHUNK_SIZE (as SMS chunks its sends)."""
    return getattr(settings, "AT_SIM_SWAP_CHUNK_SIZE", None) or settings.AT_SMS_CHUNK_SIZE


def send_queued(check_ids) -> None:
    """Ask AT for the queued checks (the worker): one request per chunk of `chunk_size()` numbers."""
    claimed = SimSwapCheck.claim(check_ids)
    if not claimed:
        return
    for checks in chunked(SimSwapCheck.objects.filter(pk__in=claimed).order_by("pk"), chunk_size()):
        try:
            answer = gateway.check_sim_swap([c.phone for c in checks])
        except gateway.ATError as exc:
            handle_failure(SimSwapCheck, checks, exc, what="SIM swap checks")
            continue
        store_answer(checks, answer)


def store_answer(checks, answer: gateway.SimSwapAnswer) -> None:
    """Per number (`hub.answers.store_answers`): Queued (with its requestId) → submitted, with its carrier;
    anything else → rejected. Then the results that came first are linked."""
    now = timezone.now()

    def outcome(check, result: gateway.SimSwapResult) -> Outcome:
        fields = {
            "at_status": result.status,
            "at_transaction_id": result.transaction_id,
            "carrier_name": result.carrier_name,
            "country_code": result.country_code,
            "network_code": result.network_code,
            "number_type": result.number_type,
            "cost": result.cost_text,
        }
        if result.accepted:
            return Outcome(
                OutboundStatus.SUBMITTED, {**fields, "at_request_id": result.request_id, "submitted_at": now}
            )
        return Outcome(OutboundStatus.REJECTED, {**fields, "failure_reason": result.status or "refused"})

    with transaction.atomic():
        stored = store_answers(SimSwapCheck, checks, answer, outcome, now=now)
        link_early_results([c.at_request_id for c in stored.rows(OutboundStatus.SUBMITTED)])


def apply_status(event: SimSwapStatusEvent, arrival: Arrival | None = None) -> None:
    check = SimSwapCheck.objects.filter(at_request_id=event.at_request_id).first()
    if check is None:
        return  # before the check's answer was stored: linked by `link_early_results`
    _apply_to(check.pk, event)


def _apply_to(check_id: int, event: SimSwapStatusEvent) -> None:
    SimSwapStatusEvent.objects.filter(pk=event.pk).update(swap_check_id=check_id)
    SimSwapCheck.objects.filter(pk=check_id).update(
        swap_status=event.status,
        last_swap_date=event.last_swap_date,
        provider_ref_id=event.provider_ref_id,
        result_at=event.received_at,
        updated_at=timezone.now(),
    )
    SimSwapCheck.advance([check_id], OutboundStatus.DELIVERED)
    webhooks.emit("simswap.checked", SimSwapCheck(pk=check_id))


def link_early_results(request_ids) -> int:
    """Link and apply the results with these requestIds that arrived before their check had one."""
    return link_early_events(
        SimSwapStatusEvent,
        "at_request_id",
        SimSwapCheck,
        "at_request_id",
        request_ids,
        lambda event, check_id: _apply_to(check_id, event),
    )
