"""Event webhooks: endpoints other systems register, an outbox of events, signed deliveries with retries."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = _("Event webhooks")

    def ready(self):
        from django.db.models.signals import post_delete, post_save

        from . import maintenance  # noqa: F401 - registers the sweep with `maintain`
        from .models import Endpoint
        from .wanted import forget_wanted_types

        for signal in (post_save, post_delete):
            signal.connect(forget_wanted_types, sender=Endpoint, dispatch_uid=f"webhooks-wanted-{signal}")
