"""Webhook endpoints' API, mounted at /api/v1/webhook-endpoints/."""

from django.urls import path

from . import api

app_name = "webhooks"

urlpatterns = [
    path("", api.EndpointList.as_view(), name="endpoints"),
    path("<int:pk>/", api.EndpointDetail.as_view(), name="endpoint"),
    path("<int:pk>/rotate-secret/", api.RotateSecret.as_view(), name="rotate-secret"),
]
