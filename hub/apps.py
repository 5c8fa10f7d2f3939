"""The shared framework as an app: callbacks, the send pipeline, the gateway, admin helpers, the invoke API.

Every product app (sms, voice, airtime, simswap, ussd) builds on it; it imports none of them.
"""

from django.apps import AppConfig


class HubConfig(AppConfig):
    name = "hub"
    verbose_name = "Africa's Talking hub"

    def ready(self):
        from django_tasks.signals import task_started

        from . import checks  # noqa: F401 - registers the system checks
        from .maintenance import note_worker_seen

        # Any task a worker starts shows it alive (/healthz).
        task_started.connect(lambda **kwargs: note_worker_seen(), weak=False, dispatch_uid="atproject-worker-seen")
