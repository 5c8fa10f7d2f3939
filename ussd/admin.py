"""USSD in the admin: menus and screens staff edit (with a phone preview), sessions with their transcript.

A menu's page shows every screen with its options, and a screen's page every
option with a choice of the menu's screens: each list is read once per request,
not once per row (a menu of fifty screens costs the queries of a menu of two).
Raw hops are internals, for superusers (staff read a session's transcript);
networks are named after their operator, costs shown with their currency.
"""

from django import forms
from django.contrib import admin
from django.db.models import Prefetch
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from hub.admin import (
    CallbackEventAdmin,
    NetworkFilter,
    PhoneActionsMixin,
    ReadOnlyAdminMixin,
    SuperuserOnlyAdminMixin,
    hover,
    money_display,
    network_display,
)

from . import handlers
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
    return render_to_string(
        "admin/ussd/includes/phone_preview.html", {"body": body, "footer": footer, "warning": warning}
    )


def once_per_request(request, key, compute):
    """`compute()`, remembered on the request: the admin builds a formset's fields several times per page."""
    cache = request.__dict__.setdefault("_ussd_admin_cache", {})
    if key not in cache:
        cache[key] = compute()
    return cache[key]


def screens_of_menu(request, menu_id, field):
    """Give a select of screens the menu's screens, read from the database once per request.

    The choices are a list, so that the copy of the field in every form of a
    formset renders them without a query of its own.
    """
    field.queryset = Screen.objects.filter(menu_id=menu_id).select_related("menu") if menu_id else Screen.objects.none()
    field.choices = once_per_request(request, ("screens", menu_id), lambda: list(field.choices))
    return field


class ScreenForm(forms.ModelForm):
    """A screen: its handler is picked from those developers registered (nothing typed is ever imported)."""

    handler = forms.ChoiceField(
        label=Screen._meta.get_field("handler").verbose_name,
        help_text=Screen._meta.get_field("handler").help_text,
        choices=handlers.choices,
        required=False,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        current = self.instance.handler
        if "handler" in self.fields and current and handlers.registered(current) is None:
            # Stored before its handler was removed: shown as it is (saving it again is refused).
            missing = (current, _("%(name)s (not registered)") % {"name": current})
            self.fields["handler"].choices = [*handlers.choices(), missing]


class OptionInline(admin.TabularInline):
    model = Option
    fk_name = "screen"
    extra = 1
    fields = ("input", "next_screen")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("next_screen")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "next_screen":
            screen_id = request.resolver_match.kwargs.get("object_id")
            menu_id = once_per_request(
                request,
                ("menu of screen", screen_id),
                lambda: Screen.objects.filter(pk=screen_id).values_list("menu_id", flat=True).first(),
            )
            screens_of_menu(request, menu_id, field)
        return field


@admin.register(Screen)
class ScreenAdmin(admin.ModelAdmin):
    form = ScreenForm
    list_display = ("name", "menu", "action", "short_text", "handler")
    list_filter = ("menu", "action")
    list_select_related = ("menu",)
    search_fields = ("name", "text")
    fields = ("menu", "name", "action", "text", "preview", "handler")
    readonly_fields = ("preview",)
    inlines = [OptionInline]

    @admin.display(description=_("text"))
    def short_text(self, obj):
        return hover(obj.text.replace("\n", " / "), 60)

    @admin.display(description=_("as a phone shows it"))
    def preview(self, obj):
        return phone_preview(obj.text, obj.action) if obj.pk else "—"


class ScreenInline(admin.StackedInline):
    model = Screen
    form = ScreenForm
    extra = 0
    fields = ("name", "action", "text", "handler", "preview", "edit_options")
    readonly_fields = ("preview", "edit_options")
    show_change_link = True

    @admin.display(description=_("as a phone shows it"))
    def preview(self, obj):
        return phone_preview(obj.text, obj.action) if obj.pk else "—"

    def get_queryset(self, request):
        options = Prefetch("options", queryset=Option.objects.select_related("next_screen"))
        return super().get_queryset(request).select_related("menu").prefetch_related(options)

    @admin.display(description=_("options"))
    def edit_options(self, obj):
        if not obj.pk:
            return _("Save first, then add the options on the screen's page.")
        options = ", ".join(f"{o.input} → {o.next_screen.name}" for o in obj.options.all())
        url = reverse("admin:ussd_screen_change", args=[obj.pk], current_app=self.admin_site.name)
        return format_html('{} <a href="{}">{}</a>', options or "—", url, _("edit"))


@admin.register(Menu)
class MenuAdmin(admin.ModelAdmin):
    list_display = ("name", "service_code", "is_default", "root")
    list_select_related = ("root",)
    fields = ("name", "service_code", "is_default", "root", "invalid")
    inlines = [ScreenInline]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name in ("root", "invalid"):
            screens_of_menu(request, request.resolver_match.kwargs.get("object_id"), field)
        return field


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
    list_display = (
        "phone_number",
        "service_code",
        "network",
        "status",
        "hop_count",
        "duration",
        "cost_with_currency",
        "started_at",
    )
    list_filter = ("status", "service_code", ("network_code", NetworkFilter), "started_at")
    search_fields = ("phone_number", "phone_e164", "=session_id")
    date_hierarchy = "started_at"
    show_full_result_count = False
    fields = (
        "session_id",
        "phone_number",
        "phone_e164",
        "service_code",
        "network",
        "started_at",
        "last_input",
        "hop_count",
        "status",
        "cost_with_currency",
        "duration_ms",
        "ended_at",
    )
    readonly_fields = fields
    inlines = [HopInline]

    network = network_display()
    cost_with_currency = money_display("cost", "cost_currency", _("cost"))

    @admin.display(description=_("duration"), ordering="duration_ms")
    def duration(self, obj):
        return f"{obj.duration_ms / 1000:.1f} s" if obj.duration_ms is not None else "—"


@admin.register(UssdHop)
class UssdHopAdmin(SuperuserOnlyAdminMixin, CallbackEventAdmin):
    """Every USSD request and the screen we answered: internals, for superusers (staff read a session's
    transcript)."""

    event_fields = (
        "session",
        "at_session_id",
        "phone_number",
        "service_code",
        "network",
        "text",
        "response",
        "duration_ms",
    )
    list_display = (
        "session_id",
        "phone_number",
        "network",
        "short_input",
        "short_response",
        "duration_ms",
        "received_at",
        "state_badge",
    )
    list_filter = ("service_code", ("network_code", NetworkFilter), "state", "received_at")
    list_select_related = ("session",)
    search_fields = ("=at_session_id", "phone_number", "phone_e164")

    network = network_display()

    @admin.display(description=_("AT session id"), ordering="at_session_id")
    def session_id(self, obj):
        return hover(obj.at_session_id, 12)

    @admin.display(description=_("input"))
    def short_input(self, obj):
        return hover(obj.text, 20)

    @admin.display(description=_("screen sent"))
    def short_response(self, obj):
        return hover(obj.response.replace("\n", " / "), 50)


@admin.register(UssdEnd)
class UssdEndAdmin(CallbackEventAdmin):
    event_fields = (
        "session",
        "at_session_id",
        "phone_number",
        "service_code",
        "network",
        "status",
        "date",
        "cost_with_currency",
        "duration_ms",
        "hops_count",
        "input",
        "last_app_response",
        "error_message",
    )
    list_display = (
        "session_id",
        "phone_number",
        "network",
        "status",
        "hops_count",
        "duration_ms",
        "cost_with_currency",
        "received_at",
        "state_badge",
    )
    list_filter = ("status", "service_code", ("network_code", NetworkFilter), "state", "received_at")
    list_select_related = ("session",)
    search_fields = ("=at_session_id", "phone_number", "phone_e164")

    network = network_display()
    cost_with_currency = money_display("cost", "cost_currency", _("cost"))

    @admin.display(description=_("AT session id"), ordering="at_session_id")
    def session_id(self, obj):
        return hover(obj.at_session_id, 12)
