"""URLs: AT's callback paths under /api/<product>/ (as in the reference app), the admin, /healthz."""

from django.contrib import admin
from django.http import HttpResponse
from django.urls import include, path
from django.views.decorators.http import require_safe

from alerts.metrics import metrics_view
from hub.health import healthz

SERVICES = ("sms", "voice", "airtime", "sim-swap", "ussd")


@require_safe
def welcome(request):
    endpoints = ", ".join(f"/api/{name}/" for name in SERVICES)
    return HttpResponse(
        f"Welcome to the API service. Available endpoints: {endpoints}. Staff: /admin/",
        content_type="text/plain",
    )


urlpatterns = [
    path("", welcome, name="welcome"),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),  # Prometheus, behind AT_METRICS_TOKEN
    path("admin/", admin.site.urls),
    path("api/v1/webhook-endpoints/", include("webhooks.urls")),
    # The read API (/api/v1/), its schema (/api/schema/) and docs (/api/docs/): before the products' callbacks.
    path("api/", include("api.urls")),
    path("api/sms/", include("sms.urls")),
    path("api/voice/", include("voice.urls")),
    path("api/airtime/", include("airtime.urls")),
    path("api/sim-swap/", include("simswap.urls")),
    path("api/ussd/", include("ussd.urls")),
]
