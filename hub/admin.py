"""Admin helpers shared by every app: the read-only callback event admin, readable values, actions.

Event rows are evidence of what AT sent: staff may read them, nobody may edit
them, and only superusers may delete them. Internals (raw USSD hops, voice
instruction requests) are for superusers only.

Values are shown the way staff read them: a network code with its operator's
name, money with its currency, AT's codes and failure reasons with what they
mean and what to do, each product's statuses in its own words, long texts cut
with the full text on hover and voice XML indented.
"""

import json
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from hub import labels
from hub.callbacks.models import ProcessingState

CALLBACK_FIELDS = (
    "received_at",
    "last_received_at",
    "times_received",
    "state",
    "error",
    "source_ip",
    "content_type",
    "pretty_payload",
    "raw_body",
)


def phone_link(number: str, text: str | None = None):
    """A phone number as a link to its subscriber timeline (/admin/phone/<number>/); "—" when empty.

    Numbers that are not phone numbers (SIP addresses, "withheld") are shown as text.
    """
    from django.urls import NoReverseMatch, reverse

    from hub.phones import normalize_phone

    if not number:
        return "—"
    e164 = normalize_phone(number)
    if e164 is None:
        return text or number
    try:
        url = reverse("admin:phone", args=[e164])
    except NoReverseMatch:  # a site without the console
        return text or number
    title = _("Subscriber history")
    return format_html('<a href="{}" class="phone-link" title="{}">{}</a>', url, title, text or number)


def truncate(text: str, length: int = 60) -> str:
    """`text` cut to `length` characters for a list column."""
    return text if len(text) <= length else text[: length - 1] + "…"


# --- Readable values -----------------------------------------------------------------------


def hover(text, length: int = 40, *, title: str = ""):
    """`text` cut to `length` characters for a list column, the whole of it (or `title`) shown on hover."""
    text = "" if text is None else str(text)
    if not text:
        return "—"
    if len(text) <= length and not title:
        return format_html('<span class="at-text">{}</span>', text)
    return format_html('<span class="at-cut" title="{}">{}</span>', title or text, truncate(text, length))


def money(amount, currency) -> str:
    """ "KES 0.8000": an amount never without its currency; "—" when there is no amount."""
    if amount is None or amount == "":
        return "—"
    currency = (currency or "").strip()
    return f"{currency} {amount}" if currency else f"{amount} ({_('currency not given')})"


def money_display(amount_field: str, currency_field: str, description):
    """An admin column or read-only field showing `amount_field` with its currency (`currency_field`)."""

    def display(self, obj):
        return money(getattr(obj, amount_field), getattr(obj, currency_field))

    display.__name__ = f"{amount_field}_with_currency"
    return admin.display(description=description, ordering=amount_field)(display)


def network_display(code_field: str = "network_code"):
    """An admin column or read-only field: the network code with its operator's name ("Safaricom KE (63902)")."""

    def display(self, obj):
        return labels.network_name(getattr(obj, code_field)) if getattr(obj, code_field) else "—"

    display.__name__ = "network"
    return admin.display(description=_("network"), ordering=code_field)(display)


class NetworkFilter(admin.AllValuesFieldListFilter):
    """The network codes found in the list, each named after its operator."""

    def choices(self, changelist):
        names = [labels.network_name(str(v)) for v in self.lookup_choices if v is not None]
        values = [str(v) for v in self.lookup_choices if v is not None]
        choices = super().choices(changelist)
        yield next(choices)  # "All"
        for index, choice in enumerate(choices):
            if index < len(values) and choice["display"].startswith(values[index]):
                choice = {**choice, "display": names[index] + choice["display"][len(values[index]) :]}
            yield choice


def code_meaning(code):
    """AT's per-recipient SMS statusCode with what it means and what to do."""
    if code is None or code == "":
        return "—"
    meaning = labels.status_code_meaning(code)
    if not meaning.meaning:
        return format_html("{} ({})", code, _("a code this hub has no explanation for"))
    return format_html(
        '{} — {}<br><span class="at-todo">{} {}</span>', code, meaning.meaning, _("What to do:"), meaning.action
    )


def failure_explanation(reason) -> str:
    """A failure reason's meaning and what to do, as one line of text (for a hover); "" when none is known."""
    meaning = labels.failure_meaning(reason)
    if not meaning.meaning:
        return ""
    return f"{meaning.meaning} {_('What to do:')} {meaning.action}"


def explained_reason(reason) -> str:
    """A failure reason with its meaning and what to do, as one line (the hover of a list's reason or status)."""
    explained = failure_explanation(reason)
    if not explained:
        return reason or ""
    if explained.lower().startswith(reason.strip().lower()):  # "UserInBlacklist: the subscriber ..."
        return explained
    return f"{reason} — {explained}"


def failure_meaning_html(reason):
    """The read-only "what it means" of a failure reason: its meaning, then what to do."""
    if not reason:
        return "—"
    meaning = labels.failure_meaning(reason)
    if not meaning.meaning:
        return _("No explanation is known for this reason: AT's documentation or support may tell more.")
    return format_html('{}<br><span class="at-todo">{} {}</span>', meaning.meaning, _("What to do:"), meaning.action)


def reason_with_meaning(reason, length: int = 40):
    """A failure reason for a list column: cut to `length`, its full text, meaning and what to do on hover."""
    if not reason:
        return "—"
    return hover(reason, length, title=explained_reason(reason))


def pretty_xml(text: str):
    """Voice XML indented and wrapped, escaped, in a <pre>; text that is not XML is shown as it is."""
    text = (text or "").strip()
    if not text:
        return "—"
    declaration, _sep, body = text.partition("?>") if text.startswith("<?xml") else ("", "", text)
    try:
        root = ET.fromstring(body.strip())  # noqa: S314 - our own answers, never a caller's XML
    except ET.ParseError:
        pretty = text
    else:
        ET.indent(root, space="  ")
        pretty = ET.tostring(root, encoding="unicode")
        if declaration:
            pretty = f"{declaration}?>\n{pretty}"
    return format_html('<pre class="at-xml" style="white-space:pre-wrap">{}</pre>', pretty)


def local_time(value) -> str:
    """A time as the admin shows times: with its seconds and zone."""
    return formats.date_format(timezone.localtime(value), "DATETIME_FORMAT") if value else "—"


# --- Outbound requests: each product's own words --------------------------------------------


class StatusFilter(admin.ChoicesFieldListFilter):
    """The status filter of an outbound list: only the statuses its product uses, in its own words."""

    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        self.words = labels.status_words(model._meta.label)

    def choices(self, changelist):
        choices = super().choices(changelist)
        yield next(choices)  # "All"
        for (value, title), choice in zip(self.field.flatchoices, choices, strict=False):
            if value in self.words:
                yield {**choice, "display": str(choice["display"]).replace(str(title), self.words[value][0], 1)}


def status_badge(obj, *, with_retry: bool = True):
    """An outbound row's status in its product's words, coloured by tone; its failure explained on hover, and a
    queued row's next retry under it."""
    model_label = obj._meta.label
    label = labels.status_label(model_label, obj.status)
    tone = labels.status_tone(model_label, obj.status)
    title = explained_reason(obj.failure_reason) if obj.failure_reason else ""
    retry = ""
    if with_retry and obj.status == "queued" and getattr(obj, "next_attempt_at", None):
        title = _("Last try: %(error)s") % {"error": obj.last_error} if obj.last_error else title
        retry = format_html('<br><small class="at-retry">{} {}</small>', _("retry at"), local_time(obj.next_attempt_at))
    badge = format_html('<span class="at-status at-{}" title="{}">{}</span>', tone, title, label)
    return format_html("{}{}", badge, retry)


class OutboundRequestAdminMixin:
    """What every outbound request's admin shows: its status in its product's words, what its failure means and
    what to do, and a queued row's last error and next try."""

    #: The fields of the detail page that every outbound request has, in order.
    outbound_fields = ("status_badge", "failure_reason", "failure_meaning", "last_error", "next_attempt_at")

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, obj):
        return status_badge(obj)

    @admin.display(description=_("what it means"))
    def failure_meaning(self, obj):
        return failure_meaning_html(obj.failure_reason)


if TYPE_CHECKING:
    # What the mixins below are mixed into; at run time they are plain classes before `admin.ModelAdmin`.
    _ModelAdminBase = admin.ModelAdmin[Any]
else:
    _ModelAdminBase = object


class SuperuserOnlyAdminMixin(_ModelAdminBase):
    """Internals (raw USSD hops, voice instruction requests): superusers only, whatever a group may view.

    Other staff do not see the model in the index and get a 403 on its pages.
    """

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser and super().has_view_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser and super().has_change_permission(request, obj)

    def has_add_permission(self, request, obj=None):
        # A model admin asks without `obj` (only inlines pass one).
        return request.user.is_superuser and super().has_add_permission(request)

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser and super().has_delete_permission(request, obj)


class ReadOnlyAdminMixin(_ModelAdminBase):
    """Rows written by callbacks and the send pipeline: viewable, never added or edited here;
    deleted by superusers only."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser and super().has_delete_permission(request, obj)


class CallbackEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only admin for a `CallbackEvent` model.

    Subclasses name their typed columns in `event_fields` (shown first on the
    detail page) and list what they need in `list_display` and friends.
    """

    event_fields: tuple = ()
    date_hierarchy = "received_at"
    list_filter = ("state", "received_at")
    list_per_page = 50
    show_full_result_count = False  # no COUNT(*) over millions of rows on every page

    def get_fieldsets(self, request, obj=None):
        return [
            (None, {"fields": self.event_fields}),
            (_("Callback"), {"fields": CALLBACK_FIELDS}),
        ]

    def get_readonly_fields(self, request, obj=None):
        return self.event_fields + CALLBACK_FIELDS

    @admin.display(description=_("payload"))
    def pretty_payload(self, obj):
        text = json.dumps(obj.payload, indent=2, ensure_ascii=False, sort_keys=True)
        return format_html('<pre style="white-space: pre-wrap">{}</pre>', text)

    @admin.display(description=_("state"), ordering="state")
    def state_badge(self, obj):
        colour = "#ba2121" if obj.state == ProcessingState.FAILED else "#417690"
        return format_html('<span style="color: {}">{}</span>', colour, obj.get_state_display())


def confirmed(request) -> bool:
    """True once staff have pressed the button of the action's confirmation page."""
    return request.POST.get("confirm") == "yes"


def confirmation_page(
    modeladmin,
    request,
    queryset,
    *,
    action,
    title,
    confirm_label,
    summary="",
    details=(),
    form=None,
    step="confirm",
    extra_hidden=(),
):
    """The page an admin action shows before it does anything (like `delete_selected`).

    With `step="form"` it shows `form` to fill in; with `step="confirm"` it
    carries the form's values hidden and asks for the final click.
    """
    opts = modeladmin.model._meta
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "summary": summary,
        "details": details,
        "objects": None if queryset is None else list(queryset),
        "opts": opts,
        "action": action,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "confirm_label": confirm_label,
        "form": form,
        "step": step,
        "extra_hidden": extra_hidden,
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, "admin/atproject/confirm_action.html", context)


def form_then_confirm(request, form_class, *, form_kwargs=None):
    """Drive a two-step action: returns (form, step, done); `done` once staff confirmed a valid form.

    First call (from the changelist, or a GET of the action's own page): an empty form, step "form". Form posted
    valid: step "confirm". Confirmed and still valid: done.
    """
    step = request.POST.get("step")
    form_kwargs = form_kwargs or {}
    if step is None:
        return form_class(**form_kwargs), "form", False
    form = form_class(request.POST, request.FILES, **form_kwargs)
    if not form.is_valid():
        return form, "form", False
    if step == "confirm" and confirmed(request):
        return form, "confirm", True
    return form, "confirm", False


# --- Actions on anything that carries a phone number ---------------------------------

_phone_actions: list = []


def phone_action(*, permission: str, description):
    """Register an admin action for every admin list whose rows carry a phone number.

    Apps register their actions ("Call back", "Send airtime", "Check SIM swap")
    without knowing which lists exist; lists opt in with `PhoneActionsMixin`.
    The action reads the numbers with `modeladmin.phones_of(queryset)` and is
    offered only to users with `permission` ("app.codename").
    """

    def register(function):
        function.short_description = description
        function.required_permission = permission
        _phone_actions.append(function)
        return function

    return register


class PhoneActionsMixin(_ModelAdminBase):
    """An admin whose rows carry a phone number: `phone_field` names the E.164 column."""

    phone_field = "phone"

    def phones_of(self, queryset) -> list[str]:
        """The distinct E.164 numbers of the selected rows, in order (rows without one are skipped)."""
        values = queryset.order_by("pk").values_list(self.phone_field, flat=True)
        return list(dict.fromkeys(v for v in values if v and v.startswith("+")))

    def get_actions(self, request):
        actions = super().get_actions(request)
        if self.actions is None:
            return actions
        for function in _phone_actions:
            if request.user.has_perm(function.required_permission):
                actions[function.__name__] = (function, function.__name__, function.short_description)
        return actions
