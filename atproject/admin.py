"""Admin helpers shared by every app: the read-only callback event admin.

Event rows are evidence of what AT sent: staff may read them, nobody may edit
them, and only superusers may delete them.
"""

import json

from django.contrib import admin
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from atproject.callbacks.models import ProcessingState

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

    from atproject.phones import normalize_phone

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


class ReadOnlyAdminMixin:
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
        "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
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


class PhoneActionsMixin:
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
