"""URLs: AT's callback paths under /api/<product>/ (as in the reference app), the admin, /healthz."""

from django.contrib import admin
from django.http import HttpResponse
from django.urls import include, path
from django.views.decorators.http import require_safe

from atproject.health import healthz
from atproject.invoke import service_ready

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
    path("admin/", admin.site.urls),
    path("api/sms/", include("sms.urls")),
    # Products whose callbacks arrive with their issues answer as ready already.
    path("api/voice/", include("voice.urls")),
    path("api/airtime/", service_ready("airtime")),
    path("api/sim-swap/", service_ready("sim-swap")),
    path("api/ussd/", include("ussd.urls")),
]

admin.site.site_header = "Africa's Talking hub"
admin.site.site_title = "atproject"
admin.site.index_title = "Operations"
