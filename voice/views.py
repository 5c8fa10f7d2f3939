"""Voice callbacks (instructions answered with XML, events stored) and the invoke-call endpoint."""

from django.conf import settings
from django.http import HttpResponse
from rest_framework.exceptions import ValidationError

from hub.callbacks.models import ProcessingState
from hub.callbacks.views import CallbackView
from hub.invoke import InvokeView, phone_list

from .services import queue_calls, sorry, xml_response


class InstructView(CallbackView):
    """`/api/voice/instruct`: voice XML for the call; an empty 200 once it ended; a spoken apology on failure."""

    interactive = True

    def unavailable(self):
        return xml_response(sorry())

    def respond(self, outcome):
        event = outcome.event
        if event.state == ProcessingState.FAILED:
            return xml_response(sorry())
        if event.is_active is False:
            return HttpResponse("", content_type="text/plain")
        return xml_response(event.response or sorry())


class InvokeCallView(InvokeView):
    """Queue outbound calls from AT_VOICE_NUMBER to one or more numbers; 202 with each call's row."""

    required_permission = "voice.add_outboundcall"

    def invoke(self, request, params, *, where):
        if not settings.AT_VOICE_NUMBER:
            raise ValidationError("AT_VOICE_NUMBER is not set: outbound calls need your AT voice number")
        phones = phone_list(params, where=where)
        calls = queue_calls(phones, user=request.user)
        return self.accepted(
            {
                "message": f"Call queued for {len(calls)} recipient(s)",
                "recipients": [{"phone": c.phone, "status": c.status, "id": c.pk} for c in calls],
            }
        )
