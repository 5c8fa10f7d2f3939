from django.apps import AppConfig


class AirtimeConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "airtime"
    verbose_name = "Airtime"
