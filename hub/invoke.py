"""The invoke API every product shares: who may trigger sends, how often, with what parameters.

- A DRF token (`Authorization: Token ...`) of an active staff user for scripts:
  GET (as in the reference app) or POST. A staff session (the admin's login)
  only with POST and a CSRF token: a link in a mail or a page must never send
  on a staff member's behalf.
- A model permission per product (`required_permission`).
- A throttle counted atomically in the database, so every web process counts
  together and concurrent requests cannot slip past the limit.
- Text a database cannot hold (NUL, lone surrogates) is refused, naming the parameter.
- Errors always `{"error": "..."}`: 400 naming the parameter, 401, 403, 429.
"""

import json
from collections.abc import Callable, Mapping
from typing import Any, cast

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from rest_framework import status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from hub.api import StaffTokenAuthentication
from hub.phones import normalize_phone
from hub.throttle import AtomicRateThrottle

#: An endpoint's parameters: the query (a QueryDict) for GET, the parsed body (a QueryDict or a JSON object) for POST.
Params = Mapping[str, Any]


class InvokePermission(BasePermission):
    """Token: any method. Session: staff, POST only (CSRF is checked by DRF's SessionAuthentication)."""

    message = "You do not have permission to perform this action."

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        invoke_view = cast("InvokeView", view)  # the permission of InvokeView and its subclasses only
        if not (user and user.is_authenticated):
            return False
        if isinstance(request.successful_authenticator, SessionAuthentication):
            if request.method != "POST":
                self.message = (
                    f"{request.method} from a browser session is refused: use POST, "
                    "or an API token (Authorization: Token ...)."
                )
                return False
            if not user.is_staff:
                self.message = "Only staff may send from a browser session."
                return False
        if not user.has_perm(invoke_view.required_permission):
            self.message = f"You need the permission {invoke_view.required_permission!r}."
            return False
        return True


class InvokeThrottle(AtomicRateThrottle):
    """Per user, across every web process; the rate is AT_API_THROTTLE_RATE (e.g. 60/min)."""

    scope = "invoke"

    def get_rate(self) -> str:
        return settings.AT_API_THROTTLE_RATE


class InvokeView(APIView):
    """Base of the `invoke-*` endpoints: parameters from the query (GET) or the body (POST)."""

    authentication_classes = (StaffTokenAuthentication, SessionAuthentication)
    permission_classes = (InvokePermission,)
    throttle_classes = (InvokeThrottle,)
    parser_classes = (JSONParser, FormParser, MultiPartParser)
    http_method_names = ["get", "post"]
    required_permission = ""

    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        refuse_unstorable_text(request.query_params)
        return self.invoke(request, request.query_params, where="query parameter")

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = request.data if isinstance(request.data, Mapping) else {}  # a JSON array or scalar: no parameters
        refuse_unstorable_text(data)
        return self.invoke(request, data, where="parameter")

    def invoke(self, request: Request, params: Params, *, where: str) -> Response:
        raise NotImplementedError

    @staticmethod
    def accepted(body: dict[str, Any]) -> Response:
        return Response(body, status=status.HTTP_202_ACCEPTED)


def _unstorable(text: str) -> str:
    """Why a database cannot store `text`, or ""."""
    if "\x00" in text:
        return "contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode (a lone surrogate)"
    return ""


def refuse_unstorable_text(params: Params) -> None:
    """400 naming the first parameter whose name or value holds text no database column can store.

    A value nested in a JSON body is named by its top-level parameter.
    """
    if hasattr(params, "lists"):  # a QueryDict: every value of every key
        top = [(key, value) for key, values in params.lists() for value in values]
    else:
        top = list(params.items())
    pending: list[tuple[str | None, Any]] = [(None, key) for key, _value in top]
    pending += top
    while pending:
        name, value = pending.pop()
        if isinstance(value, str):
            problem = _unstorable(value)
            if problem:
                raise ValidationError(f"a parameter name {problem}" if name is None else f"'{name}' {problem}")
        elif isinstance(value, dict):
            pending.extend((name, key) for key in value)
            pending.extend((name, child) for child in value.values())
        elif isinstance(value, list):
            pending.extend((name, item) for item in value)


def required(params: Params, name: str, *, where: str) -> Any:
    """The parameter's value, 400 when missing or blank: a string (stripped) from a query or a form, any JSON
    value from a JSON body."""
    value = params.get(name)
    if isinstance(value, str):
        value = value.strip()
    if value in (None, "", []):
        raise ValidationError(f"Missing '{name}' {where}")
    return value


def phone_list(params: Params, *, where: str, name: str = "phone") -> list[str]:
    """One number, a comma-separated list or a JSON list, each normalised to E.164; 400 naming a bad one.

    As in the reference app, `phone=2547...` and a raw `phone=+2547...` (whose
    `+` arrives as a space) both work.
    """
    value = required(params, name, where=where)
    if isinstance(value, str) and value.startswith("["):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValidationError(f"'{name}' is not a valid JSON list") from None
    items = value if isinstance(value, list) else str(value).split(",")
    if hasattr(params, "getlist") and len(params.getlist(name)) > 1:  # phone=a&phone=b
        items = [p for v in params.getlist(name) for p in str(v).split(",")]
    phones: dict[str, None] = {}  # a dict keeps the order and drops repeats in O(1)
    for item in items:
        given = str(item).strip()
        if not given:
            continue
        phone = normalize_phone(given)
        if phone is None:
            raise ValidationError(f"Invalid phone number: {given[:40]!r} (use the international form, +2547...)")
        phones[phone] = None
    if not phones:
        raise ValidationError(f"Missing '{name}' {where}")
    if len(phones) > settings.AT_API_MAX_RECIPIENTS:
        raise ValidationError(f"Too many recipients: at most {settings.AT_API_MAX_RECIPIENTS} per request")
    return list(phones)


def service_ready(name: str) -> Callable[[HttpRequest], HttpResponse]:
    """`GET /api/<name>/`: `{"service": name, "status": "ready"}`, as the reference app answers."""
    from django.http import JsonResponse
    from django.views.decorators.http import require_safe

    @require_safe
    def view(request: HttpRequest) -> HttpResponse:
        return JsonResponse({"service": name, "status": "ready"})

    return view
