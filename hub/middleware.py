"""Middleware of the project: requests refused before any view can trip over them."""

from django.http import HttpResponseBadRequest, JsonResponse
from rest_framework.views import APIView

from hub.callbacks.views import CallbackView


class RefuseNulCharacters:
    """400 for a query string (or admin form) holding a NUL character, which PostgreSQL cannot compare.

    `?status=%00` on an admin list reached the database and answered 500. AT's
    callbacks are left alone: their bodies keep NUL escaped (nothing is lost),
    and a NUL in their query string cannot match the token anyway. API views
    read their own bodies (and refuse such text naming the parameter).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        view_class = getattr(view_func, "view_class", None)
        if isinstance(view_class, type) and issubclass(view_class, CallbackView):
            return None
        is_api = isinstance(view_class, type) and issubclass(view_class, APIView)
        where = _nul_in(request.GET, "query parameter")
        if where is None and not is_api and request.method == "POST" and request.content_type in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            where = _nul_in(request.POST, "form field")
        if where is None:
            return None
        message = f"The {where} contains a NUL character (%00), which cannot be used."
        if request.path.startswith("/api/"):
            return JsonResponse({"error": message}, status=400)
        return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")


def _nul_in(querydict, kind: str) -> str | None:
    for key, values in querydict.lists():
        if "\x00" in key or any("\x00" in value for value in values):
            name = key.replace("\x00", "")[:40]
            return f"{kind} '{name}'"
    return None
