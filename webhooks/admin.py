"""Webhooks in the admin: endpoints (the secret shown once, on creation and rotation), events, deliveries with
every attempt; replay one event, or every failed event of an endpoint since a time."""

from datetime import timedelta
from urllib.parse import urlsplit

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from hub.admin import ReadOnlyAdminMixin, confirmation_page, form_then_confirm, truncate

from . import delivery
from . import forms as checks
from .models import Attempt, Delivery, Endpoint, Event, EventType


class EndpointForm(forms.ModelForm):
    url = forms.URLField(label=_("URL"), max_length=2000, assume_scheme="https")
    events = forms.MultipleChoiceField(
        label=_("event types"), choices=EventType.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = Endpoint
        fields = ["url", "description", "events", "enabled"]

    def clean_url(self):
        return checks.clean_url(self.cleaned_data["url"])

    def clean_events(self):
        return checks.clean_events(self.cleaned_data["events"])


class ReplaySinceForm(forms.Form):
    since = forms.DateTimeField(
        label=_("events since"), help_text=_("Every event of this time or later not yet acknowledged is sent again.")
    )


class RotateForm(forms.Form):
    grace_hours = forms.IntegerField(
        label=_("old secret valid for (hours)"), min_value=0, max_value=24 * 7, initial=24,
        help_text=_("Deliveries carry both signatures meanwhile: move the receiver to the new secret in that time."),
    )


def _secret_page(modeladmin, request, endpoint, secret, *, rotated=False):
    context = {
        **modeladmin.admin_site.each_context(request),
        "opts": Endpoint._meta,
        "title": _("Signing secret of %(endpoint)s") % {"endpoint": endpoint},
        "endpoint": endpoint,
        "secret": secret,
        "rotated": rotated,
    }
    request.current_app = modeladmin.admin_site.name
    response = TemplateResponse(request, "admin/webhooks/secret.html", context)
    response["Cache-Control"] = "no-store"
    return response


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    form = EndpointForm
    list_display = ["__str__", "host", "event_list", "enabled", "failing_since", "disabled_at"]
    list_filter = ["enabled"]
    search_fields = ["url", "description"]
    readonly_fields = ["created_at", "created_by", "failing_since", "disabled_at", "disabled_reason",
                       "previous_secret_until"]  # fmt: skip
    actions = ["replay_failed", "rotate_secret", "enable"]

    @admin.display(description=_("host"))
    def host(self, obj):
        return urlsplit(obj.url).hostname

    @admin.display(description=_("event types"))
    def event_list(self, obj):
        return ", ".join(obj.events or ())

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def response_add(self, request, obj, post_url_continue=None):
        self.message_user(request, _("Endpoint registered."), messages.SUCCESS)
        return _secret_page(self, request, obj, obj.secret)

    def has_replay_permission(self, request):
        return request.user.has_perm("webhooks.replay_event")

    @admin.action(description=_("Replay failed events since a time"), permissions=["replay"])
    def replay_failed(self, request, queryset):
        form, step, done = form_then_confirm(request, ReplaySinceForm)
        if done:
            since = form.cleaned_data["since"]
            disabled = [str(e) for e in queryset if not e.enabled]
            count = sum(delivery.replay_failed(e, since) for e in queryset if e.enabled)
            self.message_user(request, _("%(count)d deliveries sent again.") % {"count": count}, messages.SUCCESS)
            if disabled:
                self.message_user(
                    request, _("Not replayed (disabled; enable them first): %s") % ", ".join(disabled),
                    messages.WARNING,
                )
            return None
        return confirmation_page(
            self, request, queryset, action="replay_failed", title=_("Replay failed events"),
            confirm_label=_("Send them again"), form=form, step=step,
            summary=_("Deliveries of these endpoints not acknowledged (given up, or waiting for a retry) are sent "
                      "again now, with the same webhook-id."),
        )  # fmt: skip

    @admin.action(description=_("Rotate the signing secret"), permissions=["change"])
    def rotate_secret(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, _("Rotate one endpoint at a time."), messages.ERROR)
            return None
        form, step, done = form_then_confirm(request, RotateForm)
        if done:
            endpoint = queryset.get()
            secret = endpoint.rotate_secret(timedelta(hours=form.cleaned_data["grace_hours"]))
            return _secret_page(self, request, endpoint, secret, rotated=True)
        return confirmation_page(
            self, request, queryset, action="rotate_secret", title=_("Rotate the signing secret"),
            confirm_label=_("Rotate"), form=form, step=step,
        )

    @admin.action(description=_("Enable again"), permissions=["change"])
    def enable(self, request, queryset):
        count = queryset.update(enabled=True, disabled_at=None, disabled_reason="", failing_since=None)
        from .wanted import forget_wanted_types

        forget_wanted_types()
        self.message_user(request, _("%(count)d endpoints enabled.") % {"count": count}, messages.SUCCESS)


@admin.register(Event)
class EventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "type", "object_label", "object_id", "created_at", "dispatched_at"]
    list_filter = ["type"]
    search_fields = ["=id", "=object_id"]
    date_hierarchy = "created_at"
    readonly_fields = ["id", "type", "object_label", "object_id", "created_at", "dispatched_at", "data"]
    actions = ["replay"]

    def has_replay_permission(self, request):
        return request.user.has_perm("webhooks.replay_event")

    @admin.action(description=_("Replay to their endpoints"), permissions=["replay"])
    def replay(self, request, queryset):
        count = sum(delivery.replay_event(e) for e in queryset[:1000])
        self.message_user(request, _("%(count)d deliveries sent again.") % {"count": count}, messages.SUCCESS)


class AttemptInline(admin.TabularInline):
    model = Attempt
    fields = ["at", "status_code", "ok", "duration_ms", "error", "excerpt"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["-at"]

    @admin.display(description=_("response excerpt"))
    def excerpt(self, obj):
        return truncate(obj.response_excerpt, 200)

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["event_type", "event", "endpoint", "status", "tries", "next_attempt_at", "last_error"]
    list_filter = ["status", "endpoint", "event__type"]
    list_select_related = ["event", "endpoint"]
    search_fields = ["=event__id"]
    readonly_fields = ["event", "endpoint", "status", "tries", "next_attempt_at", "last_attempt_at",
                       "delivered_at", "last_error"]  # fmt: skip
    inlines = [AttemptInline]
    actions = ["replay"]

    @admin.display(description=_("type"), ordering="event__type")
    def event_type(self, obj):
        return obj.event.type

    def has_replay_permission(self, request):
        return request.user.has_perm("webhooks.replay_event")

    @admin.action(description=_("Send again now"), permissions=["replay"])
    def replay(self, request, queryset):
        waiting = Delivery.objects.filter(pk__in=queryset.values("pk"), endpoint__enabled=True)
        count = delivery._restart(waiting)
        self.message_user(request, _("%(count)d deliveries sent again.") % {"count": count}, messages.SUCCESS)


