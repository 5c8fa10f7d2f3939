"""SMS invoke endpoints: `invoke-bulk-sms` and `invoke-twoway-sms` (the reference app's routes)."""

from django.conf import settings
from rest_framework.exceptions import ValidationError

from hub.invoke import InvokeView, phone_list, required

from .models import SendSource, SmsMode
from .services import queue_sms


class InvokeSmsView(InvokeView):
    """Queue an SMS to one or more numbers; answered 202 with each recipient's row."""

    required_permission = "sms.add_outboundmessage"
    #: Name of the setting that holds the sender (sender id or shortcode).
    sender_setting = "AT_SENDER_ID"

    def invoke(self, request, params, *, where):
        phones = phone_list(params, where=where)
        message = required(params, "message", where=where)
        if not isinstance(message, str):
            raise ValidationError("'message' must be text")
        sender = getattr(settings, self.sender_setting)
        batch = queue_sms(phones, message, sender=sender, mode=SmsMode.BULK, user=request.user, source=SendSource.API)
        recipients = [
            {
                "phone": m.phone,
                "status": m.status,
                "id": m.pk,
                **({"reason": m.failure_reason} if m.failure_reason else {}),
            }
            for m in batch.messages.order_by("pk")
        ]
        queued = sum(1 for r in recipients if r["status"] == "queued")
        return self.accepted(
            {"message": f"SMS queued for {queued} recipient(s)", "batch": batch.pk, "recipients": recipients}
        )


class InvokeBulkSmsView(InvokeSmsView):
    sender_setting = "AT_SENDER_ID"


class InvokeTwowaySmsView(InvokeSmsView):
    sender_setting = "AT_SHORTCODE"

    def invoke(self, request, params, *, where):
        if not settings.AT_SHORTCODE:
            raise ValidationError("AT_SHORTCODE is not set: two-way SMS needs your shortcode")
        return super().invoke(request, params, where=where)
