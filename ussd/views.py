"""USSD callbacks: each hop answered with a screen, in time, whatever happens inside."""

from django.http import HttpResponse

from hub.callbacks.models import ProcessingState
from hub.callbacks.views import CallbackView

from . import menus


def screen_response(text: str) -> HttpResponse:
    return HttpResponse(text, content_type="text/plain; charset=utf-8")


class UssdSessionView(CallbackView):
    """`/api/ussd/session`: answers `CON ...` or `END ...` (`END <apology>` when anything fails)."""

    interactive = True

    def unavailable(self):
        return screen_response(menus.error_answer())

    def respond(self, outcome):
        hop = outcome.event
        if hop.state == ProcessingState.FAILED or not hop.response:
            return screen_response(menus.error_answer())
        return screen_response(hop.response)
