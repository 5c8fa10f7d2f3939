"""SIM swap domain logic: queue checks, send them, apply AT's results."""

import logging

from django.db import transaction
from django.utils import timezone

from hub import gateway
from hub.callbacks.models import Arrival
from hub.outbound import OutboundStatus, handle_failure
from hub.phones import normalize_phone

from .models import SimSwapCheck, SimSwapStatusEvent

logger = logging.getLogger("atproject.simswap")


def queue_checks(phones, *, user=None) -> list[SimSwapCheck]:
    from .tasks import check_sim_swap

    with transaction.atomic():
        checks = SimSwapCheck.objects.bulk_create(
            SimSwapCheck(phone=phone, requested_by=user) for phone in dict.fromkeys(phones)
        )
        check_sim_swap.enqueue([c.pk for c in checks])
    logger.info("%d SIM swap check(s) queued", len(checks))
    return checks


def send_queued(check_ids) -> None:
    """Ask AT for the queued checks in one request (the worker)."""
    from .tasks import check_sim_swap

    claimed = SimSwapCheck.claim(check_ids)
    if not claimed:
        return
    checks = list(SimSwapCheck.objects.filter(pk__in=claimed).order_by("pk"))
    try:
        answer = gateway.check_sim_swap([c.phone for c in checks])
    except gateway.ATError as exc:
        handle_failure(SimSwapCheck, checks, exc, retry_task=check_sim_swap, what="SIM swap checks")
        return
    store_answer(checks, answer)


def store_answer(checks, answer) -> None:
    """Per number: Queued (with its requestId) → submitted, with its carrier; anything else → rejected."""
    entries = (answer.get("responses") or []) if isinstance(answer, dict) else []
    transaction_id = str(answer.get("transactionId") or "") if isinstance(answer, dict) else ""
    by_phone = {}
    for entry in entries:
        number = entry.get("phoneNumber") or {}
        info = number if isinstance(number, dict) else {"number": number}
        phone = normalize_phone(str(info.get("number") or "")) or str(info.get("number") or "")
        by_phone.setdefault(phone, []).append((entry, info))
    now = timezone.now()
    with transaction.atomic():
        for check in checks:
            found = by_phone.get(check.phone)
            if not found:
                SimSwapCheck.advance([check.pk], OutboundStatus.UNKNOWN, failure_reason="missing from AT's answer")
                continue
            entry, info = found.pop(0)
            status, request_id = str(entry.get("status") or ""), str(entry.get("requestId") or "")
            fields = {
                "at_status": status,
                "at_transaction_id": transaction_id,
                "carrier_name": str(info.get("carrierName") or ""),
                "country_code": str(info.get("countryCode") or ""),
                "network_code": str(info.get("networkCode") or ""),
                "number_type": str(info.get("numberType") or ""),
                "cost": str(entry.get("cost") or ""),
            }
            if request_id and request_id != "None" and status.lower() in ("queued", "processed", "sent", "success"):
                SimSwapCheck.advance(
                    [check.pk], OutboundStatus.SUBMITTED, at_request_id=request_id, submitted_at=now, **fields
                )
                link_early_results(check.pk, request_id)
            else:
                SimSwapCheck.advance(
                    [check.pk], OutboundStatus.REJECTED, failure_reason=status or "refused", **fields
                )


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


def link_early_results(check_id: int, request_id: str) -> None:
    for event in SimSwapStatusEvent.objects.filter(at_request_id=request_id, swap_check__isnull=True):
        _apply_to(check_id, event)
