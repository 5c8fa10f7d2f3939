"""AT's callbacks skip the middleware that serves people: sessions, CSRF, log-in, messages, CSP, static files.

A callback is a machine's POST authenticated by its token (`hub.callbacks.auth`),
answered with a few bytes of text or JSON. The middleware below this one in
MIDDLEWARE exists for browsers: it looked up sessions and users nobody had,
built a Content-Security-Policy for answers no browser renders, and took about
a quarter of a delivery report's CPU time. A request for one of the mounted
callback paths is therefore handed straight to the view (through Django's own
view-calling code: URL resolution, the view, rendering, exception handling);
every other request goes down the whole stack as before. (Each callback
path is also resolved once, not for every request.) The middleware above
this one (SecurityMiddleware: its HTTPS redirect and headers) still serves
callbacks too.
"""

from django.conf import settings
from django.core.handlers.base import BaseHandler
from django.core.handlers.exception import convert_exception_to_response
from django.urls import NoReverseMatch, Resolver404, ResolverMatch, get_script_prefix, get_urlconf, resolve, reverse


class _ViewOnly(BaseHandler):
    """Django's handler with no middleware: `_get_response` calls the view and renders its answer.

    The URL was resolved once per path (`callback_matches`): the match is reused.
    """

    def __init__(self):
        super().__init__()
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []

    def resolve_request(self, request):
        request.resolver_match = request.callback_match
        return request.resolver_match


def callback_matches(urlconf) -> dict[str, ResolverMatch]:
    """The path (after the script prefix) of every callback kind mounted in `urlconf`, with its URL match."""
    from hub.callbacks.registry import kinds

    prefix = get_script_prefix()
    matches = {}
    for kind in kinds().values():
        try:
            path = "/" + reverse(kind.url_name, urlconf=urlconf).removeprefix(prefix)
            matches[path] = resolve(path, urlconf)
        except (NoReverseMatch, Resolver404):  # a URLconf (a test's) that does not mount this kind
            continue
    return matches


class CallbacksSkipPageMiddleware:
    """For a callback path, call the view at once; for anything else, the rest of MIDDLEWARE."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.view_only = convert_exception_to_response(_ViewOnly()._get_response)
        self._matches: dict[object, dict[str, ResolverMatch]] = {}

    def __call__(self, request):
        urlconf = getattr(request, "urlconf", None) or get_urlconf() or settings.ROOT_URLCONF
        matches = self._matches.get(urlconf)
        if matches is None:
            matches = self._matches[urlconf] = callback_matches(urlconf)
        match = matches.get(request.path_info)
        if match is None:
            return self.get_response(request)
        request.callback_match = match
        return self.view_only(request)
