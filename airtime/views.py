"""Airtime: AT's validation (the anti-fraud guard) and status callbacks, and invoke-send-airtime."""

from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from hub.callbacks.models import ProcessingState
from hub.callbacks.views import CallbackView
from hub.invoke import InvokeView, phone_list, required

from .models import ValidationDecision
from .services import AirtimeRefused, queue_airtime

FAILED = {"status": ValidationDecision.FAILED.value}


class ValidationView(CallbackView):
    """`/api/airtime/validation`: `{"status": "Validated"}` for a matching send of ours, else Failed.

    Fails closed: a replay, an invalid request, an internal error or a database
    outage all answer Failed, and AT does not send.
    """

    interactive = True

    def unavailable(self):
        return Response(FAILED)

    def refuse(self, outcome):
        return Response({**FAILED, "error": outcome.error}, status=400)

    def respond(self, outcome):
        event = outcome.event
        if not outcome.created or event.state == ProcessingState.FAILED:
            return Response(FAILED)
        return Response({"status": event.decision})


class InvokeSendAirtimeView(InvokeView):
    """Queue airtime for one or more numbers; the user needs "Can send airtime"."""

    required_permission = "airtime.send_airtime"

    def invoke(self, request, params, *, where):
        phones = phone_list(params, where=where)
        amount = required(params, "amount", where=where)
        try:
            transactions = queue_airtime(phones, amount, params.get("currency") or "KES", user=request.user)
        except AirtimeRefused as exc:
            raise ValidationError(str(exc)) from None
        return self.accepted(
            {
                "message": f"Airtime queued for {len(transactions)} recipient(s)",
                "recipients": [
                    {"phone": t.phone, "amount": str(t.amount), "currency": t.currency, "status": t.status, "id": t.pk}
                    for t in transactions
                ],
            }
        )
