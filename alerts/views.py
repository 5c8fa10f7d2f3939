"""Admin pages of the alerts app: the set-up doctor and the stuck-message report (being built)."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from . import doctor


@never_cache
def doctor_view(request):
    """The set-up doctor's report, for superusers only: it shows the callback URLs with the webhook token.

    GET runs the checks against the base URL in `?base_url=` (default: the URL this page was opened at);
    the self-test posts callbacks, so it runs on POST (with the CSRF token) only.
    """
    if not request.user.is_active or not request.user.is_superuser:
        raise PermissionDenied(_("The set-up doctor is for superusers: it shows the webhook token."))
    source = request.POST if request.method == "POST" else request.GET
    base_url = (source.get("base_url") or "").strip() or request.build_absolute_uri("/").rstrip("/")
    self_test = request.method == "POST" and source.get("self_test") == "1"
    report = doctor.run(base_url, self_test=self_test)
    context = {
        **admin.site.each_context(request),
        "title": _("Set-up doctor"),
        "report": report,
        "base_url": base_url,
        "self_test": self_test,
        "levels": {"errors": report.count(doctor.ERROR), "warnings": report.count(doctor.WARNING)},
    }
    response = TemplateResponse(request, "alerts/admin/doctor.html", context)
    response["Cache-Control"] = "no-store, private"  # it shows the token: no cache keeps it
    return response


def stuck_view(request):
    raise Http404("the stuck-message report is not built yet")
