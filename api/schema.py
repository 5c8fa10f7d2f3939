"""The OpenAPI schema's parts that views do not say themselves: the error body, the invoke endpoints'
parameters and answers, and which endpoints are public.

AT's callbacks (`/api/<product>/<kind>`, the `hub.callbacks` views) are left out: they are AT's contract
with us (docs/at-reference.md), answered to AT's servers only, never something to build on. The products'
`GET /api/<product>/` readiness answers are plain Django views, outside the schema as well.
"""

from drf_spectacular.extensions import OpenApiViewExtension
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="What went wrong, naming the parameter when one is at fault.")


def _error(description: str, example: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description, examples=[OpenApiExample(description, {"error": example})])


ERRORS = {
    400: _error("A bad parameter (named)", "'since' must be an ISO 8601 date-time such as 2026-12-01T08:00:00Z"),
    401: _error("No credentials, or bad ones", "Authentication credentials were not provided."),
    403: _error("Not staff, or without the model's view permission", "You need the permission ..."),
    404: _error("No such object", "No OutboundMessage matches the given query."),
}
INVOKE_ERRORS = {
    400: _error("A bad or missing parameter (named)", "Invalid phone number: 'abc' (use the international form)"),
    401: ERRORS[401],
    403: _error("Without the product's permission, or GET from a browser session", "You need the permission ..."),
    413: _error("Request body too large", "Request body too large."),
    429: _error("Over AT_API_THROTTLE_RATE", "Request was throttled. Expected available in 12 seconds."),
    503: _error("The database is unavailable", "The database is unavailable; try again later."),
}


def public_endpoints_only(endpoints, **kwargs):
    """drf-spectacular preprocessing hook: every endpoint but AT's callbacks."""
    return [endpoint for endpoint in endpoints if not is_callback(endpoint[3])]


def is_callback(callback) -> bool:
    """Whether a URL's view is one of AT's callbacks (`hub.callbacks.views.CallbackView` and its kinds)."""
    from hub.callbacks.views import CallbackView

    view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    return isinstance(view_class, type) and issubclass(view_class, CallbackView)


# --- The invoke endpoints -----------------------------------------------------------------------------------------


@extend_schema_field(
    {
        "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
        "example": "+254711000001,+254711000002",
        "description": "One number, a comma-separated list, or a JSON list; any format, normalised to E.164.",
    }
)
class PhonesField(serializers.CharField):
    pass


RECIPIENT = inline_serializer(
    "InvokeRecipient",
    {
        "phone": serializers.CharField(help_text="E.164 (as given when invalid)."),
        "status": serializers.CharField(help_text="queued, or rejected / blocked (never sent), with a reason."),
        "id": serializers.IntegerField(help_text="The row's id in the read API (messages/, airtime/, ...)."),
        "reason": serializers.CharField(required=False, help_text="Why it was not queued."),
        "amount": serializers.CharField(required=False, help_text="Airtime only."),
        "currency": serializers.CharField(required=False, help_text="Airtime only."),
    },
    many=True,
)
ACCEPTED = inline_serializer(
    "InvokeAccepted",
    {
        "message": serializers.CharField(),
        "batch": serializers.IntegerField(required=False, help_text="SMS only: the batch's id (batches/)."),
        "recipients": RECIPIENT,
    },
)

#: For each invoke view: its summary, the permission it needs and its parameters beside `phone`.
INVOKE = {
    "sms.views.InvokeBulkSmsView": (
        "Send a bulk SMS (from AT_SENDER_ID)",
        "sms.add_outboundmessage",
        {"message": serializers.CharField(help_text="The text.")},
    ),
    "sms.views.InvokeTwowaySmsView": (
        "Send an SMS from the shortcode (AT_SHORTCODE)",
        "sms.add_outboundmessage",
        {"message": serializers.CharField(help_text="The text.")},
    ),
    "voice.views.InvokeCallView": ("Place calls from AT_VOICE_NUMBER", "voice.add_outboundcall", {}),
    "airtime.views.InvokeSendAirtimeView": (
        "Send airtime",
        "airtime.send_airtime",
        {
            "amount": serializers.DecimalField(max_digits=18, decimal_places=4, help_text="Per recipient."),
            "currency": serializers.CharField(required=False, default="KES", help_text="ISO 4217; default KES."),
        },
    ),
    "simswap.views.InvokeCheckSimSwapView": ("Check numbers for a SIM swap", "simswap.add_simswapcheck", {}),
}


def _invoke_extension(path: str, summary: str, permission: str, extra: dict):
    name = path.rsplit(".", 1)[1].removeprefix("Invoke").removesuffix("View")

    class Extension(OpenApiViewExtension):
        target_class = path

        def view_replacement(self):
            fields = {"phone": PhonesField(help_text="The recipients."), **extra}
            description = (
                f"Needs the permission `{permission}`. With a token (`Authorization: Token ...`): GET with query "
                "parameters or POST with a JSON or form body. From a staff session: POST only, with the CSRF "
                "token. Answered 202 once the rows are queued; follow them in the read API by their ids."
            )
            parameters = [
                OpenApiParameter(key, str, required=field.required, description=field.help_text)
                for key, field in fields.items()
            ]
            body = inline_serializer(f"Invoke{name}Request", dict(fields))
            common = {"summary": summary, "description": description, "responses": {202: ACCEPTED, **INVOKE_ERRORS}}
            view = type(self.target_class.__name__, (self.target_class,), {"__module__": __name__})
            return extend_schema_view(
                get=extend_schema(operation_id=f"invoke_{name.lower()}_get", parameters=parameters, **common),
                post=extend_schema(operation_id=f"invoke_{name.lower()}", request=body, **common),
            )(view)

    Extension.__name__ = f"Invoke{name}Schema"
    return Extension


INVOKE_EXTENSIONS = [_invoke_extension(path, *details) for path, details in INVOKE.items()]
