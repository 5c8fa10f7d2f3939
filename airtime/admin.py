"""Airtime in the admin: transactions with their callbacks, today's spend and limits, "Send airtime",
and settling transactions whose outcome is unknown.

Every amount is shown with its currency; a transaction speaks of airtime
("sent to AT", "delivered", "refused"), with what its failure means.
"""

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from hub.admin import (
    CallbackEventAdmin,
    OutboundRequestAdminMixin,
    PhoneActionsMixin,
    ReadOnlyAdminMixin,
    StatusFilter,
    confirmation_page,
    form_then_confirm,
    hover,
    money_display,
    phone_action,
)
from hub.outbound import OutboundStatus

from . import services
from .forms import AirtimeForm, AirtimeToNumbersForm, SettleForm
from .models import AirtimeStatusEvent, AirtimeTransaction, AirtimeValidation, DailyAirtimeSpend, operator_day

SEND_PERMISSION = "airtime.send_airtime"
SETTLE_PERMISSION = "airtime.settle_airtime"


def airtime_details(phones, form) -> list[str]:
    """What staff confirm: recipients, amount each, total, and what today's limit leaves."""
    amount, currency = form.cleaned_data["amount"], form.cleaned_data["currency"]
    maximum, limit = services.limits_for(currency)  # the form accepts configured currencies only
    return [
        _("%(n)d recipient(s): %(list)s") % {"n": len(phones), "list": ", ".join(phones[:50])},
        _("%(cur)s %(amount)s each, %(cur)s %(total)s in total (at most %(cur)s %(max)s each).")
        % {"cur": currency, "amount": amount, "total": amount * len(phones), "max": maximum},
        _("Already committed today (%(day)s, %(zone)s): %(cur)s %(spent)s of %(limit)s.")
        % {
            "day": operator_day(),
            "zone": settings.TIME_ZONE,
            "cur": currency,
            "spent": services.spent_today(currency),
            "limit": limit,
        },
    ]


def queue_and_report(modeladmin, request, phones, form) -> bool:
    try:
        sent = services.queue_airtime(
            phones, form.cleaned_data["amount"], form.cleaned_data["currency"], user=request.user
        )
    except services.AirtimeRefused as exc:
        modeladmin.message_user(request, _("Nothing sent: %(why)s") % {"why": exc}, messages.ERROR)
        return False
    modeladmin.message_user(
        request,
        _("Queued airtime for %(n)d recipient(s): %(cur)s %(total)s in total.")
        % {"n": len(sent), "cur": sent[0].currency, "total": sum(t.amount for t in sent)},
        messages.SUCCESS,
    )
    return True


@phone_action(permission=SEND_PERMISSION, description=_("Send airtime"))
def send_airtime(modeladmin, request, queryset):
    """Amount and currency, then a confirmation page showing the total; the limits apply."""
    phones = modeladmin.phones_of(queryset)
    form, step, done = form_then_confirm(request, AirtimeForm)
    if done:
        queue_and_report(modeladmin, request, phones, form)
        return None
    return confirmation_page(
        modeladmin,
        request,
        queryset,
        action="send_airtime",
        form=form,
        step=step,
        details=airtime_details(phones, form) if step == "confirm" else (),
        title=_("Send airtime") if step == "form" else _("Send this airtime?"),
        confirm_label=_("Continue") if step == "form" else _("Yes, send the airtime"),
    )


class ValidationInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = AirtimeValidation
    fields = ("received_at", "at_transaction_id", "amount_with_currency", "decision", "reason", "times_received")
    readonly_fields = fields
    extra = 0

    amount_with_currency = money_display("amount", "currency_code", _("amount"))


class StatusInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = AirtimeStatusEvent
    fields = ("received_at", "status", "description", "discount_with_currency", "value_with_currency", "times_received")
    readonly_fields = fields
    extra = 0

    discount_with_currency = money_display("discount", "discount_currency", _("discount"))
    value_with_currency = money_display("value", "value_currency", _("value"))


@admin.register(AirtimeTransaction)
class AirtimeTransactionAdmin(OutboundRequestAdminMixin, PhoneActionsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "created_at",
        "phone",
        "amount_with_currency",
        "status_badge",
        "validated",
        "request_id",
        "discount_with_currency",
        "requested_by",
    )
    list_filter = (
        ("status", StatusFilter),
        "currency",
        ("validated_at", admin.EmptyFieldListFilter),
        "counted",
        "created_at",
    )
    search_fields = ("phone", "=at_request_id", "=at_transaction_id")
    date_hierarchy = "created_at"
    readonly_fields = (
        "phone",
        "amount_with_currency",
        *OutboundRequestAdminMixin.outbound_fields,
        "at_status",
        "at_error_message",
        "at_request_id",
        "discount_with_currency",
        "validated_at",
        "at_transaction_id",
        "description",
        "idempotency_key",
        "attempts",
        "created_at",
        "submitted_at",
        "delivered_at",
        "updated_at",
        "requested_by",
        "resend_of",
        "spend_day",
        "counted",
        "settled_by",
        "settled_at",
    )
    fields = readonly_fields
    list_select_related = ("requested_by",)
    inlines = [ValidationInline, StatusInline]
    change_list_template = "admin/airtime/airtimetransaction/change_list.html"
    actions = ["settle"]

    amount_with_currency = money_display("amount", "currency", _("amount"))
    discount_with_currency = money_display("discount", "discount_currency", _("discount"))

    @admin.display(description=_("validated"), boolean=True, ordering="validated_at")
    def validated(self, obj):
        return obj.validated

    @admin.display(description=_("AT request id"), ordering="at_request_id")
    def request_id(self, obj):
        return hover(obj.at_request_id, 12)

    @admin.action(description=_("Settle the selected unknown transactions"), permissions=["settle"])
    def settle(self, request, queryset):
        """Staff found out whether unknown airtime arrived: choose delivered or not delivered, confirm, record.

        Only `unknown` transactions are offered and settled; AT's status, if it
        comes later, still applies.
        """
        unknown = queryset.filter(status=OutboundStatus.UNKNOWN)
        if not unknown.exists():
            self.message_user(
                request, _("None of the selected transactions is unknown: nothing to settle."), messages.WARNING
            )
            return None
        form, step, done = form_then_confirm(request, SettleForm)
        if done:
            settled = services.settle(
                list(unknown.values_list("pk", flat=True)),
                delivered=form.delivered,
                user=request.user,
                note=form.cleaned_data["note"],
            )
            outcome = _("delivered") if form.delivered else _("not delivered")
            for txn in settled:
                note = form.cleaned_data["note"]
                self.log_change(
                    request,
                    txn,
                    _("Settled as %(outcome)s%(note)s.") % {"outcome": outcome, "note": f": {note}" if note else ""},
                )
            self.message_user(
                request,
                ngettext(
                    "Settled %(count)d transaction as %(outcome)s.",
                    "Settled %(count)d transactions as %(outcome)s.",
                    len(settled),
                )
                % {"count": len(settled), "outcome": outcome},
                messages.SUCCESS if settled else messages.WARNING,
            )
            return None
        skipped = queryset.count() - unknown.count()
        details = []
        if skipped:
            details.append(_("%(n)d of the selected are not unknown and will not be settled.") % {"n": skipped})
        if step == "confirm":
            details.append(
                _("Delivered: the amount stays counted in its day's total.")
                if form.delivered
                else _("Not delivered: the transaction fails and its amount is given back to its day's total.")
            )
        return confirmation_page(
            self,
            request,
            unknown,
            action="settle",
            form=form,
            step=step,
            details=details,
            summary=_(
                "These transactions may have reached AT, so they are never sent again automatically. "
                "Check AT's dashboard (or the recipient) before deciding."
            ),
            title=_("Settle unknown airtime") if step == "form" else _("Settle these transactions?"),
            confirm_label=_("Continue") if step == "form" else _("Yes, settle them"),
        )

    def has_settle_permission(self, request):
        return request.user.has_perm(SETTLE_PERMISSION)

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "today": operator_day(),
            "time_zone": settings.TIME_ZONE,
            "today_spend": services.todays_spend(),
            "can_send": request.user.has_perm(SEND_PERMISSION),
        }
        return super().changelist_view(request, extra_context)

    def get_urls(self):
        return [
            path("send/", self.admin_site.admin_view(self.send_view), name="airtime_airtimetransaction_send"),
            *super().get_urls(),
        ]

    def send_view(self, request):
        """Airtime to a pasted list of numbers: form, confirmation with the total, queue."""
        if not request.user.has_perm(SEND_PERMISSION):
            raise PermissionDenied
        form, step, done = form_then_confirm(request, AirtimeToNumbersForm)
        if done:
            phones = form.cleaned_data["numbers"].split("\n")
            if queue_and_report(self, request, phones, form):
                return HttpResponseRedirect(reverse("admin:airtime_airtimetransaction_changelist"))
            step = "form"
        details = airtime_details(form.cleaned_data["numbers"].split("\n"), form) if step == "confirm" else ()
        return confirmation_page(
            self,
            request,
            None,
            action="",
            form=form,
            step=step,
            details=details,
            title=_("Send airtime") if step == "form" else _("Send this airtime?"),
            confirm_label=_("Continue") if step == "form" else _("Yes, send the airtime"),
        )


class AirtimeCallbackAdmin(CallbackEventAdmin):
    list_select_related = ("transaction",)
    search_fields = ("phone_number", "phone_e164")


@admin.register(AirtimeValidation)
class AirtimeValidationAdmin(AirtimeCallbackAdmin):
    event_fields = (
        "transaction",
        "at_transaction_id",
        "phone_number",
        "phone_e164",
        "source_ip_address",
        "amount_with_currency",
        "decision",
        "reason",
    )
    list_display = (
        "transaction_id",
        "phone_number",
        "amount_with_currency",
        "decision",
        "short_reason",
        "received_at",
        "times_received",
        "state_badge",
    )
    list_filter = ("decision", "currency_code", "state", "received_at")
    search_fields = ("=at_transaction_id", "phone_number", "phone_e164")

    amount_with_currency = money_display("amount", "currency_code", _("amount"))

    @admin.display(description=_("AT transaction id"), ordering="at_transaction_id")
    def transaction_id(self, obj):
        return hover(obj.at_transaction_id, 12)

    @admin.display(description=_("reason"), ordering="reason")
    def short_reason(self, obj):
        return hover(obj.reason, 40)


@admin.register(AirtimeStatusEvent)
class AirtimeStatusEventAdmin(AirtimeCallbackAdmin):
    event_fields = (
        "transaction",
        "at_request_id",
        "phone_number",
        "phone_e164",
        "status",
        "description",
        "discount_with_currency",
        "value_with_currency",
    )
    list_display = (
        "request_id",
        "phone_number",
        "status",
        "short_description",
        "value_with_currency",
        "received_at",
        "state_badge",
    )
    list_filter = ("status", "state", "received_at")
    search_fields = ("=at_request_id", "phone_number", "phone_e164")

    discount_with_currency = money_display("discount", "discount_currency", _("discount"))
    value_with_currency = money_display("value", "value_currency", _("value"))

    @admin.display(description=_("AT request id"), ordering="at_request_id")
    def request_id(self, obj):
        return hover(obj.at_request_id, 12)

    @admin.display(description=_("description"), ordering="description")
    def short_description(self, obj):
        return hover(obj.description, 40)


@admin.register(DailyAirtimeSpend)
class DailyAirtimeSpendAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """One row per operator's day (TIME_ZONE) and currency."""

    list_display = ("day", "total_with_currency")
    list_filter = ("currency",)
    date_hierarchy = "day"
    fields = ("day", "total_with_currency")
    readonly_fields = fields

    total_with_currency = money_display("total", "currency", _("total"))
