"""Models of the shared framework itself (the apps hold the products' models)."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class RateCounter(models.Model):
    """Requests counted for one throttle key in one fixed window: incremented by one atomic upsert."""

    key = models.CharField(_("key"), max_length=200)
    window = models.BigIntegerField(_("window"), help_text=_("Start of the window, in seconds since the epoch."))
    hits = models.PositiveIntegerField(_("hits"), default=0)

    class Meta:
        verbose_name = _("rate counter")
        verbose_name_plural = _("rate counters")
        constraints = [models.UniqueConstraint(fields=["key", "window"], name="hub_ratecounter_key_window")]

    def __str__(self):
        return f"{self.key} @ {self.window}: {self.hits}"


class RefusedCallback(models.Model):
    """Callbacks refused (403: no or wrong token, an address outside the allowlist), counted per hour and path.

    Refusals are counted, not only logged: a wrong token in AT's dashboard shows
    here (and in the console) as a number that grows. The token is never kept.
    """

    hour = models.DateTimeField(_("hour"), help_text=_("Start of the hour (UTC)."))
    path = models.CharField(_("path"), max_length=200)
    reason = models.CharField(_("reason"), max_length=40)
    count = models.PositiveIntegerField(_("refused"), default=0)
    last_source_ip = models.GenericIPAddressField(_("last source address"), null=True, blank=True)
    last_at = models.DateTimeField(_("last refused at"))

    class Meta:
        verbose_name = _("refused callback")
        verbose_name_plural = _("refused callbacks")
        ordering = ["-hour", "path"]
        constraints = [
            models.UniqueConstraint(fields=["hour", "path", "reason"], name="hub_refusedcallback_hour_path")
        ]

    def __str__(self):
        return f"{self.path}: {self.count} refused ({self.reason})"


class BalanceSnapshot(models.Model):
    """AT's account balance as the gateway last read it (`maintain` refreshes it every few minutes)."""

    fetched_at = models.DateTimeField(_("fetched at"), db_index=True)
    amount = models.DecimalField(_("balance"), max_digits=18, decimal_places=4, null=True, blank=True)
    currency = models.CharField(_("currency"), max_length=3, blank=True)
    error = models.CharField(_("error"), max_length=255, blank=True, help_text=_("Why AT could not be asked."))

    class Meta:
        verbose_name = _("AT balance")
        verbose_name_plural = _("AT balance")
        ordering = ["-fetched_at"]
        get_latest_by = "fetched_at"

    def __str__(self):
        return f"{self.currency} {self.amount}" if self.amount is not None else f"unknown: {self.error}"


class SendFailure(models.Model):
    """One failed call to AT for a send (SMS, calls, airtime, SIM swap): what went wrong, and what it left.

    The dashboard lists the latest; alerts count them (AT unreachable, credentials refused).
    """

    at = models.DateTimeField(_("at"), db_index=True)
    product = models.CharField(_("product"), max_length=100, help_text=_("The outbound model: sms.OutboundMessage."))
    outcome = models.CharField(
        _("outcome"), max_length=16, help_text=_("What the rows were left: queued (a retry), unknown, failed, rejected")
    )
    rows = models.PositiveIntegerField(_("rows"), default=0)
    reached = models.BooleanField(_("may have reached AT"), default=True)
    http_status = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=300)
    first_row = models.BigIntegerField(_("first row"), null=True, blank=True)

    class Meta:
        verbose_name = _("send failure")
        verbose_name_plural = _("send failures")
        ordering = ["-at"]

    def __str__(self):
        return f"{self.product} ×{self.rows}: {self.outcome} ({self.error[:60]})"
