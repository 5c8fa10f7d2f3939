"""Alerts: rules staff edit, incidents they open and resolve, notifications; the set-up doctor; the stuck report."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = _("Alerts")

    def ready(self):
        from hub.health import health_section

        from . import incidents  # registers the rules' evaluation with `maintain` (every pass)

        health_section("incidents")(incidents.health)
