"""Airtime domain logic: limits, queueing, sending, and AT's validation and status callbacks.

Airtime is money, so:
- every amount is a Decimal parsed from text, never a float, and one a money
  column holds (18 digits, 4 of them decimals), as is the request's total;
- only configured currencies are sent: a currency needs both a per-recipient
  maximum (AT_AIRTIME_MAX_AMOUNT) and a daily limit (AT_AIRTIME_DAILY_LIMIT);
- the per-recipient maximum and the day's total per currency are checked before
  anything is queued; the day is the operator's (TIME_ZONE), and it is stored
  on each transaction (`spend_day`), so that giving an amount back or taking it
  again always touches the day it was counted in. The day's total is reserved
  with one conditional UPDATE, so two concurrent requests cannot both take the
  last of it;
- `counted` says whether a transaction's amount is in its day's total now: it
  is given back once (refused, failed, settled "not delivered") and taken again
  when AT (or staff) then says it was delivered, whatever order AT's statuses
  arrive in: the total counts every amount delivered;
- a transaction that may have reached AT (a read timeout, a 5xx, a worker that
  died during the call) is never sent again automatically: it is `unknown`
  until AT's status callback settles it (matched by phone, amount and currency
  when we never learnt its requestId) or staff do;
- AT's validation callback approves only a transaction of ours that is being
  sent (or was just submitted), not validated yet, with the same phone, amount
  and currency; everything else, a replay included, is refused.
"""

import logging
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, F, IntegerField, Q, Value, When
from django.utils import timezone

import webhooks
from atproject import config
from hub import gateway
from hub.answers import Outcome, link_early_events, store_answers
from hub.callbacks.models import Arrival, ProcessingState
from hub.fields import clipped
from hub.outbound import OutboundStatus, handle_failure
from hub.phones import normalize_phone

from .models import (
    STATUS_MAP,
    AirtimeStatusEvent,
    AirtimeTransaction,
    AirtimeValidation,
    DailyAirtimeSpend,
    ValidationDecision,
    operator_day,
)

logger = logging.getLogger("atproject.airtime")

#: The largest amount a money column holds.
MONEY_MAX = config.MONEY_LIMIT - Decimal("0.0001")


class AirtimeRefused(ValueError):
    """A request that breaks a rule (amount, currency, limit): nothing was queued."""


# --- Rules -----------------------------------------------------------------------------------


def parse_amount(value) -> Decimal:
    """A positive decimal amount from text (never through float); AirtimeRefused naming the problem."""
    amount = config.parse_amount(value)
    if amount is not None:
        return amount
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise AirtimeRefused("'amount' must be a valid number")
    if number <= 0:
        raise AirtimeRefused("'amount' must be a positive number")
    if number >= config.MONEY_LIMIT:
        raise AirtimeRefused(f"'amount' is too large: at most {MONEY_MAX}")
    if -number.as_tuple().exponent > 4:
        raise AirtimeRefused("'amount' has more than 4 decimal places")
    raise AirtimeRefused("'amount' must be written as a plain decimal number, such as 10 or 10.50")


def parse_currency(value) -> str:
    """A 3-letter currency code in capitals ("kes" is KES; "KÉS" or "K3S" are refused)."""
    text = str(value or "KES")
    code = config.parse_currency(text) if text.isascii() else None
    if code is None:
        raise AirtimeRefused("'currency' must be a 3-letter code such as KES")
    return code


def configured_currencies() -> list[str]:
    """The currencies airtime may be sent in: those with both a per-recipient maximum and a daily limit."""
    return sorted(set(settings.AT_AIRTIME_MAX_AMOUNT) & set(settings.AT_AIRTIME_DAILY_LIMIT))


def limits_for(currency: str) -> tuple[Decimal, Decimal]:
    """(most per recipient, most per day) for `currency`; AirtimeRefused naming what is missing."""
    maximum = settings.AT_AIRTIME_MAX_AMOUNT.get(currency)
    daily = settings.AT_AIRTIME_DAILY_LIMIT.get(currency)
    if maximum is not None and daily is not None:
        return maximum, daily
    missing = []
    if maximum is None:
        missing.append("no per-recipient maximum (AT_AIRTIME_MAX_AMOUNT)")
    if daily is None:
        missing.append("no daily limit (AT_AIRTIME_DAILY_LIMIT)")
    enabled = ", ".join(configured_currencies()) or "none"
    raise AirtimeRefused(
        f"'currency' {currency} is not configured for airtime: it has {' and '.join(missing)}; configured: {enabled}"
    )


def todays_spend() -> list[tuple]:
    """(currency, committed today, daily limit, most per recipient) for every configured currency, then any
    other currency with a total today (its limits None: no longer configured)."""
    totals = dict(DailyAirtimeSpend.objects.filter(day=operator_day()).values_list("currency", "total"))
    rows = []
    for currency in sorted(set(configured_currencies()) | set(totals)):
        rows.append(
            (
                currency,
                totals.get(currency, 0),
                settings.AT_AIRTIME_DAILY_LIMIT.get(currency),
                settings.AT_AIRTIME_MAX_AMOUNT.get(currency),
            )
        )
    return rows


def spent_today(currency: str, *, now=None) -> Decimal:
    """What is committed in `currency` on the operator's day of `now` (default: today)."""
    row = (
        DailyAirtimeSpend.objects.filter(day=operator_day(now), currency=currency)
        .values_list("total", flat=True)
        .first()
    )
    return row or Decimal(0)


def _day_row(day, currency: str):
    """The day's total row, created at 0 when it does not exist yet; a queryset for UPDATEs."""
    try:
        with transaction.atomic():
            DailyAirtimeSpend.objects.get_or_create(day=day, currency=currency)
    except IntegrityError:  # created concurrently: it exists now
        pass
    return DailyAirtimeSpend.objects.filter(day=day, currency=currency)


def reserve(currency: str, amount: Decimal, day) -> None:
    """Add `amount` to `day`'s total, or refuse if it would pass AT_AIRTIME_DAILY_LIMIT. Call in a transaction."""
    _maximum, limit = limits_for(currency)
    if _day_row(day, currency).filter(total__lte=limit - amount).update(total=F("total") + amount) != 1:
        spent = DailyAirtimeSpend.objects.filter(day=day, currency=currency).values_list("total", flat=True).first()
        raise AirtimeRefused(
            f"the daily airtime limit for {currency} ({limit}) would be exceeded: {spent or 0} already committed today"
        )


def release(txn: AirtimeTransaction) -> bool:
    """Give a transaction's amount back to the day it was counted in, once: only while it is counted, and
    never for a delivered one. True when it was given back."""
    with transaction.atomic():
        given_back = (
            AirtimeTransaction.objects.filter(pk=txn.pk, counted=True)
            .exclude(status=OutboundStatus.DELIVERED)
            .update(counted=False)
        )
        if given_back:
            DailyAirtimeSpend.objects.filter(day=txn.spend_day, currency=txn.currency).update(
                total=F("total") - txn.amount
            )
    if given_back:
        logger.info("Airtime %s: %s %s given back to %s", txn.pk, txn.currency, txn.amount, txn.spend_day)
    return bool(given_back)


def retake(txn: AirtimeTransaction) -> bool:
    """Count a delivered transaction's amount again in its day, if it had been given back (even past the
    limit: it was delivered). True when it was taken again."""
    with transaction.atomic():
        taken = AirtimeTransaction.objects.filter(pk=txn.pk, counted=False).update(counted=True)
        if taken:
            _day_row(txn.spend_day, txn.currency).update(total=F("total") + txn.amount)
    if taken:
        logger.warning(
            "Airtime %s delivered after its amount was given back: %s %s counted in %s again",
            txn.pk,
            txn.currency,
            txn.amount,
            txn.spend_day,
        )
    return bool(taken)


def queue_airtime(phones, amount, currency="KES", *, user=None, now=None) -> list[AirtimeTransaction]:
    """One transaction per distinct recipient, after every rule is checked; AirtimeRefused otherwise.

    `now` is when the request was made (default: now): its operator's day is the one the total counts in.
    """
    amount, currency = parse_amount(amount), parse_currency(currency)
    maximum, _daily = limits_for(currency)
    if amount > maximum:
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
    total = amount * len(recipients)
    if total > MONEY_MAX:
        raise AirtimeRefused(
            f"the total ({currency} {total} for {len(recipients)} recipients) is more than an amount can be: "
            f"at most {MONEY_MAX}"
        )
    now = now or timezone.now()
    day = operator_day(now)
    with transaction.atomic():
        reserve(currency, total, day)
        created = AirtimeTransaction.objects.bulk_create(
            AirtimeTransaction(
                phone=p,
                amount=amount,
                currency=currency,
                requested_by=user,
                created_at=now,
                updated_at=now,
                spend_day=day,
                counted=True,
            )
            for p in recipients
        )
        for txn in created:  # one task each: each is its own request to AT, with its own key
            AirtimeTransaction.enqueue([txn.pk])
    logger.info("Airtime queued: %d x %s %s", len(created), currency, amount)
    return created


# --- Sending (the worker) -----------------------------------------------------------------------


def send_queued(transaction_id: int) -> None:
    """Send one queued transaction to AT with its own idempotency key; no lock is held while AT answers
    (AT calls our validation endpoint in the middle of it).

    Retried (with the same key) only when the request provably never reached AT;
    anything that may have reached it is left `unknown` (never a 502/503/504
    retry, whatever AT_RETRY_GATEWAY_ERRORS says).
    """
    if not AirtimeTransaction.claim([transaction_id]):
        return
    txn = AirtimeTransaction.objects.get(pk=transaction_id)
    try:
        answer = gateway.send_airtime(txn.phone, txn.amount, txn.currency, idempotency_key=str(txn.idempotency_key))
    except gateway.ATError as exc:
        status = handle_failure(AirtimeTransaction, [txn], exc, what="Airtime")
        if status in (OutboundStatus.FAILED, OutboundStatus.REJECTED):
            release(txn)
        return
    store_answer(txn, answer)


def store_answer(txn: AirtimeTransaction, answer: gateway.AirtimeAnswer) -> None:
    """AT's answer (`hub.answers.store_answers`): Sent → submitted with its requestId; Failed → rejected with
    AT's error message, and its amount given back; not in the answer → unknown.

    A status that got here first (matched by phone and amount) may have moved
    the transaction on already: AT's answer is still stored, its status kept.
    """
    now = timezone.now()

    def outcome(row, result: gateway.AirtimeResult) -> Outcome:
        fields = {
            "at_status": result.status,
            "at_error_message": result.error_message,
            "discount": result.discount,
            "discount_currency": result.discount_currency,
        }
        if result.accepted:
            accepted = {**fields, "at_request_id": result.request_id, "submitted_at": now}
            return Outcome(OutboundStatus.SUBMITTED, accepted)
        return Outcome(OutboundStatus.REJECTED, {**fields, "failure_reason": result.error_message or result.status})

    with transaction.atomic():
        stored = store_answers(
            AirtimeTransaction, [txn], answer, outcome, error=answer.error_message, on_late=_late_answer, now=now
        )
        for row, _result, done in stored.answered:
            if done.status == OutboundStatus.REJECTED:
                release(row)
        for row, result, done in stored.answered + stored.late:
            if done.status == OutboundStatus.SUBMITTED:
                link_early_statuses(row.pk, result.request_id)


def _late_answer(txn: AirtimeTransaction, result: gateway.AirtimeResult, outcome: Outcome) -> None:
    """AT's answer for a transaction no longer `sending`: moved up where the ladder allows (a refusal gives
    its amount back), else stored beside the status it has."""
    if outcome.status == OutboundStatus.SUBMITTED:
        if not AirtimeTransaction.advance([txn.pk], outcome.status, **outcome.fields):
            fields = {k: v for k, v in outcome.fields.items() if k != "at_request_id"}
            _store_late_answer(txn, result.request_id, **fields)
    elif AirtimeTransaction.advance([txn.pk], outcome.status, **outcome.fields):
        release(txn)


def _store_late_answer(txn: AirtimeTransaction, request_id: str, **fields) -> None:
    """AT's answer for a transaction already past `sending` (delivered by an early status, or reaped)."""
    AirtimeTransaction.objects.filter(pk=txn.pk).update(**fields)
    if not AirtimeTransaction.objects.filter(pk=txn.pk, at_request_id="").update(at_request_id=request_id):
        linked = AirtimeTransaction.objects.filter(pk=txn.pk).values_list("at_request_id", flat=True).first()
        if linked != request_id:
            logger.warning(
                "Airtime %s: AT answered requestId %s, but a status for %s was matched to it",
                txn.pk,
                request_id,
                linked,
            )


# --- Callbacks ---------------------------------------------------------------------------------


def refused_while_down(event: AirtimeValidation, answer: str, arrival: Arrival | None = None) -> None:
    """A validation replayed from the spool: AT was answered Failed while the database was down, and did not send."""
    event.decision = ValidationDecision.FAILED
    event.reason = "answered Failed: the database was unavailable when AT asked"
    AirtimeValidation.objects.filter(pk=event.pk).update(
        **clipped(AirtimeValidation, {"decision": event.decision, "reason": event.reason})
    )


def validate(event: AirtimeValidation, arrival: Arrival | None = None) -> None:
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
        **clipped(AirtimeValidation, {"decision": event.decision, "reason": event.reason}),
        transaction=event.transaction,
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


def apply_status(event: AirtimeStatusEvent, arrival: Arrival | None = None) -> None:
    """AT's status: Success → delivered, Failed → failed (its description kept); others change nothing.

    Linked by requestId; when no transaction has it (its worker died during the
    call, or AT's answer is not stored yet), to the transaction it matches by
    phone, amount and currency (`match_transaction`), which then gets the requestId.
    """
    txn = AirtimeTransaction.objects.filter(at_request_id=event.at_request_id).first()
    if txn is None:
        txn = match_transaction(event)
        if txn is None:
            return  # linked later: by requestId (`link_early_statuses`) or when one becomes unknown
        AirtimeTransaction.objects.filter(pk=txn.pk, at_request_id="").update(at_request_id=event.at_request_id)
        logger.info("Airtime status %s matched to transaction %s by phone and amount", event.at_request_id, txn.pk)
    AirtimeStatusEvent.objects.filter(pk=event.pk).update(transaction=txn)
    event.transaction = txn
    _apply_status_to(txn, event)


def match_transaction(event: AirtimeStatusEvent) -> AirtimeTransaction | None:
    """The transaction with no requestId that a status is for: same phone (E.164), currency and amount as the
    status's `phoneNumber` and `value` ("KES 100.0000"), created before the status arrived.

    Candidates are `unknown` transactions and those staff settled (they will never
    learn their requestId otherwise), then ones still `sending` (AT's answer, with
    the requestId, is on its way); the most recent first.
    """
    if not event.phone_e164 or event.value is None or not event.value_currency:
        return None
    never_answered = Q(status=OutboundStatus.UNKNOWN) | Q(settled_at__isnull=False)
    return (
        AirtimeTransaction.objects.select_for_update()
        .filter(never_answered | Q(status=OutboundStatus.SENDING))
        .filter(
            at_request_id="",
            phone=event.phone_e164,
            currency=event.value_currency,
            amount=event.value,
            created_at__lte=event.received_at,
        )
        .annotate(waiting=Case(When(never_answered, then=Value(0)), default=Value(1), output_field=IntegerField()))
        .order_by("waiting", "-created_at", "-pk")
        .first()
    )


def _apply_status_to(txn: AirtimeTransaction, event: AirtimeStatusEvent) -> None:
    """Success: delivered, and counted again if a failure had given its amount back. Failed: failed and given
    back, unless it was delivered (the ladder never moves down). Repeats change nothing."""
    status = STATUS_MAP.get(event.status.strip().lower())
    if status is None:
        return
    fields = {"description": event.description}
    if status == OutboundStatus.DELIVERED:
        # AT's word settles it: a reason such as "may have been sent" no longer applies.
        fields.update(delivered_at=event.received_at, failure_reason="")
        moved = AirtimeTransaction.advance([txn.pk], status, **fields)
        retake(txn)
        if moved:
            webhooks.emit("airtime.delivered", txn)
    else:
        fields["failure_reason"] = event.description or event.status
        if AirtimeTransaction.advance([txn.pk], status, **fields):
            release(txn)
            webhooks.emit("airtime.failed", txn)


def link_early_statuses(txn_id: int, request_id: str) -> int:
    """Link and apply the statuses with `request_id` that arrived before the transaction had it."""
    return link_early_events(
        AirtimeStatusEvent,
        "at_request_id",
        AirtimeTransaction,
        "at_request_id",
        {request_id: txn_id},
        lambda event, pk: _apply_status_to(AirtimeTransaction.objects.get(pk=pk), event),
    )


def settle_from_statuses(pks) -> None:
    """Transactions just marked `unknown` with no requestId: a status that arrived earlier and matched none
    of ours (same phone, currency and amount, received after the transaction was made) settles each."""
    for txn in AirtimeTransaction.objects.filter(pk__in=pks, status=OutboundStatus.UNKNOWN, at_request_id="").order_by(
        "created_at", "pk"
    ):
        request_id = (
            AirtimeStatusEvent.objects.filter(
                transaction__isnull=True,
                state=ProcessingState.PROCESSED,
                phone_e164=txn.phone,
                value_currency=txn.currency,
                value=txn.amount,
                received_at__gte=txn.created_at,
            )
            .order_by("received_at", "pk")
            .values_list("at_request_id", flat=True)
            .first()
        )
        if request_id is None or AirtimeTransaction.objects.filter(at_request_id=request_id).exists():
            continue
        if AirtimeTransaction.objects.filter(pk=txn.pk, at_request_id="").update(at_request_id=request_id):
            logger.info("Airtime %s settled from status %s that came first", txn.pk, request_id)
            link_early_statuses(txn.pk, request_id)


# --- Staff ---------------------------------------------------------------------------------------


def settle(pks, *, delivered: bool, user, note: str = "", now=None) -> list[AirtimeTransaction]:
    """Staff decide unknown transactions: delivered (counted) or not delivered (failed, amount given back).

    Only `unknown` ones are settled, each once (one conditional UPDATE); who and
    when are recorded. A later status from AT still applies: Success after "not
    delivered" delivers it and counts it again. Returns the settled transactions.
    """
    now = now or timezone.now()
    by = user.get_username() if user is not None else "staff"
    settled = []
    for pk in pks:
        with transaction.atomic():
            fields = {"settled_by": user, "settled_at": now, "updated_at": now}
            if delivered:
                fields.update(
                    status=OutboundStatus.DELIVERED,
                    delivered_at=now,
                    description=f"settled by {by} as delivered" + (f": {note}" if note else ""),
                )
            else:
                fields.update(
                    status=OutboundStatus.FAILED,
                    failure_reason=f"settled by {by} as not delivered" + (f": {note}" if note else ""),
                )
            moved = AirtimeTransaction.objects.filter(pk=pk, status=OutboundStatus.UNKNOWN).update(
                **clipped(AirtimeTransaction, fields)
            )
            if not moved:
                continue
            txn = AirtimeTransaction.objects.get(pk=pk)
            if delivered:
                retake(txn)
            else:
                release(txn)
        settled.append(txn)
    logger.info(
        "%d unknown airtime transaction(s) settled as %s by %s",
        len(settled),
        "delivered" if delivered else "not delivered",
        by,
    )
    return settled
