"""What every DRF view of the project shares: `{"error": "..."}` bodies, their exceptions, who a token may be."""

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from rest_framework import exceptions, status
from rest_framework.authentication import TokenAuthentication
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body too large."
    default_code = "payload_too_large"


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The database is unavailable; try again later."
    default_code = "service_unavailable"


def _first_message(detail) -> str:
    """One readable sentence from DRF's error detail (a string, list or dict of them)."""
    if isinstance(detail, dict):
        field, value = next(iter(detail.items()))
        message = _first_message(value)
        return message if field in ("non_field_errors", "detail") else f"'{field}': {message}"
    if isinstance(detail, list):
        return _first_message(detail[0]) if detail else ""
    return str(detail)


def exception_handler(exc, context):
    """DRF's handler, with every error body as `{"error": "..."}`.

    Django's refusals of a request body (more form fields or files than it
    allows, too large) are a 400 or 413 with that body too, not Django's HTML page.
    """
    if isinstance(exc, RequestDataTooBig):
        return Response({"error": f"Request body too large: {exc}"}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, SuspiciousOperation):
        return Response({"error": f"Request refused: {exc}"}, status=status.HTTP_400_BAD_REQUEST)
    response = drf_exception_handler(exc, context)
    if response is not None:
        response.data = {"error": _first_message(response.data)}
    return response


class IgnoreAcceptHeader(BaseContentNegotiation):
    """Always answer with the view's first renderer: AT's Accept header is not ours to honour."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class StaffTokenAuthentication(TokenAuthentication):
    """DRF's token, honoured only while its user is active staff.

    A token outlives the job of the person it was made for: when a user loses
    staff status (or is deactivated), their tokens stop working at once.
    """

    def authenticate_credentials(self, key):
        user, token = super().authenticate_credentials(key)
        if not user.is_staff:
            raise exceptions.AuthenticationFailed("This token's user is not staff: tokens work for staff users only.")
        return user, token
