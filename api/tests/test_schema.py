"""The OpenAPI schema at /api/schema/: valid OpenAPI 3, every public endpoint under /api/ in it with its bodies
and errors; the docs at /api/docs/ from our own static files.

Which URLs under /api/ are public: every DRF view but AT's callbacks. The callbacks (`hub.callbacks` views:
delivery reports, inbound messages, USSD hops, voice instructions, ...) are AT's contract with us, answered to
AT's servers only, and stay out of the schema; so do the products' `GET /api/<product>/` readiness answers
(plain Django views), and the schema and docs pages themselves. Anything else under /api/ missing from the
schema fails the test below.
"""

import re

import pytest
import yaml
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.http import JsonResponse
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls import path as url
from openapi_spec_validator import validate
from rest_framework.decorators import api_view
from rest_framework.response import Response

from api.schema import is_callback
from atproject import urls as root_urls

pytestmark = pytest.mark.django_db

#: The readiness answers of the reference app (hub.invoke.service_ready), and the schema and docs themselves,
#: by URL name.
NOT_ENDPOINTS = {"sms:ready", "voice:ready", "airtime:ready", "simswap:ready", "ussd:ready", "api:schema", "api:docs"}


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    with django_db_blocker.unblock():
        response = Client().get("/api/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def test_the_schema_is_valid_openapi_3(schema):
    assert schema["openapi"].startswith("3.")
    validate(schema)


def walk(patterns, prefix="", namespace=""):
    """(path, view, URL name) of every URL of the resolver, its converters written as OpenAPI `{name}`."""
    for entry in patterns:
        route = str(entry.pattern)
        if isinstance(entry, URLResolver):
            inner = f"{namespace}:{entry.namespace}" if namespace and entry.namespace else entry.namespace or namespace
            yield from walk(entry.url_patterns, prefix + route, inner)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace else entry.name
            yield prefix + route, entry.callback, name


def openapi_path(route: str) -> str:
    route = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", route)  # a router's regular expressions
    route = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
    route = route.replace("^", "").replace("$", "").replace("{pk}", "{id}")
    return "/" + route


def public_and_left_out() -> tuple[set, set]:
    """The OpenAPI paths of the resolver's URLs under /api/: those of the public API, and those left out."""
    public, left_out = set(), set()
    for route, view, name in walk(get_resolver().url_patterns):
        path = openapi_path(route)
        if not path.startswith("/api/") or "{format}" in path:
            continue
        (left_out if is_callback(view) or name in NOT_ENDPOINTS else public).add(path)
    return public, left_out


def test_every_public_url_under_api_is_in_the_schema(schema):
    public, left_out = public_and_left_out()
    assert {"/api/v1/messages/", "/api/v1/phones/{number}/", "/api/sms/invoke-bulk-sms"} <= public
    assert "/api/sms/delivery-reports" in left_out and "/api/ussd/session" in left_out
    missing = sorted(public - set(schema["paths"]))
    assert missing == [], "endpoints missing from the schema"
    assert set(schema["paths"]) & left_out == set(), "AT's callbacks are not part of the public API"


@api_view(["GET"])
def undocumented(request):
    return Response({})


def plain(request):
    return JsonResponse({})


urlpatterns = [
    url("api/v1/undocumented/", undocumented, name="undocumented"),
    url("api/plain/", plain, name="plain"),
    *root_urls.urlpatterns,
]


def test_the_walk_finds_an_endpoint_missing_from_the_schema(settings):
    settings.ROOT_URLCONF = __name__  # the project's URLs and two more under /api/
    generated = yaml.safe_load(Client().get("/api/schema/").content)
    public, _left_out = public_and_left_out()
    assert sorted(public - set(generated["paths"])) == ["/api/plain/"]  # DRF's one is documented, by itself
    assert "/api/v1/undocumented/" in generated["paths"]


def test_each_read_operation_has_its_answer_and_errors(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if not path.startswith("/api/v1/") or path.startswith("/api/v1/webhook-endpoints/"):
                continue
            assert {"200", "400", "401", "403", "404"} <= set(operation["responses"]), (path, method)
            error = operation["responses"]["401"]["content"]["application/json"]["schema"]
            assert error == {"$ref": "#/components/schemas/Error"}
    assert schema["components"]["schemas"]["Error"]["properties"] == {
        "error": {"type": "string", "description": "What went wrong, naming the parameter when one is at fault."}
    }
    listing = schema["paths"]["/api/v1/messages/"]["get"]
    names = {p["name"] for p in listing["parameters"]}
    assert names == {"phone", "status", "since", "until", "batch", "sender", "cursor", "limit"}
    page = listing["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    message = schema["components"]["schemas"][page]["properties"]["results"]["items"]["$ref"].rsplit("/", 1)[1]
    properties = schema["components"]["schemas"][message]["properties"]
    assert {"id", "at_message_id", "phone", "status", "created_at", "delivery_reports"} <= set(properties)
    assert properties["created_at"]["format"] == "date-time"


def test_each_invoke_endpoint_has_its_parameters_body_answer_and_errors(schema):
    invoke = {p: ops for p, ops in schema["paths"].items() if "/invoke-" in p}
    assert set(invoke) == {
        "/api/sms/invoke-bulk-sms", "/api/sms/invoke-twoway-sms", "/api/voice/invoke-call",
        "/api/airtime/invoke-send-airtime", "/api/sim-swap/invoke-check-simswap",
    }  # fmt: skip
    for path, operations in invoke.items():
        assert set(operations) == {"get", "post"}, path
        for operation in operations.values():
            assert {"202", "400", "401", "403", "429"} <= set(operation["responses"]), path
        assert "phone" in {p["name"] for p in operations["get"]["parameters"]}
        body = operations["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        assert "phone" in schema["components"]["schemas"][body]["required"]
    airtime = schema["paths"]["/api/airtime/invoke-send-airtime"]["get"]["parameters"]
    assert {p["name"]: p.get("required", False) for p in airtime} == {"phone": True, "amount": True, "currency": False}


def test_the_docs_are_served_from_our_own_static_files():
    response = Client().get("/api/docs/")
    assert response.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', response.content.decode())
    assert any(asset.endswith("swagger-ui-bundle.js") for asset in assets)
    for asset in assets:
        assert not asset.startswith(("http:", "https:", "//")), f"the docs load {asset} from elsewhere"
        if asset.startswith("/static/"):
            assert finders.find(asset.removeprefix("/static/")), asset
    inline = [
        body for body in re.findall(r"<script[^>]*>(.*?)</script>", response.content.decode(), re.S) if body.strip()
    ]
    assert inline == [], "no inline script: the Content-Security-Policy allows our own files only"
    assert "script-src 'self'" in response["Content-Security-Policy"]
    script = Client().get("/api/docs/?script=")  # Swagger UI's set-up, a script of ours (no inline script: CSP)
    assert script.status_code == 200 and "/api/schema/" in script.content.decode()


def test_the_schema_generates_with_no_warning(tmp_path):
    """drf-spectacular warns when it has to guess (an unknown field, a path parameter's type, two operations of
    one name): each guess is a hole in what integrators read."""
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    assert (tmp_path / "schema.yaml").read_text().startswith("openapi: 3.")


def test_the_schema_is_generated_once_per_process_and_format():
    from api.views import SchemaView

    SchemaView._answers.clear()
    first = Client().get("/api/schema/")
    again = Client().get("/api/schema/")
    as_json = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert len(SchemaView._answers) == 2
    assert again.content == first.content and again["Content-Type"] == first["Content-Type"]
    assert as_json["Content-Type"] == "application/vnd.oai.openapi+json" and as_json.json()["openapi"].startswith("3.")
