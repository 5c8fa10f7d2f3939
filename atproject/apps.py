"""The project package as an app: shared checks, commands, templates and admin helpers."""

from django.apps import AppConfig


class AtprojectConfig(AppConfig):
    name = "atproject"
    verbose_name = "Africa's Talking hub"

    def ready(self):
        from django_tasks.signals import task_started

        from . import checks  # noqa: F401 - registers the system checks
        from .maintenance import note_worker_seen

        # Any task a worker starts shows it alive (/healthz).
        task_started.connect(lambda **kwargs: note_worker_seen(), weak=False, dispatch_uid="atproject-worker-seen")
