"""Airtime: sends with limits and AT's validation guard, statuses in any order."""

from django.apps import AppConfig


class AirtimeConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "airtime"
    verbose_name = "Airtime"

    def ready(self):
        from hub.outbound import when_unknown

        from . import services
        from .models import AirtimeTransaction

        # AT's status may have come before we knew the transaction was ours: settle from it once it is unknown.
        when_unknown(AirtimeTransaction, services.settle_from_statuses)
