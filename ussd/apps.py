"""The USSD app: at start-up, every installed app's `ussd_handlers` module registers its screen handlers."""

from django.apps import AppConfig


class UssdConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "ussd"
    verbose_name = "USSD"

    def ready(self):
        from . import handlers

        handlers.autodiscover()
