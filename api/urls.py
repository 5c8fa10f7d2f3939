"""The read API's URLs (/api/v1/...), the OpenAPI schema (/api/schema/) and its docs (/api/docs/).

Other apps add their endpoints to the read API by registering a viewset on `router` before the URLconf
is loaded (from their AppConfig.ready()): `from api.urls import router; router.register("webhook-endpoints", ...)`.
"""

from django.urls import include, path
from drf_spectacular.views import SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from . import views

app_name = "api"

router = SimpleRouter()
router.register("messages", views.MessageViewSet, basename="message")
router.register("batches", views.BatchViewSet, basename="batch")
router.register("inbound", views.InboundViewSet, basename="inbound")
router.register("calls", views.CallViewSet, basename="call")
router.register("ussd-sessions", views.UssdSessionViewSet, basename="ussd-session")
router.register("airtime", views.AirtimeViewSet, basename="airtime")
router.register("sim-swap", views.SimSwapViewSet, basename="sim-swap")

v1 = [
    path("phones/<str:number>/", views.PhoneTimelineView.as_view(), name="phone"),
]


def _v1_urls():
    # Read when the URLconf loads, after every app's ready(): what they registered is included.
    return [*v1, *router.urls]


urlpatterns = [
    path("v1/", include((_v1_urls(), "v1"))),
    path("schema/", views.SchemaView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
]
