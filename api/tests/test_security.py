"""Every read endpoint asks for a staff token or session and a permission; mounting /api/ moved no callback."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from rest_framework.authentication import SessionAuthentication

from api.views import IsStaff, ReadAPIView
from hub.api import StaffTokenAuthentication
from hub.callbacks.registry import kinds

#: Where AT posts, as the reference app (and AT's dashboard) has them: they must not move.
CALLBACK_PATHS = {
    "sms.delivery-reports": "/api/sms/delivery-reports",
    "sms.twoway": "/api/sms/twoway",
    "sms.opt-out": "/api/sms/opt-out",
    "sms.subscription": "/api/sms/subscription",
    "ussd.session": "/api/ussd/session",
    "ussd.status": "/api/ussd/status",
    "voice.instruct": "/api/voice/instruct",
    "voice.events": "/api/voice/events",
    "airtime.validation": "/api/airtime/validation",
    "airtime.status": "/api/airtime/status",
    "simswap.status": "/api/sim-swap/status",
}


def read_views(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from read_views(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            view_class = getattr(entry.callback, "cls", None) or getattr(entry.callback, "view_class", None)
            if isinstance(view_class, type) and issubclass(view_class, ReadAPIView):
                yield prefix + str(entry.pattern), view_class


def test_every_read_view_takes_a_staff_token_or_session_and_checks_staff():
    found = list(read_views(get_resolver().url_patterns))
    assert len(found) == 15  # seven lists, seven details, the timeline
    for route, view_class in found:
        assert route.startswith("api/v1/"), route
        assert view_class.authentication_classes == (StaffTokenAuthentication, SessionAuthentication), route
        assert view_class.permission_classes and all(issubclass(p, IsStaff) for p in view_class.permission_classes)


@pytest.mark.parametrize("name", sorted(CALLBACK_PATHS))
def test_the_callbacks_stay_where_at_posts_them(name):
    kind = kinds()[name]
    assert kind.path == CALLBACK_PATHS[name]
    match = resolve(CALLBACK_PATHS[name])
    assert match.func.view_class is kind.view


def test_every_callback_is_listed():
    assert set(kinds()) == set(CALLBACK_PATHS)
