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
        constraints = [models.UniqueConstraint(fields=["key", "window"], name="atproject_ratecounter_key_window")]

    def __str__(self):
        return f"{self.key} @ {self.window}: {self.hits}"
