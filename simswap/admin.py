"""SIM swap in the admin: checks with their results, and "Check SIM swap" on every list with phones.

A check speaks of checks ("asked AT", "result received"), not of SMS; its network is named after its operator.
"""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from hub.admin import (
    CallbackEventAdmin,
    NetworkFilter,
    OutboundRequestAdminMixin,
    PhoneActionsMixin,
    ReadOnlyAdminMixin,
    StatusFilter,
    confirmation_page,
    confirmed,
    hover,
    network_display,
    phone_action,
)

from . import services
from .models import SimSwapCheck, SimSwapStatusEvent


@phone_action(permission="simswap.add_simswapcheck", description=_("Check SIM swap"))
def check_sim_swap(modeladmin, request, queryset):
    phones = modeladmin.phones_of(queryset)
    if not confirmed(request):
        return confirmation_page(
            modeladmin,
            request,
            queryset,
            action="check_sim_swap",
            title=_("Check these numbers for a SIM swap?"),
            summary=ngettext(
                "%(n)d check (AT charges per check): %(list)s",
                "%(n)d checks (AT charges per check): %(list)s",
                len(phones),
            )
            % {"n": len(phones), "list": ", ".join(phones) or "—"},
            confirm_label=_("Yes, check them"),
        )
    checks = services.queue_checks(phones, user=request.user)
    modeladmin.message_user(
        request,
        ngettext("Queued %(n)d SIM swap check.", "Queued %(n)d SIM swap checks.", len(checks)) % {"n": len(checks)},
        messages.SUCCESS if checks else messages.WARNING,
    )
    return None


class SwapResultFilter(admin.SimpleListFilter):
    title = _("result")
    parameter_name = "result"

    def lookups(self, request, model_admin):
        return [("swapped", _("swapped")), ("not_swapped", _("not swapped")), ("pending", _("pending"))]

    def queryset(self, request, queryset):
        if self.value() == "swapped":
            return queryset.filter(swap_status__iexact="swapped")
        if self.value() == "not_swapped":
            return queryset.filter(swap_status__iexact="notswapped")
        if self.value() == "pending":
            return queryset.filter(swap_status="")
        return queryset


class StatusInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = SimSwapStatusEvent
    fk_name = "swap_check"
    fields = ("received_at", "status", "last_swap_date", "provider_ref_id", "times_received")
    readonly_fields = fields
    extra = 0


@admin.register(SimSwapCheck)
class SimSwapCheckAdmin(OutboundRequestAdminMixin, PhoneActionsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "created_at",
        "phone",
        "swap_status",
        "last_swap_date",
        "carrier",
        "network",
        "cost",
        "status_badge",
        "requested_by",
    )
    list_filter = (
        SwapResultFilter,
        ("status", StatusFilter),
        "carrier_name",
        ("network_code", NetworkFilter),
        "created_at",
    )
    list_select_related = ("requested_by",)
    search_fields = ("phone", "=at_request_id")
    date_hierarchy = "created_at"
    readonly_fields = (
        "phone",
        *OutboundRequestAdminMixin.outbound_fields,
        "swap_status",
        "last_swap_date",
        "provider_ref_id",
        "result_at",
        "at_request_id",
        "at_status",
        "at_transaction_id",
        "carrier_name",
        "country_code",
        "network",
        "number_type",
        "cost",
        "attempts",
        "created_at",
        "submitted_at",
        "updated_at",
        "requested_by",
    )
    fields = readonly_fields
    inlines = [StatusInline]

    network = network_display()

    @admin.display(description=_("carrier"), ordering="carrier_name")
    def carrier(self, obj):
        return hover(obj.carrier_name, 24)


@admin.register(SimSwapStatusEvent)
class SimSwapStatusEventAdmin(CallbackEventAdmin):
    event_fields = ("swap_check", "at_request_id", "status", "last_swap_date", "provider_ref_id", "at_transaction_id")
    list_display = ("at_request_id", "status", "last_swap_date", "swap_check", "received_at", "state_badge")
    list_filter = ("status", "state", "received_at")
    list_select_related = ("swap_check",)
    search_fields = ("=at_request_id", "=provider_ref_id")
