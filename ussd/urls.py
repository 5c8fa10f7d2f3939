"""USSD callback URLs (the reference app's paths; `/status` is registered here, unlike there)."""

from django.urls import path

from hub.callbacks.mount import callback_path
from hub.invoke import service_ready

from . import models, services, views

app_name = "ussd"

urlpatterns = [
    path("", service_ready("ussd"), name="ready"),
    callback_path(
        "session",
        models.UssdHop,
        name="session",
        view=views.UssdSessionView,
        effect=services.answer_hop,
        insert_effect=services.hop_insert_effect,
        answered_effect=services.answered_hop,
    ),
    callback_path("status", models.UssdEnd, name="status", effect=services.record_end),
]
