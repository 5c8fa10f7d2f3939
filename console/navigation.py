"""The admin's navigation grouped by what staff do, internals for superusers only."""

from django.utils.translation import gettext_lazy as _

#: Sections of the index, in order, and the models (app_label.ModelName) each holds.
SECTIONS = [
    (_("Activity"), [
        "sms.OutboundMessage", "sms.DeliveryReport", "sms.InboundMessage", "ussd.UssdSession", "voice.Call",
        "voice.Recording", "airtime.AirtimeTransaction", "simswap.SimSwapCheck",
    ]),
    (_("Sending"), ["sms.OutboundBatch", "voice.OutboundCall", "airtime.DailyAirtimeSpend"]),
    (_("Subscribers"), ["sms.OptOut", "sms.Subscription", "sms.OptOutEvent", "sms.SubscriptionEvent"]),
    (_("Configuration"), ["ussd.Menu", "ussd.Screen", "voice.VoiceFlow", "sms.AutoReplyRule"]),
    (_("Callbacks"), [
        "ussd.UssdEnd", "airtime.AirtimeValidation", "airtime.AirtimeStatusEvent", "simswap.SimSwapStatusEvent",
        "voice.VoiceEvent",
    ]),
    (_("Alerts"), ["alerts.Incident", "alerts.AlertRule", "alerts.NotificationAttempt"]),
    (_("Integrations"), ["webhooks.Endpoint", "webhooks.Event", "webhooks.Delivery"]),
]  # fmt: skip
#: Shown to superusers only, under "System".
INTERNALS = {
    "ussd.UssdHop", "voice.VoiceInstruction", "authtoken.TokenProxy", "auth.User", "auth.Group",
    # The task queue's own pages: django-tasks-db's rows, or RQ's dashboard with TASKS_BACKEND=redis.
    "django_tasks_database.DBTaskResult", "django_rq.Dashboard",
}  # fmt: skip


def grouped(app_list: list[dict], request) -> list[dict]:
    """Django's per-app list regrouped into SECTIONS, then "System" (superusers) and whatever is left."""
    models = {}
    for app in app_list:
        for model in app["models"]:
            models[f"{app['app_label']}.{model['object_name']}"] = model
    sections, placed = [], set()
    for name, labels in SECTIONS:
        entries = [models[label] for label in labels if label in models]
        placed.update(labels)
        if entries:
            sections.append(_section(name, entries))
    rest = [m for label, m in models.items() if label not in placed and label not in INTERNALS]
    if rest:
        sections.append(_section(_("Other"), rest))
    if request.user.is_superuser:
        internals = [models[label] for label in sorted(INTERNALS) if label in models]
        if internals:
            sections.append(_section(_("System"), internals))
    return sections


def _section(name, models: list[dict]) -> dict:
    slug = str(name).lower().replace(" ", "-")
    return {"name": name, "app_label": slug, "app_url": "", "has_module_perms": True, "models": models}
