"""System checks for settings that Django cannot know are dangerous."""

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

NO_TOKEN_HINT = (
    "Set AT_WEBHOOK_TOKEN to a long random string and append ?token=<it> to every callback URL in AT's dashboard."
)


@register(Tags.security)
def webhook_token_set(app_configs, **kwargs):
    if settings.AT_WEBHOOK_TOKEN:
        return []
    return [
        Warning(
            "AT_WEBHOOK_TOKEN is not set: anyone who knows the callback URLs can post fake AT callbacks.",
            hint=NO_TOKEN_HINT,
            id="atproject.W001",
        )
    ]


@register(Tags.security, deploy=True)
def webhook_token_set_for_deploy(app_configs, **kwargs):
    if settings.AT_WEBHOOK_TOKEN:
        return []
    return [Error("AT_WEBHOOK_TOKEN must be set in production.", hint=NO_TOKEN_HINT, id="atproject.E001")]
