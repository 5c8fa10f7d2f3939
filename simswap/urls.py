"""SIM swap URLs (mounted at /api/sim-swap/, the reference app's prefix)."""

from django.urls import path

from hub.callbacks.mount import callback_path
from hub.invoke import service_ready

from . import models, services, views

app_name = "simswap"

urlpatterns = [
    path("", service_ready("sim-swap"), name="ready"),
    callback_path("status", models.SimSwapStatusEvent, name="status", effect=services.apply_status),
    path("invoke-check-simswap", views.InvokeCheckSimSwapView.as_view(), name="invoke-check-simswap"),
]
