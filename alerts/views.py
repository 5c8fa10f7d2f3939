"""Admin pages of the alerts app: the set-up doctor and the stuck-message report (being built)."""

from django.http import Http404


def doctor_view(request):
    raise Http404("the set-up doctor page is not built yet")


def stuck_view(request):
    raise Http404("the stuck-message report is not built yet")
