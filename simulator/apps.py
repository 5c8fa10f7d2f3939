"""The local AT simulator as a development app: `manage.py atsim`. The product serves none of it."""

from django.apps import AppConfig


class SimulatorConfig(AppConfig):
    name = "simulator"
    verbose_name = "Local AT simulator"
