"""The console's figures: hourly rollups that `maintain` keeps current, so the dashboard never scans event tables."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Granularity(models.TextChoices):
    HOUR = "hour", _("hour")
    DAY = "day", _("day (operators' zone)")


class Rollup(models.Model):
    """One figure for one hour or one day: how many rows (`count`) and what they add up to (`total`: money,
    seconds, hops).

    `metric` names what is counted ("sms", "voice", "callbacks", ...) and
    `dimension` how it is split ("delivered", "ACME|failed", "KES"). Hours are
    UTC hours; a day is a day in the operators' zone (TIME_ZONE), the sum of
    its hours, kept so that a month reads 30 rows per figure, not 720.
    """

    granularity = models.CharField(_("granularity"), max_length=4, choices=Granularity.choices)
    start = models.DateTimeField(_("start"))
    metric = models.CharField(_("metric"), max_length=40)
    dimension = models.CharField(_("dimension"), max_length=200, blank=True)
    count = models.BigIntegerField(_("count"), default=0)
    total = models.DecimalField(_("total"), max_digits=24, decimal_places=4, default=0)

    class Meta:
        verbose_name = _("figure")
        verbose_name_plural = _("figures")
        ordering = ["-start", "metric", "dimension"]
        constraints = [
            models.UniqueConstraint(
                fields=["granularity", "start", "metric", "dimension"], name="console_rollup_start_metric"
            )
        ]
        permissions = [("export_lists", _("Can export lists (CSV, XLSX)"))]

    def __str__(self):
        return f"{self.granularity} {self.start:%Y-%m-%d %H:00} {self.metric} {self.dimension}: {self.count}"
