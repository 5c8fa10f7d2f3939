"""The subscriber timeline at /admin/phone/<number>/ (being built: see the console's issue)."""

from django.http import Http404


def search_view(request):
    raise Http404("the subscriber timeline is not built yet")


def phone_view(request, number):
    raise Http404("the subscriber timeline is not built yet")
