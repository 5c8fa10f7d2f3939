"""SMS callback URLs, exactly as configured in AT's dashboard (the reference app's paths)."""

from atproject.callbacks.registry import callback_path

from . import models

app_name = "sms"

urlpatterns = [
    callback_path("delivery-reports", models.DeliveryReport, name="delivery-reports"),
    callback_path("twoway", models.InboundMessage, name="twoway"),
    callback_path("opt-out", models.OptOutEvent, name="opt-out"),
    callback_path("subscription", models.SubscriptionEvent, name="subscription"),
]
