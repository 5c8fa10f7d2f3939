"""SMS: AT's delivery reports, inbound messages, opt-outs and premium subscriptions.

Event models store every callback (see `hub.callbacks`); `OptOut` and
`Subscription` hold the current state per phone that those events leave behind.
"""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from hub.callbacks.models import (
    CODE_LENGTH,
    ID_LENGTH,
    PHONE_LENGTH,
    CallbackEvent,
    dedupe_constraint,
    failed_index,
    phone_columns,
    plain_indexes,
    window_dedupe_index,
)
from hub.callbacks.payload import Payload
from hub.outbound import OutboundRequest, OutboundStatus


class DeliveryReport(CallbackEvent):
    """AT's report on one outbound message: Sent, Buffered, Success, Failed, ..."""

    at_message_id = models.CharField(
        _("AT message id"),
        max_length=ID_LENGTH,
        blank=True,
        help_text=_("The messageId AT returned when the message was sent."),
    )
    status = models.CharField(
        _("status"),
        max_length=CODE_LENGTH,
        blank=True,
        help_text=_("As AT sent it; unknown values are kept."),
    )
    phone_number, phone_e164 = phone_columns(_("phone number"), db_index=False)
    network_code = models.CharField(_("network code"), max_length=CODE_LENGTH, blank=True)
    failure_reason = models.CharField(_("failure reason"), max_length=ID_LENGTH, blank=True)
    retry_count = models.PositiveIntegerField(
        _("retry count"), null=True, blank=True, help_text=_("Premium SMS only: AT's delivery attempt.")
    )
    message = models.ForeignKey(
        "OutboundMessage",
        verbose_name=_("message"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="delivery_reports",
        help_text=_("The outbound message with this AT message id; empty while unmatched."),
    )

    class Meta(CallbackEvent.Meta):
        verbose_name = _("delivery report")
        verbose_name_plural = _("delivery reports")
        constraints = [dedupe_constraint("sms_deliveryreport_dedupe")]
        indexes = [failed_index("sms_dlr"), *plain_indexes("sms_dlr", "at_message_id", "status", "phone_e164")]

    def __str__(self):
        return f"{self.at_message_id or '?'}: {self.status or '?'}"

    @classmethod
    def fields_from_payload(cls, payload: Payload) -> dict:
        phone, phone_e164 = payload.phone("phoneNumber")
        return {
            "at_message_id": payload.text("id", required=True, max_length=ID_LENGTH),
            "status": payload.text("status", required=True, max_length=CODE_LENGTH),
            "phone_number": phone,
            "phone_e164": phone_e164,
            "network_code": payload.text("networkCode", max_length=CODE_LENGTH),
            "failure_reason": payload.text("failureReason", max_length=ID_LENGTH),
            "retry_count": payload.integer("retryCount"),
        }

    @classmethod
    def dedupe_values(cls, fields):
        return [fields["at_message_id"], fields["status"].lower(), fields["retry_count"]]


class InboundMessage(CallbackEvent):
    """A message a subscriber sent to our shortcode (two-way or premium SMS)."""

    at_id = models.CharField(_("AT id"), max_length=ID_LENGTH, blank=True)
    from_number, from_e164 = phone_columns(_("from"), db_index=False)
    to_number = models.CharField(_("to"), max_length=PHONE_LENGTH, blank=True, help_text=_("Our shortcode or number."))
    text = models.TextField(_("text"), blank=True)
    sent_at = models.DateTimeField(_("date"), null=True, blank=True, help_text=_("When AT received the message."))
    link_id = models.CharField(
        _("link id"), max_length=ID_LENGTH, blank=True, help_text=_("Premium SMS: needed to reply on demand.")
    )
    network_code = models.CharField(_("network code"), max_length=CODE_LENGTH, blank=True)
    cost = models.DecimalField(_("cost"), max_digits=18, decimal_places=4, null=True, blank=True)
    cost_currency = models.CharField(_("currency"), max_length=3, blank=True)

    class Meta(CallbackEvent.Meta):
        verbose_name = _("inbound message")
        verbose_name_plural = _("inbound messages")
        constraints = [dedupe_constraint("sms_inboundmessage_dedupe")]
        indexes = [
            failed_index("sms_inbound"),
            *plain_indexes("sms_inbound", "at_id", "from_e164", "to_number", "network_code"),
        ]

    def __str__(self):
        return f"{self.from_number}: {self.text[:40]}"

    @classmethod
    def fields_from_payload(cls, payload: Payload) -> dict:
        sender, sender_e164 = payload.phone("from", required=True)
        cost, currency = payload.money("cost")
        return {
            "at_id": payload.text("id", required=True, max_length=ID_LENGTH),
            "from_number": sender,
            "from_e164": sender_e164,
            "to_number": payload.text("to", required=True, max_length=PHONE_LENGTH),
            "text": payload.text("text", strip=False),
            "sent_at": payload.timestamp("date", required=True),
            "link_id": payload.text("linkId", max_length=ID_LENGTH),
            "network_code": payload.text("networkCode", max_length=CODE_LENGTH),
            "cost": cost,
            "cost_currency": currency,
        }

    @classmethod
    def dedupe_values(cls, fields):
        return [fields["at_id"]]

    @property
    def is_premium(self) -> bool:
        """Premium (on-demand) messages carry a linkId; replies must go back with it."""
        return bool(self.link_id)


class OptOutEvent(CallbackEvent):
    """A subscriber asked to receive no more bulk SMS from a sender id."""

    phone_number, phone_e164 = phone_columns(_("phone number"))
    sender_id = models.CharField(_("sender id"), max_length=ID_LENGTH, blank=True, db_index=True)

    dedupe_window = timedelta(minutes=1)

    class Meta(CallbackEvent.Meta):
        verbose_name = _("opt-out event")
        verbose_name_plural = _("opt-out events")
        indexes = [failed_index("sms_optout_event"), window_dedupe_index("sms_optout_event")]

    def __str__(self):
        return f"{self.phone_number} ✕ {self.sender_id}"

    @classmethod
    def fields_from_payload(cls, payload: Payload) -> dict:
        phone, phone_e164 = payload.phone("phoneNumber", required=True)
        return {
            "phone_number": phone,
            "phone_e164": phone_e164,
            "sender_id": payload.text("senderId", required=True, max_length=ID_LENGTH),
        }


class SubscriptionEvent(CallbackEvent):
    """A premium subscription added or deleted for (phone, shortcode, keyword)."""

    phone_number, phone_e164 = phone_columns(_("phone number"))
    short_code = models.CharField(_("shortcode"), max_length=CODE_LENGTH, blank=True, db_index=True)
    keyword = models.CharField(_("keyword"), max_length=ID_LENGTH, blank=True, db_index=True)
    update_type = models.CharField(
        _("update type"),
        max_length=CODE_LENGTH,
        blank=True,
        db_index=True,
        help_text=_("addition or deletion, as AT sent it; unknown values are kept and change nothing."),
    )

    dedupe_window = timedelta(minutes=1)

    class Meta(CallbackEvent.Meta):
        verbose_name = _("subscription event")
        verbose_name_plural = _("subscription events")
        indexes = [failed_index("sms_subscription_event"), window_dedupe_index("sms_subscription_event")]

    def __str__(self):
        return f"{self.phone_number} {self.update_type} {self.short_code}/{self.keyword}"

    @classmethod
    def fields_from_payload(cls, payload: Payload) -> dict:
        phone, phone_e164 = payload.phone("phoneNumber", required=True)
        return {
            "phone_number": phone,
            "phone_e164": phone_e164,
            "short_code": payload.text("shortCode", required=True, max_length=CODE_LENGTH),
            "keyword": payload.text("keyword", required=True, max_length=ID_LENGTH),
            "update_type": payload.text("updateType", required=True, max_length=CODE_LENGTH),
        }


class SubscriptionUpdate(models.TextChoices):
    """AT's `updateType` values; `from_at` reads them in any case."""

    ADDITION = "addition", _("addition")
    DELETION = "deletion", _("deletion")

    @classmethod
    def from_at(cls, value: str):
        try:
            return cls(value.strip().lower())
        except ValueError:
            return None


class OptOut(models.Model):
    """Whether a phone has opted out of bulk SMS from a sender id; honoured when sending."""

    phone = models.CharField(
        _("phone"), max_length=PHONE_LENGTH, help_text=_("E.164 when the number has a normal form, else as given.")
    )
    sender_id = models.CharField(_("sender id"), max_length=ID_LENGTH)
    active = models.BooleanField(_("opted out"), default=True, db_index=True)
    opted_out_at = models.DateTimeField(_("opted out at"))
    lifted_at = models.DateTimeField(_("lifted at"), null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("lifted by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    last_event = models.ForeignKey(
        OptOutEvent,
        verbose_name=_("last opt-out event"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("opt-out")
        verbose_name_plural = _("opt-outs")
        ordering = ["-opted_out_at"]
        constraints = [models.UniqueConstraint(fields=["phone", "sender_id"], name="sms_optout_phone_sender")]
        permissions = [("lift_optout", _("Can lift an opt-out"))]

    def __str__(self):
        state = _("opted out of") if self.active else _("lifted for")
        return f"{self.phone} {state} {self.sender_id}"


class Subscription(models.Model):
    """Whether a phone is subscribed to a premium (shortcode, keyword)."""

    phone = models.CharField(
        _("phone"), max_length=PHONE_LENGTH, help_text=_("E.164 when the number has a normal form, else as given.")
    )
    short_code = models.CharField(_("shortcode"), max_length=CODE_LENGTH)
    keyword = models.CharField(_("keyword"), max_length=ID_LENGTH)
    active = models.BooleanField(_("subscribed"), default=True, db_index=True)
    subscribed_at = models.DateTimeField(_("subscribed at"), null=True, blank=True)
    unsubscribed_at = models.DateTimeField(_("unsubscribed at"), null=True, blank=True)
    last_event = models.ForeignKey(
        SubscriptionEvent,
        verbose_name=_("last event"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        ordering = ["-subscribed_at"]
        constraints = [models.UniqueConstraint(fields=["phone", "short_code", "keyword"], name="sms_subscription_key")]

    def __str__(self):
        return f"{self.phone} → {self.short_code}/{self.keyword}"


# AT's delivery report statuses → our outbound status (compared case-insensitively).
DELIVERY_STATUS_MAP = {
    "sent": OutboundStatus.SENT,
    "submitted": OutboundStatus.SENT,
    "buffered": OutboundStatus.BUFFERED,
    "success": OutboundStatus.DELIVERED,
    "rejected": OutboundStatus.REJECTED,
    "failed": OutboundStatus.FAILED,
    "absentsubscriber": OutboundStatus.FAILED,
    "expired": OutboundStatus.EXPIRED,
}


def outbound_status_for_report(status: str) -> OutboundStatus | None:
    """Our status for a delivery report's `status`; None for a status we do not know."""
    return DELIVERY_STATUS_MAP.get(status.strip().lower())


class SmsMode(models.TextChoices):
    BULK = "bulk", _("bulk")
    PREMIUM = "premium", _("premium")


class SendSource(models.TextChoices):
    API = "api", _("invoke API")
    ADMIN = "admin", _("admin")
    REPLY = "reply", _("reply")
    AUTO_REPLY = "auto-reply", _("auto-reply")
    RESEND = "resend", _("resend")


class OutboundBatch(models.Model):
    """One send to one or more recipients: what was asked, by whom; its messages carry the statuses."""

    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    source = models.CharField(_("source"), max_length=16, choices=SendSource.choices, db_index=True)
    text = models.TextField(_("text"))
    sender = models.CharField(
        _("sender"), max_length=ID_LENGTH, blank=True, help_text=_("Sender id or shortcode; empty: AT's default.")
    )
    mode = models.CharField(_("mode"), max_length=8, choices=SmsMode.choices, default=SmsMode.BULK)
    recipient_count = models.PositiveIntegerField(_("recipients"), default=0)

    class Meta:
        verbose_name = _("outbound batch")
        verbose_name_plural = _("outbound batches")
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return f"#{self.pk} {self.text[:40]}"

    def status_counts(self) -> dict[str, int]:
        """How many of its messages are in each status (counted, never stored)."""
        rows = self.messages.order_by().values_list("status").annotate(n=models.Count("pk"))
        return dict(rows)


class OutboundMessage(OutboundRequest):
    """One SMS to one recipient, tracked from queued to delivered."""

    send_task = "sms.tasks.send_sms"

    batch = models.ForeignKey(OutboundBatch, verbose_name=_("batch"), on_delete=models.CASCADE, related_name="messages")
    phone = models.CharField(
        _("phone"), max_length=PHONE_LENGTH, help_text=_("E.164; as given when it was invalid.")
    )
    text = models.TextField(_("text"))
    sender = models.CharField(_("sender"), max_length=ID_LENGTH, blank=True)
    mode = models.CharField(_("mode"), max_length=8, choices=SmsMode.choices, default=SmsMode.BULK)
    keyword = models.CharField(_("keyword"), max_length=ID_LENGTH, blank=True)
    link_id = models.CharField(_("link id"), max_length=ID_LENGTH, blank=True)
    in_reply_to = models.ForeignKey(
        InboundMessage,
        verbose_name=_("in reply to"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="replies",
    )
    at_message_id = models.CharField(_("AT message id"), max_length=ID_LENGTH, blank=True)
    at_status_code = models.SmallIntegerField(_("AT status code"), null=True, blank=True)
    at_status = models.CharField(
        _("AT status"), max_length=CODE_LENGTH, blank=True, help_text=_("AT's latest word: send answer or report.")
    )
    cost = models.DecimalField(_("cost"), max_digits=18, decimal_places=4, null=True, blank=True)
    cost_currency = models.CharField(_("currency"), max_length=3, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)

    class Meta(OutboundRequest.Meta):
        verbose_name = _("outbound message")
        verbose_name_plural = _("outbound messages")
        # Every send writes a row and every delivery report updates one (which rewrites each index entry).
        indexes = [*OutboundRequest.Meta.indexes, *plain_indexes("sms_outbound", "phone", "at_message_id")]

    def __str__(self):
        return f"{self.phone}: {self.text[:30]} ({self.get_status_display()})"


class AutoReplyRule(models.Model):
    """Answer inbound messages automatically: by keyword (their first word) or any message."""

    keyword = models.CharField(
        _("keyword"),
        max_length=ID_LENGTH,
        blank=True,
        help_text=_("First word of the message, any case. Empty: any message no keyword rule matched."),
    )
    short_code = models.CharField(
        _("shortcode"), max_length=CODE_LENGTH, blank=True, help_text=_("Only messages to this number; empty: any.")
    )
    reply = models.TextField(_("reply"), help_text=_("The text sent back."))
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("auto-reply rule")
        verbose_name_plural = _("auto-reply rules")
        ordering = ["keyword", "short_code"]

    def __str__(self):
        return f"{self.keyword or _('(any message)')} → {self.reply[:40]}"
