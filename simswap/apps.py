from django.apps import AppConfig


class SimswapConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "simswap"
    verbose_name = "SIM swap"
