"""Airtime: transactions we send, AT's validation and status callbacks, and the daily spend per currency."""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from hub.callbacks.models import (
    CODE_LENGTH,
    ID_LENGTH,
    PHONE_LENGTH,
    CallbackEvent,
    dedupe_constraint,
    failed_index,
    phone_columns,
)
from hub.callbacks.payload import Payload
from hub.outbound import OutboundRequest, OutboundStatus


def money_field(verbose_name, **kwargs):
    return models.DecimalField(verbose_name, max_digits=18, decimal_places=4, **kwargs)


def operator_day(moment=None):
    """The operator's date (TIME_ZONE) at `moment` (default: now): the day a daily limit counts in."""
    return timezone.localdate(moment or timezone.now(), timezone.get_default_timezone())


class AirtimeTransaction(OutboundRequest):
    """Airtime for one recipient; its idempotency key is its own and every retry reuses it.

    Only a request that provably never reached AT is retried; one that may have
    (a read timeout, a 5xx, a worker that died during the call) is `unknown`
    until AT's status callback or staff settle it.
    """

    send_task = "airtime.tasks.send_airtime"
    retry_gateway_errors = False  # a 502/503/504 may follow airtime AT sent: never retried

    phone = models.CharField(_("phone"), max_length=PHONE_LENGTH, db_index=True)
    amount = money_field(_("amount"))
    currency = models.CharField(_("currency"), max_length=3)
    idempotency_key = models.CharField(
        _("idempotency key"),
        max_length=64,
        unique=True,
        default=uuid.uuid4,
        help_text=_("Sent with every try of this transaction, so that AT never sends it twice."),
    )
    at_request_id = models.CharField(_("AT request id"), max_length=ID_LENGTH, blank=True, db_index=True)
    at_status = models.CharField(_("AT status"), max_length=CODE_LENGTH, blank=True)
    at_error_message = models.CharField(_("AT error message"), max_length=255, blank=True)
    discount = money_field(_("discount"), null=True, blank=True)
    discount_currency = models.CharField(_("discount currency"), max_length=3, blank=True)
    validated_at = models.DateTimeField(_("validated at"), null=True, blank=True)
    at_transaction_id = models.CharField(
        _("AT transaction id"),
        max_length=ID_LENGTH,
        blank=True,
        db_index=True,
        help_text=_("From AT's validation callback."),
    )
    description = models.CharField(_("description"), max_length=255, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    spend_day = models.DateField(
        _("spend day"),
        default=operator_day,
        help_text=_("The operator's day whose daily total this amount is counted in (set when it is reserved)."),
    )
    counted = models.BooleanField(
        _("counted"),
        default=True,
        help_text=_(
            "Whether the amount is in its day's total now: given back when the airtime was refused or failed, "
            "taken again if AT then reports it delivered."
        ),
    )
    settled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("settled by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("Who decided, for an unknown transaction, whether it was delivered."),
    )
    settled_at = models.DateTimeField(_("settled at"), null=True, blank=True)

    class Meta(OutboundRequest.Meta):
        verbose_name = _("airtime transaction")
        verbose_name_plural = _("airtime transactions")
        permissions = [
            ("send_airtime", _("Can send airtime")),
            ("settle_airtime", _("Can settle airtime")),
        ]

    def __str__(self):
        return f"{self.currency} {self.amount} → {self.phone} ({self.get_status_display()})"

    @property
    def validated(self) -> bool:
        return self.validated_at is not None


class DailyAirtimeSpend(models.Model):
    """What was committed to airtime per currency per day: checked and added to in one UPDATE."""

    day = models.DateField(_("day"))
    currency = models.CharField(_("currency"), max_length=3)
    total = money_field(_("total"), default=0)

    class Meta:
        verbose_name = _("daily airtime spend")
        verbose_name_plural = _("daily airtime spend")
        ordering = ["-day", "currency"]
        constraints = [models.UniqueConstraint(fields=["day", "currency"], name="airtime_daily_spend_day_currency")]

    def __str__(self):
        return f"{self.day} {self.currency} {self.total}"


class ValidationDecision(models.TextChoices):
    VALIDATED = "Validated", _("validated")
    FAILED = "Failed", _("failed")


class AirtimeValidation(CallbackEvent):
    """AT asking, during our send, whether a transaction is ours (`/api/airtime/validation`)."""

    at_transaction_id = models.CharField(_("AT transaction id"), max_length=ID_LENGTH, blank=True, db_index=True)
    phone_number, phone_e164 = phone_columns(_("phone number"))
    source_ip_address = models.CharField(_("source IP address"), max_length=64, blank=True)
    amount = money_field(_("amount"), null=True, blank=True)
    currency_code = models.CharField(_("currency"), max_length=3, blank=True)
    decision = models.CharField(
        _("decision"),
        max_length=16,
        choices=ValidationDecision.choices,
        default=ValidationDecision.FAILED,
        db_index=True,
    )
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    transaction = models.ForeignKey(
        AirtimeTransaction,
        verbose_name=_("transaction"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="validations",
    )

    class Meta(CallbackEvent.Meta):
        verbose_name = _("airtime validation")
        verbose_name_plural = _("airtime validations")
        constraints = [dedupe_constraint("airtime_validation_dedupe")]
        indexes = [failed_index("airtime_validation")]

    def __str__(self):
        return f"{self.at_transaction_id}: {self.decision}"

    @classmethod
    def fields_from_payload(cls, payload: Payload) -> dict:
        phone, phone_e164 = payload.phone("phoneNumber", required=True)
        amount, currency = payload.money("amount", required=True)
        code = payload.text("currencyCode", required=True, max_length=3).upper()
        return {
            "at_transaction_id": payload.text("transactionId", required=True, max_length=ID_LENGTH),
            "phone_number": phone,
            "phone_e164": phone_e164,
            "source_ip_address": payload.text("sourceIpAddress", max_length=64),
            "amount": amount,
            "currency_code": code or currency,
        }

    @classmethod
    def dedupe_values(cls, fields):
        return [fields["at_transaction_id"]]


class AirtimeStatusEvent(CallbackEvent):
    """AT's final word on a transaction (`/api/airtime/status`)."""

    at_request_id = models.CharField(_("AT request id"), max_length=ID_LENGTH, blank=True, db_index=True)
    phone_number, phone_e164 = phone_columns(_("phone number"))
    status = models.CharField(_("status"), max_length=CODE_LENGTH, blank=True, db_index=True)
    description = models.CharField(_("description"), max_length=255, blank=True)
    discount = money_field(_("discount"), null=True, blank=True)
    discount_currency = models.CharField(_("discount currency"), max_length=3, blank=True)
    value = money_field(_("value"), null=True, blank=True)
    value_currency = models.CharField(_("value currency"), max_length=3, blank=True)
    transaction = models.ForeignKey(
        AirtimeTransaction,
        verbose_name=_("transaction"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="status_events",
    )

    class Meta(CallbackEvent.Meta):
        verbose_name = _("airtime status")
        verbose_name_plural = _("airtime statuses")
        constraints = [dedupe_constraint("airtime_status_dedupe")]
        indexes = [failed_index("airtime_status")]

    def __str__(self):
        return f"{self.at_request_id}: {self.status}"

    @classmethod
    def fields_from_payload(cls, payload: Payload) -> dict:
        phone, phone_e164 = payload.phone("phoneNumber")
        discount, discount_currency = payload.money("discount")
        value, value_currency = payload.money("value")
        return {
            "at_request_id": payload.text("requestId", required=True, max_length=ID_LENGTH),
            "phone_number": phone,
            "phone_e164": phone_e164,
            "status": payload.text("status", max_length=CODE_LENGTH),
            "description": payload.text("description", max_length=255),
            "discount": discount,
            "discount_currency": discount_currency,
            "value": value,
            "value_currency": value_currency,
        }

    @classmethod
    def dedupe_values(cls, fields):
        return [fields["at_request_id"], fields["status"].lower()]


# AT's airtime status → our status (compared case-insensitively); others move nothing.
STATUS_MAP = {"success": OutboundStatus.DELIVERED, "failed": OutboundStatus.FAILED}
