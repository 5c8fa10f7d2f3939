"""Alerts in the admin: rules staff tune, incidents they acknowledge, every notification try, a test button.

- Rules: viewers read them; operators (alerts.change_alertrule) edit them.
  Each rule's page says what its threshold, window and minimum count mean for
  its kind.
- Incidents: written by the evaluation only; read-only here except
  "Acknowledge" (alerts.acknowledge_incident, with a confirmation page), which
  records who and when.
- "Send a test notification" on the rules' list (alerts.send_test_notification)
  sends to every channel at once and shows what each answered.
"""

import json

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from hub.admin import ReadOnlyAdminMixin, confirmation_page, confirmed, local_time

from . import incidents as incident_logic
from . import notify
from .models import KIND_HELP, AlertRule, Incident, NotificationAttempt, Severity

ACKNOWLEDGE_PERMISSION = "alerts.acknowledge_incident"
TEST_PERMISSION = "alerts.send_test_notification"

SEVERITY_COLOURS = {Severity.CRITICAL: "#ba2121", Severity.WARNING: "#b36b00", Severity.INFO: "#417690"}


def severity_badge(severity: str):
    label = Severity(severity).label if severity in Severity.values else severity
    colour = SEVERITY_COLOURS.get(severity, "#417690")
    return format_html('<strong class="alert-severity alert-{}" style="color: {}">{}</strong>', severity, colour, label)


def figures_html(figures: dict):
    if not figures:
        return "—"
    return format_html(
        '<pre style="white-space: pre-wrap">{}</pre>', json.dumps(figures, indent=2, ensure_ascii=False, sort_keys=True)
    )


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "enabled", "severity", "threshold", "window_minutes", "min_count", "open_count")
    list_editable = ("enabled",)
    list_filter = ("enabled", "severity", "kind")
    search_fields = ("name",)
    readonly_fields = ("meaning", "updated_at")
    fieldsets = [
        (None, {"fields": ("name", "kind", "enabled", "severity")}),
        (_("Limits"), {"fields": ("threshold", "window_minutes", "min_count", "scope")}),
        (_("What they mean for this kind"), {"fields": ("meaning", "updated_at")}),
    ]
    change_list_template = "alerts/admin/alertrule_change_list.html"

    @admin.display(description=_("open incidents"))
    def open_count(self, obj):
        n = obj.incidents.filter(resolved_at__isnull=True).count()
        if not n:
            return 0
        url = reverse("admin:alerts_incident_changelist") + f"?rule__id__exact={obj.pk}&open=yes"
        return format_html('<a href="{}">{}</a>', url, n)

    @admin.display(description=_("meaning"))
    def meaning(self, obj):
        if obj is None or not obj.kind:
            return _("Save the rule to see what its limits mean.")
        help_for = KIND_HELP.get(obj.kind, {})
        rows = [(_("Watches"), help_for.get("watches"))]
        rows += [
            (_("Threshold"), help_for.get("threshold") or _("not used")),
            (_("Window (minutes)"), help_for.get("window") or _("not used")),
            (_("Minimum count"), help_for.get("min_count") or _("not used")),
        ]
        return format_html("<dl>{}</dl>", format_html_join("", "<dt>{}</dt><dd>{}</dd>", rows))

    def get_urls(self):
        return [
            path(
                "test-notification/",
                self.admin_site.admin_view(self.test_notification_view),
                name="alerts_alertrule_test_notification",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_test": request.user.has_perm(TEST_PERMISSION)}
        return super().changelist_view(request, extra_context)

    def test_notification_view(self, request):
        """GET: the channels a test would reach; POST (confirmed): send to each now and show what it answered."""
        if not request.user.has_perm(TEST_PERMISSION):
            raise PermissionDenied
        channels = [notify.target_label(channel, index) for channel, index in notify.targets()]
        results = None
        if request.method == "POST" and confirmed(request):
            results = notify.send_test()
            sent = sum(a.success for a in results)
            level = messages.SUCCESS if results and sent == len(results) else messages.WARNING
            self.message_user(
                request,
                ngettext(
                    "Test notification: %(sent)d of %(n)d channel answered.",
                    "Test notification: %(sent)d of %(n)d channels answered.",
                    len(results),
                )
                % {"sent": sent, "n": len(results)},
                level,
            )
        context = {
            **self.admin_site.each_context(request),
            "title": _("Send a test notification"),
            "opts": self.model._meta,
            "channels": channels,
            "results": results,
            "base_url": getattr(settings, "AT_PUBLIC_BASE_URL", "") or "",
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "alerts/admin/test_notification.html", context)


class OpenFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "open"

    def lookups(self, request, model_admin):
        return [("yes", _("open")), ("no", _("resolved"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(resolved_at__isnull=True)
        if self.value() == "no":
            return queryset.filter(resolved_at__isnull=False)
        return queryset


class NotificationInline(admin.TabularInline):
    model = NotificationAttempt
    fields = ("at", "event", "channel", "target", "attempt", "success", "status_code", "error", "next_attempt_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("at", "pk")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Incident)
class IncidentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("severity_badge", "rule", "key", "summary", "opened_at", "resolved_at", "acknowledged")
    list_display_links = ("rule",)
    list_filter = (OpenFilter, "severity", "rule", "opened_at")
    list_select_related = ("rule", "acknowledged_by")
    search_fields = ("key", "summary")
    date_hierarchy = "opened_at"
    fields = (
        "rule", "key", "severity_badge", "summary", "cause", "pretty_figures", "opened_at", "last_seen_at",
        "resolved_at", "acknowledged_at", "acknowledged_by",
    )  # fmt: skip
    readonly_fields = fields
    inlines = [NotificationInline]
    actions = ["acknowledge"]

    @admin.display(description=_("severity"), ordering="severity")
    def severity_badge(self, obj):
        return severity_badge(obj.severity)

    @admin.display(description=_("acknowledged"))
    def acknowledged(self, obj):
        if obj.acknowledged_at is None:
            return "—"
        who = obj.acknowledged_by or _("someone")
        return _("%(who)s, %(when)s") % {"who": who, "when": local_time(obj.acknowledged_at)}

    @admin.display(description=_("cause"))
    def cause(self, obj):
        if not obj.link:
            return "—"
        return format_html('<a href="{}">{}</a>', obj.link, _("Show the rows behind it"))

    @admin.display(description=_("figures"))
    def pretty_figures(self, obj):
        return figures_html(obj.figures)

    @admin.action(description=_("Acknowledge the selected incidents"), permissions=["acknowledge"])
    def acknowledge(self, request, queryset):
        """Staff say they have seen it (and are on it): recorded with who and when; it still resolves by itself."""
        waiting = queryset.filter(resolved_at__isnull=True, acknowledged_at__isnull=True)
        if not waiting.exists():
            self.message_user(
                request, _("None of the selected incidents is open and unacknowledged."), messages.WARNING
            )
            return None
        if confirmed(request):
            chosen = list(waiting)
            count = incident_logic.acknowledge(waiting, request.user)
            for incident in chosen:
                self.log_change(request, incident, _("Acknowledged."))
            self.message_user(
                request,
                ngettext("Acknowledged %(count)d incident.", "Acknowledged %(count)d incidents.", count)
                % {"count": count},
                messages.SUCCESS,
            )
            return None
        skipped = queryset.count() - waiting.count()
        details = [_("%(n)d of the selected are resolved or already acknowledged.") % {"n": skipped}] if skipped else []
        return confirmation_page(
            self,
            request,
            waiting,
            action="acknowledge",
            title=_("Acknowledge these incidents?"),
            confirm_label=_("Yes, acknowledge them"),
            summary=_("Your name and the time are recorded on each. They stay open until their condition clears."),
            details=details,
        )

    def has_acknowledge_permission(self, request):
        return request.user.has_perm(ACKNOWLEDGE_PERMISSION)


@admin.register(NotificationAttempt)
class NotificationAttemptAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("at", "incident", "event", "channel", "target", "attempt", "success", "status_code", "error")
    list_filter = ("success", "channel", "event", "at")
    list_select_related = ("incident__rule",)
    date_hierarchy = "at"
    readonly_fields = (
        "incident", "event", "channel", "target", "attempt", "at", "success", "status_code", "error", "next_attempt_at",
    )  # fmt: skip
    fields = readonly_fields
