"""SMS URLs: AT's callbacks at the reference app's paths, and the invoke endpoints."""

from django.urls import path

from hub.callbacks.mount import callback_path
from hub.invoke import service_ready

from . import models, services, views

app_name = "sms"

urlpatterns = [
    path("", service_ready("sms"), name="ready"),
    callback_path(
        "delivery-reports",
        models.DeliveryReport,
        name="delivery-reports",
        effect=services.apply_delivery_report,
        insert_effect=services.delivery_report_insert_effect,
    ),
    callback_path("twoway", models.InboundMessage, name="twoway", effect=services.auto_reply),
    callback_path("opt-out", models.OptOutEvent, name="opt-out", effect=services.record_opt_out),
    callback_path("subscription", models.SubscriptionEvent, name="subscription", effect=services.record_subscription),
    path("invoke-bulk-sms", views.InvokeBulkSmsView.as_view(), name="invoke-bulk-sms"),
    path("invoke-twoway-sms", views.InvokeTwowaySmsView.as_view(), name="invoke-twoway-sms"),
]
