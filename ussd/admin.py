"""USSD in the admin: menus and screens staff edit (with a phone preview), sessions with their transcript."""

from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from atproject.admin import CallbackEventAdmin, PhoneActionsMixin, ReadOnlyAdminMixin, truncate

from .menus import Hop, render
from .models import Menu, Option, Screen, ScreenAction, UssdEnd, UssdHop, UssdSession, screen_length_error

SAMPLE_HOP = Hop(
    session_id="ATUid_sample",
    phone_number="+254711000000",
    service_code="*384*123#",
    network_code="63902",
    text="1",
    inputs=("1",),
)


def phone_preview(text: str, action: str = ScreenAction.CON):
    """The screen as a phone shows it (placeholders filled with sample values)."""
    screen = Screen(text=text or "", action=action)
    body = render(screen, SAMPLE_HOP)[4:]
    warning = screen_length_error(body)
    footer = _("Reply") if action == ScreenAction.CON else _("OK")
    return format_html(
        '<div style="width:16em;padding:1em;border:2px solid #444;border-radius:1em;background:#f4f6f0;'
        'font-family:monospace;white-space:pre-wrap">{}<hr><span style="float:right">{}</span><br></div>{}',
        body,
        footer,
        format_html('<p class="errornote">{}</p>', warning) if warning else "",
    )


class OptionInline(admin.TabularInline):
    model = Option
    fk_name = "screen"
    extra = 1
    fields = ("input", "next_screen")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "next_screen":
            screen_id = request.resolver_match.kwargs.get("object_id")
            menu_id = Screen.objects.filter(pk=screen_id).values_list("menu_id", flat=True).first()
            kwargs["queryset"] = Screen.objects.filter(menu_id=menu_id) if menu_id else Screen.objects.none()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Screen)
class ScreenAdmin(admin.ModelAdmin):
    list_display = ("name", "menu", "action", "short_text", "handler")
    list_filter = ("menu", "action")
    list_select_related = ("menu",)
    search_fields = ("name", "text")
    fields = ("menu", "name", "action", "text", "preview", "handler")
    readonly_fields = ("preview",)
    inlines = [OptionInline]

    @admin.display(description=_("text"))
    def short_text(self, obj):
        return truncate(obj.text.replace("\n", " / "))

    @admin.display(description=_("as a phone shows it"))
    def preview(self, obj):
        return phone_preview(obj.text, obj.action) if obj.pk else "—"


class ScreenInline(admin.StackedInline):
    model = Screen
    extra = 0
    fields = ("name", "action", "text", "handler", "preview", "edit_options")
    readonly_fields = ("preview", "edit_options")
    show_change_link = True

    @admin.display(description=_("as a phone shows it"))
    def preview(self, obj):
        return phone_preview(obj.text, obj.action) if obj.pk else "—"

    @admin.display(description=_("options"))
    def edit_options(self, obj):
        if not obj.pk:
            return _("Save first, then add the options on the screen's page.")
        options = ", ".join(f"{o.input} → {o.next_screen.name}" for o in obj.options.select_related("next_screen"))
        return format_html('{} <a href="../../screen/{}/change/">{}</a>', options or "—", obj.pk, _("edit"))


@admin.register(Menu)
class MenuAdmin(admin.ModelAdmin):
    list_display = ("name", "service_code", "is_default", "root")
    list_select_related = ("root",)
    fields = ("name", "service_code", "is_default", "root", "invalid")
    inlines = [ScreenInline]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name in ("root", "invalid"):
            menu_id = request.resolver_match.kwargs.get("object_id")
            kwargs["queryset"] = Screen.objects.filter(menu_id=menu_id) if menu_id else Screen.objects.none()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class HopInline(ReadOnlyAdminMixin, admin.TabularInline):
    """The session's transcript: what was typed, what was shown, how fast."""

    model = UssdHop
    fields = ("received_at", "text", "screen", "duration_ms", "times_received", "state")
    readonly_fields = fields
    ordering = ("received_at", "pk")
    extra = 0
    can_delete = False
    verbose_name_plural = _("transcript")

    @admin.display(description=_("screen sent"))
    def screen(self, obj):
        return format_html('<pre style="margin:0;white-space:pre-wrap">{}</pre>', obj.response)


@admin.register(UssdSession)
class UssdSessionAdmin(PhoneActionsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    phone_field = "phone_e164"
    list_display = ("phone_number", "service_code", "status", "hop_count", "duration", "cost", "started_at")
    list_filter = ("status", "service_code", "started_at")
    search_fields = ("phone_number", "phone_e164", "=session_id")
    date_hierarchy = "started_at"
    show_full_result_count = False
    fields = (
        "session_id",
        "phone_number",
        "phone_e164",
        "service_code",
        "network_code",
        "started_at",
        "last_input",
        "hop_count",
        "status",
        "cost",
        "cost_currency",
        "duration_ms",
        "ended_at",
    )
    readonly_fields = fields
    inlines = [HopInline]

    @admin.display(description=_("duration"), ordering="duration_ms")
    def duration(self, obj):
        return f"{obj.duration_ms / 1000:.1f} s" if obj.duration_ms is not None else "—"


@admin.register(UssdHop)
class UssdHopAdmin(CallbackEventAdmin):
    event_fields = (
        "session",
        "at_session_id",
        "phone_number",
        "service_code",
        "network_code",
        "text",
        "response",
        "duration_ms",
    )
    list_display = (
        "at_session_id",
        "phone_number",
        "text",
        "short_response",
        "duration_ms",
        "received_at",
        "state_badge",
    )
    list_filter = ("service_code", "state", "received_at")
    list_select_related = ("session",)
    search_fields = ("=at_session_id", "phone_number", "phone_e164")

    @admin.display(description=_("screen sent"))
    def short_response(self, obj):
        return truncate(obj.response.replace("\n", " / "))


@admin.register(UssdEnd)
class UssdEndAdmin(CallbackEventAdmin):
    event_fields = (
        "session",
        "at_session_id",
        "phone_number",
        "service_code",
        "network_code",
        "status",
        "date",
        "cost",
        "cost_currency",
        "duration_ms",
        "hops_count",
        "input",
        "last_app_response",
        "error_message",
    )
    list_display = (
        "at_session_id",
        "phone_number",
        "status",
        "hops_count",
        "duration_ms",
        "cost",
        "received_at",
        "state_badge",
    )
    list_filter = ("status", "service_code", "state", "received_at")
    list_select_related = ("session",)
    search_fields = ("=at_session_id", "phone_number", "phone_e164")
