"""The project's URLs plus `/bench/ok`: a bare Django view answering "OK", the benchmark's baseline."""

from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from atproject.urls import urlpatterns as project_urlpatterns


@csrf_exempt
def ok(request):
    return HttpResponse("OK", content_type="text/plain")


urlpatterns = [path("bench/ok", ok), *project_urlpatterns]
