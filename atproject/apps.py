"""The project package as an app: shared checks, commands, templates and admin helpers."""

from django.apps import AppConfig


class AtprojectConfig(AppConfig):
    name = "atproject"
    verbose_name = "Africa's Talking hub"

    def ready(self):
        from . import checks  # noqa: F401 - registers the system checks
