"""SMS domain logic shared by callbacks, admin actions, the invoke API and tasks."""

import functools
import logging
from collections import defaultdict
from itertools import islice

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

import webhooks
from hub import gateway
from hub.answers import Outcome, link_early_events, store_answers
from hub.callbacks.ingest import db_value
from hub.callbacks.models import Arrival, InsertEffect
from hub.outbound import RESENDABLE, OutboundStatus, handle_failure, insert_rows, statuses_below
from hub.phones import normalize_phone

from .models import (
    AutoReplyRule,
    DeliveryReport,
    InboundMessage,
    OptOut,
    OptOutEvent,
    OutboundBatch,
    OutboundMessage,
    SendSource,
    SmsMode,
    Subscription,
    SubscriptionEvent,
    SubscriptionUpdate,
    outbound_status_for_report,
)

logger = logging.getLogger("atproject.sms")

#: The sender AT uses when a bulk SMS names none; opt-outs arrive for it.
AT_DEFAULT_SENDER = "AFRICASTKNG"
LOOKUP_CHUNK = 500


def chunked(items, size):
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def phone_key(phone_number: str, phone_e164: str) -> str:
    """The key a phone's state is kept under: E.164 when it has one, else as given."""
    return phone_e164 or phone_number


# --- Opt-outs and subscriptions (callback effects) ---------------------------------


def record_opt_out(event: OptOutEvent, arrival: Arrival | None = None) -> OptOut:
    """The subscriber opted out of `event.sender_id` (again, if staff had lifted it)."""
    opt_out, _created = OptOut.objects.update_or_create(
        phone=phone_key(event.phone_number, event.phone_e164),
        sender_id=event.sender_id,
        defaults={
            "active": True,
            "opted_out_at": event.received_at,
            "lifted_at": None,
            "lifted_by": None,
            "last_event": event,
        },
    )
    webhooks.emit("sms.opted_out", opt_out)
    return opt_out


def opted_out(phones, sender_id: str) -> set[str]:
    """Those of `phones` that opted out of `sender_id`."""
    found = set()
    for chunk in chunked(phones, LOOKUP_CHUNK):
        found.update(
            OptOut.objects.filter(phone__in=chunk, sender_id=sender_id, active=True).values_list("phone", flat=True)
        )
    return found


@transaction.atomic
def lift_opt_outs(queryset, user) -> int:
    """Staff lift opt-outs (the subscriber asked to hear from us again); returns how many."""
    return queryset.filter(active=True).update(active=False, lifted_at=timezone.now(), lifted_by=user)


def record_subscription(event: SubscriptionEvent, arrival: Arrival | None = None) -> Subscription | None:
    """Apply an addition or deletion; an unknown update type is kept on the event and changes nothing."""
    update = SubscriptionUpdate.from_at(event.update_type)
    if update is None:
        return None
    added = update == SubscriptionUpdate.ADDITION
    defaults = {"active": added, "last_event": event}
    defaults["subscribed_at" if added else "unsubscribed_at"] = event.received_at
    subscription, _created = Subscription.objects.update_or_create(
        phone=phone_key(event.phone_number, event.phone_e164),
        short_code=event.short_code,
        keyword=event.keyword,
        defaults=defaults,
    )
    webhooks.emit("sms.subscription", subscription)
    return subscription


# --- Queueing ------------------------------------------------------------------------


def effective_sender(sender: str, mode: str) -> str:
    """The sender id recipients see, which their opt-outs name."""
    return sender or (AT_DEFAULT_SENDER if mode == SmsMode.BULK else "")


def queue_sms(
    recipients,
    text: str,
    *,
    sender: str = "",
    mode: str = SmsMode.BULK,
    keyword: str = "",
    link_id: str = "",
    user=None,
    source: str = SendSource.API,
    in_reply_to: InboundMessage | None = None,
    resend_of: dict | None = None,
) -> OutboundBatch:
    """Create a batch with one message per distinct recipient and queue the sending tasks.

    Invalid numbers are stored `rejected` and numbers opted out of the sender
    are stored `blocked`; neither is ever sent to AT. The rows and their tasks
    commit together. `resend_of` maps an E.164 number to the message it resends.
    """
    resend_of = resend_of or {}
    seen, entries = set(), []
    for given in recipients:
        given = str(given).strip()
        phone = normalize_phone(given)
        key = phone or given
        if key and key not in seen:
            seen.add(key)
            entries.append((given, phone))

    with transaction.atomic():
        batch = OutboundBatch.objects.create(
            requested_by=user, source=source, text=text, sender=sender, mode=mode, recipient_count=len(entries)
        )
        blocked = opted_out([p for _g, p in entries if p], effective_sender(sender, mode))
        rows = []
        for given, phone in entries:
            if phone is None:
                status, reason = OutboundStatus.REJECTED, "invalid phone number"
            elif phone in blocked:
                status, reason = OutboundStatus.BLOCKED, f"opted out of {effective_sender(sender, mode)}"
            else:
                status, reason = OutboundStatus.QUEUED, ""
            rows.append(
                {
                    "phone": phone or given,
                    "status": status,
                    "failure_reason": reason,
                    "resend_of_id": resend_of.get(phone),
                }
            )
        now = timezone.now()
        common = {
            "batch": batch,
            "text": text,
            "sender": sender,
            "mode": mode,
            "keyword": keyword,
            "link_id": link_id,
            "in_reply_to": in_reply_to,
            "requested_by": user,
            "created_at": now,
            "updated_at": now,
        }
        insert_rows(OutboundMessage, common, rows)
        queued = list(batch.messages.filter(status=OutboundStatus.QUEUED).order_by("pk").values_list("pk", flat=True))
        for chunk in chunked(queued, settings.AT_SMS_CHUNK_SIZE):
            OutboundMessage.enqueue(chunk)
    logger.info("SMS batch %s queued: %d recipient(s), %d to send", batch.pk, len(entries), len(queued))
    return batch


def reply_to(messages, text: str, *, user=None, source: str = SendSource.REPLY) -> list[OutboundBatch]:
    """Reply to inbound messages from the number they were sent to; premium ones with their linkId."""
    batches = []
    for message in messages:
        mode = SmsMode.PREMIUM if message.is_premium else SmsMode.BULK
        batches.append(
            queue_sms(
                [message.from_e164 or message.from_number],
                text,
                sender=message.to_number,
                mode=mode,
                link_id=message.link_id,
                user=user,
                source=source,
                in_reply_to=message,
            )
        )
    return batches


def resend(messages, *, user=None) -> list[OutboundBatch]:
    """Send failed, rejected, expired or unknown messages again, as new rows linked to the old."""
    groups = defaultdict(list)
    for message in messages:
        if message.status in RESENDABLE:
            groups[(message.text, message.sender, message.mode, message.keyword, message.link_id)].append(message)
    batches = []
    for (text, sender, mode, keyword, link_id), group in groups.items():
        batches.append(
            queue_sms(
                [m.phone for m in group],
                text,
                sender=sender,
                mode=mode,
                keyword=keyword,
                link_id=link_id,
                user=user,
                source=SendSource.RESEND,
                resend_of={m.phone: m.pk for m in group},
            )
        )
    return batches


def matching_rule(message: InboundMessage) -> AutoReplyRule | None:
    """The active rule for a message: its keyword's (first word) first, else a rule for any message."""
    first_word = message.text.strip().split(maxsplit=1)[0].lower() if message.text.strip() else ""
    rules = AutoReplyRule.objects.filter(active=True, short_code__in=["", message.to_number])
    best = None
    for rule in rules:
        if rule.keyword and rule.keyword.strip().lower() != first_word:
            continue
        rank = (bool(rule.keyword), bool(rule.short_code))
        if best is None or rank > best[0]:
            best = (rank, rule)
    return best[1] if best else None


def auto_reply(message: InboundMessage, arrival: Arrival | None = None) -> OutboundBatch | None:
    """The inbound message's effect: answer it when an auto-reply rule matches."""
    webhooks.emit("sms.received", message)
    rule = matching_rule(message)
    if rule is None:
        return None
    return reply_to([message], rule.reply, source=SendSource.AUTO_REPLY)[0]


# --- Sending (runs in the worker) ------------------------------------------------------


def send_queued(message_ids) -> None:
    """Send the still-queued messages of `message_ids` to AT, in one request per sender and text."""
    claimed = OutboundMessage.claim(message_ids)
    if not claimed:
        return
    groups = defaultdict(list)
    for message in OutboundMessage.objects.filter(pk__in=claimed).order_by("pk"):
        groups[(message.text, message.sender, message.mode, message.keyword, message.link_id)].append(message)
    for (text, sender, mode, keyword, link_id), messages in groups.items():
        phones = [m.phone for m in messages]
        try:  # no transaction is open here: AT's answer may take seconds
            if mode == SmsMode.PREMIUM:
                results = gateway.send_premium_sms(text, sender, phones, keyword=keyword, link_id=link_id)
            else:
                results = gateway.send_sms(text, phones, sender_id=sender)
        except gateway.ATError as exc:
            handle_send_failure(messages, exc)
        else:
            store_results(messages, results)


def handle_send_failure(messages, exc: gateway.ATError) -> None:
    handle_failure(OutboundMessage, messages, exc, what="SMS")


def store_results(messages, results) -> None:
    """Store AT's per-recipient answer: submitted with its message id, or rejected with the reason
    (`hub.answers.store_answers`); then link the delivery reports that came first."""
    with transaction.atomic():
        now = timezone.now()
        stored = store_answers(OutboundMessage, messages, results, functools.partial(_sms_outcome, now), now=now)
        webhooks.emit_many("sms.sent", stored.rows(OutboundStatus.SUBMITTED))
        link_early_reports([m.at_message_id for m in stored.rows(OutboundStatus.SUBMITTED) if m.at_message_id])


def _sms_outcome(now, message, result: gateway.SmsRecipientResult) -> Outcome:
    fields = {
        "at_status_code": result.status_code,
        "at_status": result.status,
        "cost": result.cost,
        "cost_currency": result.cost_currency,
    }
    if result.accepted:
        return Outcome(OutboundStatus.SUBMITTED, {**fields, "at_message_id": result.message_id, "submitted_at": now})
    return Outcome(OutboundStatus.REJECTED, {**fields, "failure_reason": result.reason})


# --- Delivery reports ------------------------------------------------------------------


#: The webhook event of a delivery report that moves its message to these statuses.
REPORT_EVENTS = {
    OutboundStatus.DELIVERED: "sms.delivered",
    OutboundStatus.FAILED: "sms.failed",
    OutboundStatus.EXPIRED: "sms.failed",
    OutboundStatus.REJECTED: "sms.failed",
}


def apply_report_status(report: DeliveryReport, message_id: int) -> None:
    """Move a message up to what its delivery report says (an unknown status moves nothing)."""
    status = outbound_status_for_report(report.status)
    if status is not None:
        fields = report_fields(report.status, report.received_at, report.failure_reason)
        if OutboundMessage.advance([message_id], status, **fields) and REPORT_EVENTS.get(status):
            webhooks.emit(REPORT_EVENTS[status], OutboundMessage(pk=message_id))


@functools.cache
def _message_id_sql() -> str:
    quote = connection.ops.quote_name
    return (
        f"(SELECT {quote('id')} FROM {quote(OutboundMessage._meta.db_table)} "  # noqa: S608 - quoted names
        f"WHERE {quote('at_message_id')} = %s LIMIT 1)"
    )


@functools.cache
def _advance_statement(vendor: str, status: str, columns: tuple[str, ...]) -> str:
    quote = connection.ops.quote_name
    below = statuses_below(status)
    return (
        f"UPDATE {quote(OutboundMessage._meta.db_table)} SET {', '.join(f'{quote(c)} = %s' for c in columns)} "  # noqa: S608
        f"WHERE {quote('at_message_id')} = %s AND {quote('status')} IN ({', '.join(['%s'] * len(below))})"
    )


def _advance_sql(at_message_id: str, at_status: str, received_at, failure_reason: str) -> tuple[str, list] | None:
    """The UPDATE moving the report's message up to the report's status; None for a status that moves nothing.

    The statement is built once per status and set of columns.
    """
    status = outbound_status_for_report(at_status)
    if status is None:
        return None
    fields = {"status": status, "updated_at": timezone.now(), **report_fields(at_status, received_at, failure_reason)}
    values = [db_value(OutboundMessage._meta.get_field(n), v, connection) for n, v in fields.items()]
    sql = _advance_statement(connection.vendor, status, tuple(fields))
    return sql, [*values, at_message_id, *_statuses_below(status)]


@functools.cache
def _statuses_below(status: str) -> tuple[str, ...]:
    return tuple(statuses_below(status))


def apply_delivery_report(report: DeliveryReport, arrival: Arrival | None = None) -> None:
    """A delivery report's effect: link it to its message, when known, and move the message's status.

    Both are no-ops while the message is unknown (the report then waits,
    unmatched, for `link_early_reports`). Every delivery report of a campaign
    comes this way, so the SQL is written out: the ORM took longer to build
    these statements than the database to run them. (On PostgreSQL the
    report is usually stored and applied in one statement: `delivery_report_insert_effect`.)
    """
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(DeliveryReport._meta.db_table)} SET {quote('message_id')} = {_message_id_sql()} "  # noqa: S608
            f"WHERE {quote('id')} = %s",
            [report.at_message_id, report.pk],
        )
        advance = _advance_sql(report.at_message_id, report.status, report.received_at, report.failure_reason)
        if advance is not None:
            cursor.execute(*advance)
            if cursor.rowcount and (event := REPORT_EVENTS.get(outbound_status_for_report(report.status))):
                webhooks.emit_matching(event, OutboundMessage, "at_message_id", report.at_message_id)


def delivery_report_insert_effect(values: dict, db=None) -> InsertEffect | None:
    """`apply_delivery_report` within the report's INSERT (PostgreSQL): linked as stored, the message moved
    only when the row was new. `db` is the connection the INSERT runs on."""
    if (db or connection).vendor != "postgresql":
        return None
    effect = InsertEffect(columns={"message_id": (_message_id_sql(), [values["at_message_id"]])})
    advance = _advance_sql(values["at_message_id"], values["status"], values["received_at"], values["failure_reason"])
    if advance is not None:
        sql, params = advance
        effect.sql, effect.params = f"{sql} AND EXISTS (SELECT FROM inserted)", params
        event = REPORT_EVENTS.get(outbound_status_for_report(values["status"]))
        if event and webhooks.wants(event):  # the event written by the same statement
            effect.sql, more = webhooks.insert_after(effect.sql, OutboundMessage, event)
            effect.params = [*params, *more]
    return effect


def report_fields(at_status: str, received_at, failure_reason: str) -> dict:
    """What a delivery report sets on its message besides the status."""
    fields = {"at_status": at_status}
    if outbound_status_for_report(at_status) == OutboundStatus.DELIVERED:
        fields["delivered_at"] = received_at
    if failure_reason:
        fields["failure_reason"] = failure_reason
    return fields


def link_early_reports(at_message_ids) -> int:
    """Link reports that arrived before their message's AT id was known, and apply them in order."""
    return link_early_events(
        DeliveryReport,
        "at_message_id",
        OutboundMessage,
        "at_message_id",
        at_message_ids,
        apply_report_status,
    )
