"""SIM swap: checks we ask AT for, and the status callbacks that carry their results."""

from datetime import date, datetime

from django.db import models
from django.utils.translation import gettext_lazy as _

from hub.callbacks.models import (
    CODE_LENGTH,
    ID_LENGTH,
    PHONE_LENGTH,
    CallbackEvent,
    dedupe_constraint,
    failed_index,
)
from hub.callbacks.payload import CallbackError, Payload
from hub.outbound import OutboundRequest

#: AT's "no date known" (docs/at-reference.md): stored as empty.
UNKNOWN_DATE = date(1900, 1, 1)


class SimSwapCheck(OutboundRequest):
    """One number's SIM-swap check: AT's answer (requestId, carrier), then the result by callback."""

    send_task = "simswap.tasks.check_sim_swap"

    phone = models.CharField(_("phone"), max_length=PHONE_LENGTH, db_index=True)
    at_request_id = models.CharField(_("AT request id"), max_length=ID_LENGTH, blank=True, db_index=True)
    at_status = models.CharField(_("AT status"), max_length=CODE_LENGTH, blank=True)
    at_transaction_id = models.CharField(_("AT transaction id"), max_length=ID_LENGTH, blank=True)
    carrier_name = models.CharField(_("carrier"), max_length=100, blank=True)
    country_code = models.CharField(_("country code"), max_length=8, blank=True)
    network_code = models.CharField(_("network code"), max_length=CODE_LENGTH, blank=True)
    number_type = models.CharField(_("number type"), max_length=CODE_LENGTH, blank=True)
    cost = models.CharField(_("cost"), max_length=40, blank=True)
    swap_status = models.CharField(
        _("SIM swap"),
        max_length=CODE_LENGTH,
        blank=True,
        db_index=True,
        help_text=_("Swapped or NotSwapped as AT sent it; empty until the result arrives."),
    )
    last_swap_date = models.DateField(_("last swap date"), null=True, blank=True)
    provider_ref_id = models.CharField(_("provider reference"), max_length=ID_LENGTH, blank=True)
    result_at = models.DateTimeField(_("result received at"), null=True, blank=True)

    class Meta(OutboundRequest.Meta):
        verbose_name = _("SIM swap check")
        verbose_name_plural = _("SIM swap checks")

    def __str__(self):
        return f"{self.phone}: {self.swap_status or self.get_status_display()}"


class SimSwapStatusEvent(CallbackEvent):
    """AT's result of a check (`/api/sim-swap/status`); it names no phone, only the requestId."""

    at_request_id = models.CharField(_("AT request id"), max_length=ID_LENGTH, blank=True, db_index=True)
    status = models.CharField(_("status"), max_length=CODE_LENGTH, blank=True, db_index=True)
    last_swap_date = models.DateField(_("last swap date"), null=True, blank=True)
    provider_ref_id = models.CharField(_("provider reference"), max_length=ID_LENGTH, blank=True)
    at_transaction_id = models.CharField(_("AT transaction id"), max_length=ID_LENGTH, blank=True)
    swap_check = models.ForeignKey(
        SimSwapCheck,
        verbose_name=_("check"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="status_events",
    )

    class Meta(CallbackEvent.Meta):
        verbose_name = _("SIM swap status")
        verbose_name_plural = _("SIM swap statuses")
        constraints = [dedupe_constraint("simswap_status_dedupe")]
        indexes = [failed_index("simswap_status")]

    def __str__(self):
        return f"{self.at_request_id}: {self.status}"

    @classmethod
    def fields_from_payload(cls, payload: Payload) -> dict:
        return {
            "at_request_id": payload.text("requestId", required=True, max_length=ID_LENGTH),
            "status": payload.text("status", max_length=CODE_LENGTH),
            "last_swap_date": swap_date(payload.text("lastSimSwapDate", max_length=40)),
            "provider_ref_id": payload.text("providerRefId", max_length=ID_LENGTH),
            "at_transaction_id": payload.text("transactionId", max_length=ID_LENGTH),
        }

    @classmethod
    def dedupe_values(cls, fields):
        return [fields["at_request_id"]]


def swap_date(text: str) -> date | None:
    """AT's DD-MM-YYYY (ISO also accepted); 01-01-1900 means "not known" and gives None."""
    if not text:
        return None
    for fmt in ("%d-%m-%Y", "%Y-%m-%d", "%d/%m/%Y"):
        try:
            value = datetime.strptime(text.strip()[:10], fmt).date()
        except ValueError:
            continue
        return None if value == UNKNOWN_DATE else value
    raise CallbackError("field 'lastSimSwapDate' must be a date such as 27-11-2026")
