"""Airtime domain logic: limits, queueing, sending, and AT's validation and status callbacks.

Airtime is money, so:
- every amount is a Decimal parsed from text, never a float;
- the per-recipient maximum and the day's total per currency are checked before
  anything is queued; the day's total is reserved with one conditional UPDATE,
  so two concurrent requests cannot both take the last of it;
- AT's validation callback approves only a transaction of ours that is being
  sent (or was just submitted), not validated yet, with the same phone, amount
  and currency; everything else, a replay included, is refused.
"""

import contextlib
import logging
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from atproject import gateway
from atproject.callbacks.payload import parse_money
from atproject.outbound import OutboundStatus, handle_failure
from atproject.phones import normalize_phone

from .models import (
    STATUS_MAP,
    AirtimeStatusEvent,
    AirtimeTransaction,
    AirtimeValidation,
    DailyAirtimeSpend,
    ValidationDecision,
)

logger = logging.getLogger("atproject.airtime")


class AirtimeRefused(ValueError):
    """A request that breaks a rule (amount, limit): nothing was queued."""


def limit_for(setting: str, currency: str) -> Decimal | None:
    """A per-currency limit from "1000" or "KES=1000,UGX=30000" (a bare number: the default)."""
    default, per_currency = None, {}
    for item in str(setting).split(","):
        item = item.strip()
        if not item:
            continue
        code, sep, value = item.partition("=")
        if sep:
            per_currency[code.strip().upper()] = Decimal(value.strip())
        else:
            default = Decimal(code)
    return per_currency.get(currency.upper(), default)


def parse_amount(value) -> Decimal:
    """A positive decimal amount from text (never through float); AirtimeRefused naming the problem."""
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise AirtimeRefused("'amount' must be a valid number") from None
    if not amount.is_finite():
        raise AirtimeRefused("'amount' must be a valid number")
    if amount <= 0:
        raise AirtimeRefused("'amount' must be a positive number")
    if -amount.as_tuple().exponent > 4:
        raise AirtimeRefused("'amount' has more than 4 decimal places")
    return amount


def parse_currency(value) -> str:
    currency = str(value or "KES").strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        raise AirtimeRefused("'currency' must be a 3-letter code such as KES")
    return currency


def today():
    return timezone.now().date()


def spent_today(currency: str) -> Decimal:
    row = DailyAirtimeSpend.objects.filter(day=today(), currency=currency).values_list("total", flat=True).first()
    return row or Decimal(0)


def reserve(currency: str, amount: Decimal) -> None:
    """Add `amount` to the day's total, or refuse if it would pass AT_AIRTIME_DAILY_LIMIT. Call in a transaction."""
    limit = limit_for(settings.AT_AIRTIME_DAILY_LIMIT, currency)
    day = today()
    try:
        with transaction.atomic():
            DailyAirtimeSpend.objects.get_or_create(day=day, currency=currency)
    except IntegrityError:  # created concurrently: it exists now
        pass
    spend = DailyAirtimeSpend.objects.filter(day=day, currency=currency)
    if limit is not None:
        spend = spend.filter(total__lte=limit - amount)
    if spend.update(total=F("total") + amount) != 1:
        raise AirtimeRefused(
            f"the daily airtime limit for {currency} ({limit}) would be exceeded: "
            f"{spent_today(currency)} already committed today"
        )


def release(txn: AirtimeTransaction) -> None:
    """Give a transaction that will never be paid back to its day's total."""
    DailyAirtimeSpend.objects.filter(day=txn.created_at.date(), currency=txn.currency).update(
        total=F("total") - txn.amount
    )


def queue_airtime(phones, amount, currency="KES", *, user=None) -> list[AirtimeTransaction]:
    """One transaction per distinct recipient, after every rule is checked; AirtimeRefused otherwise."""
    from .tasks import send_airtime

    amount, currency = parse_amount(amount), parse_currency(currency)
    maximum = limit_for(settings.AT_AIRTIME_MAX_AMOUNT, currency)
    if maximum is not None and amount > maximum:
        raise AirtimeRefused(f"'amount' is over the limit of {currency} {maximum} per recipient")
    recipients = []
    for given in phones:
        phone = normalize_phone(given)
        if phone is None:
            raise AirtimeRefused(f"Invalid phone number: {str(given)[:40]!r}")
        if phone not in recipients:
            recipients.append(phone)
    if not recipients:
        raise AirtimeRefused("Missing 'phone'")
    with transaction.atomic():
        reserve(currency, amount * len(recipients))
        created = AirtimeTransaction.objects.bulk_create(
            AirtimeTransaction(phone=p, amount=amount, currency=currency, requested_by=user) for p in recipients
        )
        for txn in created:  # one task each: each is its own request to AT, with its own key
            send_airtime.enqueue([txn.pk])
    logger.info("Airtime queued: %d x %s %s", len(created), currency, amount)
    return created


# --- Sending (the worker) -----------------------------------------------------------------------


def send_queued(transaction_id: int) -> None:
    """Send one queued transaction to AT with its own idempotency key; no lock is held while AT answers
    (AT calls our validation endpoint in the middle of it)."""
    from .tasks import send_airtime

    if not AirtimeTransaction.claim([transaction_id]):
        return
    txn = AirtimeTransaction.objects.get(pk=transaction_id)
    try:
        answer = gateway.send_airtime(txn.phone, txn.amount, txn.currency, idempotency_key=str(txn.idempotency_key))
    except gateway.ATError as exc:
        status = handle_failure(
            AirtimeTransaction, [txn], exc, retry_task=send_airtime, what="Airtime", idempotent=True
        )
        if status in (OutboundStatus.FAILED, OutboundStatus.REJECTED):
            release(txn)
        return
    store_answer(txn, answer)


def store_answer(txn: AirtimeTransaction, answer) -> None:
    """AT's answer: Sent → submitted with its requestId; Failed → rejected with AT's error message."""
    entries = (answer.get("responses") or []) if isinstance(answer, dict) else []
    entry = next((e for e in entries if normalize_phone(str(e.get("phoneNumber") or "")) == txn.phone), None)
    now = timezone.now()
    with transaction.atomic():
        if entry is None:
            error = str(answer.get("errorMessage") or "") if isinstance(answer, dict) else str(answer)[:200]
            AirtimeTransaction.advance(
                [txn.pk], OutboundStatus.UNKNOWN, failure_reason=f"not in AT's answer: {error}"[:255]
            )
            return
        status, error = str(entry.get("status") or ""), str(entry.get("errorMessage") or "")
        fields = {"at_status": status[:40], "at_error_message": "" if error == "None" else error[:255]}
        request_id = str(entry.get("requestId") or "")
        with contextlib.suppress(ValueError):
            fields["discount"], fields["discount_currency"] = parse_money(entry.get("discount") or "0")
        if status.lower() == "sent" and request_id and request_id != "None":
            AirtimeTransaction.advance(
                [txn.pk], OutboundStatus.SUBMITTED, at_request_id=request_id, submitted_at=now, **fields
            )
            link_early_statuses(txn.pk, request_id)
        else:
            AirtimeTransaction.advance(
                [txn.pk], OutboundStatus.REJECTED, failure_reason=(error or status)[:255], **fields
            )
            release(txn)


# --- Callbacks ---------------------------------------------------------------------------------


def validate(event: AirtimeValidation) -> None:
    """Decide AT's validation request: Validated only for a matching transaction of ours, once."""
    window = timezone.now() - timedelta(minutes=settings.AT_AIRTIME_VALIDATION_WINDOW_MINUTES)
    candidates = AirtimeTransaction.objects.select_for_update().filter(
        phone=event.phone_e164 or event.phone_number,
        currency=event.currency_code,
        amount=event.amount,
        status__in=[OutboundStatus.SENDING, OutboundStatus.SUBMITTED],
        updated_at__gte=window,
        validated_at__isnull=True,
    )
    txn = candidates.order_by("updated_at").first()
    if txn is None:
        event.decision, event.reason = ValidationDecision.FAILED, _why_not(event, window)
    else:
        AirtimeTransaction.objects.filter(pk=txn.pk).update(
            validated_at=timezone.now(), at_transaction_id=event.at_transaction_id
        )
        event.decision, event.reason, event.transaction = ValidationDecision.VALIDATED, "matches our send", txn
    AirtimeValidation.objects.filter(pk=event.pk).update(
        decision=event.decision, reason=event.reason[:255], transaction=event.transaction
    )
    logger.info("Airtime validation %s: %s (%s)", event.at_transaction_id, event.decision, event.reason)


def _why_not(event: AirtimeValidation, window) -> str:
    """Why nothing matched, for the staff reading the validation log."""
    ours = AirtimeTransaction.objects.filter(phone=event.phone_e164 or event.phone_number)
    if not ours.exists():
        return "no transaction of ours for this number"
    same = ours.filter(currency=event.currency_code, amount=event.amount)
    if not same.exists():
        return "amount or currency differs from our transactions for this number"
    if not same.filter(validated_at__isnull=True).exists():
        return "already validated (replay)"
    if not same.filter(updated_at__gte=window).exists():
        return "our matching transaction is older than the validation window"
    return "our matching transaction is not being sent"


def apply_status(event: AirtimeStatusEvent) -> None:
    """AT's status: Success → delivered, Failed → failed (its description kept); others change nothing."""
    txn = AirtimeTransaction.objects.filter(at_request_id=event.at_request_id).first()
    if txn is None:
        return  # arrived before the send's answer was stored: linked by `link_early_statuses`
    AirtimeStatusEvent.objects.filter(pk=event.pk).update(transaction=txn)
    event.transaction = txn
    _apply_status_to(txn, event)


def _apply_status_to(txn: AirtimeTransaction, event: AirtimeStatusEvent) -> None:
    status = STATUS_MAP.get(event.status.strip().lower())
    if status is None:
        return
    fields = {"description": event.description[:255]}
    if status == OutboundStatus.DELIVERED:
        fields["delivered_at"] = event.received_at
    else:
        fields["failure_reason"] = (event.description or event.status)[:255]
    if AirtimeTransaction.advance([txn.pk], status, **fields) and status == OutboundStatus.FAILED:
        release(txn)


def link_early_statuses(txn_id: int, request_id: str) -> None:
    for event in AirtimeStatusEvent.objects.filter(at_request_id=request_id, transaction__isnull=True).order_by(
        "received_at"
    ):
        AirtimeStatusEvent.objects.filter(pk=event.pk).update(transaction_id=txn_id)
        _apply_status_to(AirtimeTransaction.objects.get(pk=txn_id), event)
