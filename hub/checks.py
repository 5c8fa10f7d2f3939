"""System checks for settings that Django cannot know are dangerous."""

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

NO_TOKEN_HINT = (
    "Set AT_WEBHOOK_TOKEN to a long random string and append ?token=<it> to every callback URL in AT's dashboard."
)
#: Shortest webhook token accepted in production: it is the only thing standing between the callback URLs and anyone.
MIN_TOKEN_LENGTH = 16


@register(Tags.security)
def webhook_token_set(app_configs, **kwargs):
    if settings.AT_WEBHOOK_TOKEN:
        return []
    if not settings.DEBUG:
        # The server refuses every callback (and says so at start); `check --deploy` fails (E001).
        return [
            Warning(
                "AT_WEBHOOK_TOKEN is not set: with DEBUG off every callback is refused (403).",
                hint=NO_TOKEN_HINT,
                id="atproject.W002",
            )
        ]
    return [
        Warning(
            "AT_WEBHOOK_TOKEN is not set: anyone who knows the callback URLs can post fake AT callbacks.",
            hint=NO_TOKEN_HINT,
            id="atproject.W001",
        )
    ]


@register(Tags.security, deploy=True)
def secret_key_set_for_deploy(app_configs, **kwargs):
    from hub.startup import NO_SECRET_KEY

    if getattr(settings, "SECRET_KEY_MISSING", False):
        return [Error(NO_SECRET_KEY, id="atproject.E004")]
    return []


@register(Tags.security, deploy=True)
def webhook_token_set_for_deploy(app_configs, **kwargs):
    if not settings.AT_WEBHOOK_TOKEN:
        return [Error("AT_WEBHOOK_TOKEN must be set in production.", hint=NO_TOKEN_HINT, id="atproject.E001")]
    short = [t for t in settings.AT_WEBHOOK_TOKEN if len(t) < MIN_TOKEN_LENGTH]
    if short:
        return [
            Error(
                f"{len(short)} of the tokens in AT_WEBHOOK_TOKEN are shorter than {MIN_TOKEN_LENGTH} characters.",
                hint="Use a long random token: python -c 'import secrets; print(secrets.token_urlsafe(24))'",
                id="atproject.E002",
            )
        ]
    return []
