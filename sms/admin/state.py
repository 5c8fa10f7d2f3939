"""What callbacks leave behind: opt-outs (liftable) and subscriptions."""



from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from hub.admin import (
    ReadOnlyAdminMixin,
    confirmation_page,
    confirmed,
)
from sms import services
from sms.models import (
    OptOut,
    Subscription,
)

# --- State derived from callbacks ----------------------------------------------------------


class StateAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """State derived from callbacks: changed only by callbacks and actions."""


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
