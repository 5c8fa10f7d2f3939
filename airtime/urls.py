"""Airtime URLs: AT's callbacks at the reference app's paths, and invoke-send-airtime."""

from django.urls import path

from hub.callbacks.mount import callback_path
from hub.invoke import service_ready

from . import models, services, views

app_name = "airtime"

urlpatterns = [
    path("", service_ready("airtime"), name="ready"),
    callback_path(
        "validation",
        models.AirtimeValidation,
        name="validation",
        view=views.ValidationView,
        effect=services.validate,
        answered_effect=services.refused_while_down,
    ),
    callback_path("status", models.AirtimeStatusEvent, name="status", effect=services.apply_status),
    path("invoke-send-airtime", views.InvokeSendAirtimeView.as_view(), name="invoke-send-airtime"),
]
