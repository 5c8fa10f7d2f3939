"""Voice in the admin: calls with their timeline and recordings, call flows staff edit, outbound calls.

Voice XML (what we answered AT) is shown indented and wrapped; an outbound call
speaks of calls ("placed", "calling AT"), not of SMS, and shows its call's
final state; instruction requests are internals, for superusers only.
"""

from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db import models
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from hub.admin import (
    CallbackEventAdmin,
    OutboundRequestAdminMixin,
    PhoneActionsMixin,
    ReadOnlyAdminMixin,
    StatusFilter,
    SuperuserOnlyAdminMixin,
    confirmation_page,
    confirmed,
    hover,
    money_display,
    phone_action,
    pretty_xml,
)

from . import services
from .models import Call, KeypadOption, OutboundCall, Recording, VoiceEvent, VoiceFlow, VoiceInstruction

CALL_PERMISSION = "voice.add_outboundcall"
# Audio URLs typed without a scheme are https (Django 6's default; quiet on 5.2).
HTTPS_URLS = {models.URLField: {"assume_scheme": "https"}}


@phone_action(permission=CALL_PERMISSION, description=_("Call back"))
def call_back(modeladmin, request, queryset):
    """Place a call from AT_VOICE_NUMBER to each selected row's number, after a confirmation page."""
    phones = modeladmin.phones_of(queryset)
    if not settings.AT_VOICE_NUMBER:
        modeladmin.message_user(request, _("Set AT_VOICE_NUMBER to place calls."), messages.ERROR)
        return None
    if not confirmed(request):
        return confirmation_page(
            modeladmin,
            request,
            queryset,
            action="call_back",
            title=_("Call these numbers back?"),
            summary=ngettext(
                "%(n)d call from %(from)s to: %(list)s", "%(n)d calls from %(from)s to: %(list)s", len(phones)
            )
            % {"n": len(phones), "from": settings.AT_VOICE_NUMBER, "list": ", ".join(phones) or "—"},
            confirm_label=_("Yes, call them"),
        )
    calls = services.queue_calls(phones, user=request.user)
    modeladmin.message_user(
        request,
        ngettext("Queued %(n)d call.", "Queued %(n)d calls.", len(calls)) % {"n": len(calls)},
        messages.SUCCESS if calls else messages.WARNING,
    )
    return None


def web_url(url) -> str | None:
    """`url` (stripped) when it is an absolute http:// or https:// address with a host; None otherwise.

    Callback values are anyone's text: `javascript:`, `data:`, `vbscript:` or a
    scheme-relative `//host` must never become a link or an audio source. Any
    whitespace or control character left inside is refused too, since browsers
    drop some of them while reading a scheme (a newline inside "javascript:").
    """
    if not isinstance(url, str):
        return None
    candidate = url.strip()
    if not candidate or any(ord(c) <= 0x20 or 0x7F <= ord(c) <= 0x9F for c in candidate):
        return None
    try:
        parts = urlsplit(candidate)
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or not host:
        return None
    return candidate


def playable(url):
    """A player and a link for a web address; anything else as plain text, marked as not one."""
    safe = web_url(url)
    if safe is None:
        return format_html("<code>{}</code> ({})", url, _("not a web address"))
    return format_html('<audio controls preload="none" src="{}"></audio> <a href="{}">{}</a>', safe, safe, _("open"))


class RecordingInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Recording
    fields = ("received_at", "kind", "player")
    readonly_fields = fields
    extra = 0

    @admin.display(description=_("recording"))
    def player(self, obj):
        return playable(obj.url)


@admin.register(Call)
class CallAdmin(PhoneActionsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    phone_field = "phone_e164"
    list_display = (
        "started_at",
        "direction",
        "caller_number",
        "destination_number",
        "state",
        "duration_seconds",
        "cost_with_currency",
        "digits",
    )
    list_filter = ("direction", "state", "started_at")
    search_fields = ("caller_number", "destination_number", "phone_e164", "=session_id")
    date_hierarchy = "started_at"
    show_full_result_count = False
    fields = (
        "session_id",
        "direction",
        "caller_number",
        "destination_number",
        "phone_e164",
        "state",
        "hangup_cause",
        "dtmf_digits",
        "duration_seconds",
        "cost_with_currency",
        "started_at",
        "ended_at",
        "timeline",
    )
    readonly_fields = fields
    inlines = [RecordingInline]

    cost_with_currency = money_display("cost", "cost_currency", _("cost"))

    @admin.display(description=_("digits pressed"), ordering="dtmf_digits")
    def digits(self, obj):
        return hover(obj.dtmf_digits, 20)

    @admin.display(description=_("timeline"))
    def timeline(self, obj):
        """Every instruction request and event notification of the call, in the order they came."""
        rows = sorted(
            [(e.received_at, _("instructions"), e) for e in obj.instructions.all()]
            + [(e.received_at, _("event"), e) for e in obj.events.all()],
            key=lambda row: row[0],
        )
        return render_to_string(
            "admin/voice/includes/call_timeline.html",
            {
                "rows": [
                    {
                        "when": when,
                        "kind": kind,
                        "activity": _("active") if e.is_active else (_("ended") if e.is_active is False else ""),
                        "details": " ".join(
                            filter(
                                None,
                                [
                                    e.dtmf_digits and f"keys {e.dtmf_digits}",
                                    e.call_session_state,
                                    e.status,
                                    e.hangup_cause,
                                    e.recording_url and "recording",
                                ],
                            )
                        ),
                        "xml": pretty_xml(e.response) if hasattr(e, "response") else "",
                    }
                    for when, kind, e in rows
                ]
            },
        )


@admin.register(Recording)
class RecordingAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Recordings and voicemails, findable on their own."""

    formfield_overrides = HTTPS_URLS  # the detail page builds a (read-only) form too
    list_display = ("received_at", "kind", "caller", "player")
    list_filter = ("kind", "received_at")
    list_select_related = ("call",)
    search_fields = ("call__caller_number", "call__phone_e164", "url")
    date_hierarchy = "received_at"

    @admin.display(description=_("subscriber"), ordering="call__caller_number")
    def caller(self, obj):
        return obj.call.caller_number

    @admin.display(description=_("recording"))
    def player(self, obj):
        return playable(obj.url)


class VoiceCallbackAdmin(CallbackEventAdmin):
    event_fields = (
        "call",
        "at_session_id",
        "is_active",
        "direction",
        "caller_number",
        "destination_number",
        "dtmf_digits",
        "recording_url",
        "duration_seconds",
        "amount_with_currency",
        "call_session_state",
        "status",
        "hangup_cause",
    )
    list_display = (
        "session",
        "is_active",
        "direction",
        "caller_number",
        "dtmf_digits",
        "call_session_state",
        "status",
        "received_at",
        "state_badge",
    )
    list_filter = ("direction", "is_active", "call_session_state", "state", "received_at")
    list_select_related = ("call",)
    search_fields = ("=at_session_id", "caller_number", "destination_number")

    amount_with_currency = money_display("amount", "currency_code", _("amount"))

    @admin.display(description=_("session id"), ordering="at_session_id")
    def session(self, obj):
        return hover(obj.at_session_id, 12)


@admin.register(VoiceInstruction)
class VoiceInstructionAdmin(SuperuserOnlyAdminMixin, VoiceCallbackAdmin):
    """Every instruction request and the XML we answered: internals, for superusers (staff read the call's
    timeline)."""

    event_fields = (*VoiceCallbackAdmin.event_fields, "xml_sent")

    @admin.display(description=_("XML sent"))
    def xml_sent(self, obj):
        return pretty_xml(obj.response)


@admin.register(VoiceEvent)
class VoiceEventAdmin(VoiceCallbackAdmin):
    pass


class KeypadOptionInline(admin.TabularInline):
    """A flow's keys, one row each; small inputs so that the row fits a 1366-px laptop."""

    model = KeypadOption
    formfield_overrides = {
        **HTTPS_URLS,
        models.TextField: {"widget": forms.Textarea(attrs={"rows": 2, "cols": 24})},
    }
    extra = 1
    fields = ("digits", "action", "text", "audio_url", "dial_numbers", "record_calls", "max_length")


@admin.register(VoiceFlow)
class VoiceFlowAdmin(admin.ModelAdmin):
    formfield_overrides = HTTPS_URLS
    list_display = ("__str__", "short_greeting", "short_menu_prompt")
    fieldsets = (
        (None, {"fields": ("number", "voice")}),
        (_("Greeting"), {"fields": ("greeting", "greeting_audio_url")}),
        (
            _("Keypad menu (offered when the flow has keypad options)"),
            {"fields": ("menu_prompt", "digit_timeout", "no_input", "invalid_choice", "voicemail_thanks")},
        ),
        (_("What the caller hears"), {"fields": ("xml_preview",)}),
    )
    readonly_fields = ("xml_preview",)
    inlines = [KeypadOptionInline]

    @admin.display(description=_("greeting (said)"))
    def short_greeting(self, obj):
        return hover(obj.greeting, 60)

    @admin.display(description=_("keypad menu prompt"))
    def short_menu_prompt(self, obj):
        return hover(obj.menu_prompt, 60)

    @admin.display(description=_("first answer (voice XML)"))
    def xml_preview(self, obj):
        if not obj.pk:
            return "—"
        call = Call(direction="Inbound", destination_number=obj.number)
        return pretty_xml(services.instructions_for(call, VoiceInstruction(is_active=True)))


@admin.register(OutboundCall)
class OutboundCallAdmin(OutboundRequestAdminMixin, PhoneActionsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Calls we asked AT to place: the request's status in call words, then the call's own final state."""

    list_display = (
        "created_at",
        "phone",
        "from_number",
        "status_badge",
        "at_status",
        "call_state",
        "attempts",
        "requested_by",
    )
    list_filter = (("status", StatusFilter), "call__state", "created_at")
    list_select_related = ("call", "requested_by")
    search_fields = ("phone", "=at_session_id")
    date_hierarchy = "created_at"
    readonly_fields = (
        "phone",
        "from_number",
        *OutboundRequestAdminMixin.outbound_fields,
        "at_status",
        "at_session_id",
        "call_state",
        "attempts",
        "created_at",
        "submitted_at",
        "updated_at",
        "requested_by",
        "resend_of",
    )
    fields = readonly_fields

    @admin.display(description=_("call"), ordering="call__state")
    def call_state(self, obj):
        """The call's final state (Completed, NotAnswered, ...), linked to the call; "—" before AT reports one."""
        if obj.call is None:
            return "—"
        url = reverse("admin:voice_call_change", args=[obj.call_id], current_app=self.admin_site.name)
        return format_html('<a href="{}">{}</a>', url, obj.call.state or _("no state yet"))
