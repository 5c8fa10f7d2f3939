"""What every DRF view of the project shares: `{"error": "..."}` bodies and their exceptions."""

from rest_framework import exceptions, status
from rest_framework.negotiation import BaseContentNegotiation
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
    """DRF's handler, with every error body as `{"error": "..."}`."""
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
