"""SMS in the admin: callback events read-only, opt-out and subscription state."""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from atproject.admin import CallbackEventAdmin, confirmation_page, confirmed

from . import services
from .models import DeliveryReport, InboundMessage, OptOut, OptOutEvent, Subscription, SubscriptionEvent


@admin.register(DeliveryReport)
class DeliveryReportAdmin(CallbackEventAdmin):
    event_fields = (
        "at_message_id",
        "status",
        "phone_number",
        "phone_e164",
        "network_code",
        "failure_reason",
        "retry_count",
    )
    list_display = (
        "at_message_id",
        "status",
        "phone_number",
        "network_code",
        "failure_reason",
        "retry_count",
        "received_at",
        "times_received",
        "state_badge",
    )
    list_filter = ("status", "network_code", "state", "received_at")
    search_fields = ("=at_message_id", "phone_number", "phone_e164")


@admin.register(InboundMessage)
class InboundMessageAdmin(CallbackEventAdmin):
    event_fields = (
        "at_id",
        "from_number",
        "from_e164",
        "to_number",
        "text",
        "sent_at",
        "link_id",
        "network_code",
        "cost",
        "cost_currency",
    )
    list_display = ("from_number", "to_number", "short_text", "sent_at", "network_code", "received_at", "state_badge")
    list_filter = ("to_number", "network_code", "state", "received_at")
    search_fields = ("=at_id", "from_number", "from_e164", "text", "link_id")

    @admin.display(description=_("text"))
    def short_text(self, obj):
        return obj.text if len(obj.text) <= 60 else obj.text[:59] + "…"


@admin.register(OptOutEvent)
class OptOutEventAdmin(CallbackEventAdmin):
    event_fields = ("phone_number", "phone_e164", "sender_id")
    list_display = ("phone_number", "sender_id", "received_at", "times_received", "state_badge")
    list_filter = ("sender_id", "state", "received_at")
    search_fields = ("phone_number", "phone_e164", "sender_id")


@admin.register(SubscriptionEvent)
class SubscriptionEventAdmin(CallbackEventAdmin):
    event_fields = ("phone_number", "phone_e164", "short_code", "keyword", "update_type")
    list_display = (
        "phone_number",
        "short_code",
        "keyword",
        "update_type",
        "received_at",
        "times_received",
        "state_badge",
    )
    list_filter = ("update_type", "short_code", "state", "received_at")
    search_fields = ("phone_number", "phone_e164", "keyword")


class StateAdmin(admin.ModelAdmin):
    """State derived from callbacks: read-only; changed only by callbacks and actions."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser and super().has_delete_permission(request, obj)


@admin.register(OptOut)
class OptOutAdmin(StateAdmin):
    list_display = ("phone", "sender_id", "active", "opted_out_at", "lifted_at", "lifted_by")
    list_filter = ("active", "sender_id", "opted_out_at")
    list_select_related = ("lifted_by",)
    search_fields = ("phone", "sender_id")
    date_hierarchy = "opted_out_at"
    actions = ["lift"]

    @admin.action(description=_("Lift the selected opt-outs"), permissions=["lift"])
    def lift(self, request, queryset):
        """The subscriber asked to hear from us again: confirm, then lift and record who did it."""
        selected = queryset.filter(active=True)
        if not confirmed(request):
            return confirmation_page(
                self,
                request,
                selected,
                action="lift",
                title=_("Lift opt-outs?"),
                summary=_(
                    "Bulk SMS from these sender ids will reach these numbers again. "
                    "Only lift an opt-out the subscriber asked you to lift."
                ),
                confirm_label=_("Yes, lift them"),
            )
        opt_outs = list(selected)
        lifted = services.lift_opt_outs(queryset.filter(pk__in=[o.pk for o in opt_outs]), request.user)
        for opt_out in opt_outs:
            self.log_change(request, opt_out, _("Lifted the opt-out."))
        self.message_user(
            request,
            ngettext("Lifted %(count)d opt-out.", "Lifted %(count)d opt-outs.", lifted) % {"count": lifted},
            messages.SUCCESS if lifted else messages.WARNING,
        )
        return None

    def has_lift_permission(self, request):
        return request.user.has_perm("sms.lift_optout")


@admin.register(Subscription)
class SubscriptionAdmin(StateAdmin):
    list_display = ("phone", "short_code", "keyword", "active", "subscribed_at", "unsubscribed_at")
    list_filter = ("active", "short_code", "keyword")
    search_fields = ("phone", "keyword")
