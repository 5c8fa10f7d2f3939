"""SMS in the admin: callbacks read-only; outbound messages and batches; compose, reply, resend."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from atproject.admin import (
    CallbackEventAdmin,
    PhoneActionsMixin,
    ReadOnlyAdminMixin,
    confirmation_page,
    confirmed,
    form_then_confirm,
    truncate,
)
from atproject.outbound import RESENDABLE, OutboundStatus

from . import services
from .forms import ComposeForm, ReplyForm, describe_text
from .models import (
    AutoReplyRule,
    DeliveryReport,
    InboundMessage,
    OptOut,
    OptOutEvent,
    OutboundBatch,
    OutboundMessage,
    SendSource,
    SmsMode,
    Subscription,
    SubscriptionEvent,
)

SEND_PERMISSION = "sms.add_outboundmessage"


def admin_link(obj, text=None):
    if obj is None:
        return "—"
    url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, text or obj)


def queued_message(batches) -> str:
    queued = sum(b.recipient_count for b in batches)
    return ngettext("Queued %(count)d message in %(batches)s.", "Queued %(count)d messages in %(batches)s.", queued) % {
        "count": queued,
        "batches": ", ".join(f"batch #{b.pk}" for b in batches),
    }


class SendActionsMixin:
    """What every admin action that sends shares: its permission, and resending."""

    def has_send_permission(self, request):
        return request.user.has_perm(SEND_PERMISSION)

    def resend_and_report(self, request, messages_to_resend):
        batches = services.resend(messages_to_resend, user=request.user)
        self.message_user(
            request,
            queued_message(batches) if batches else _("Nothing to resend."),
            messages.SUCCESS if batches else messages.WARNING,
        )


# --- Callback events -------------------------------------------------------------------


@admin.register(DeliveryReport)
class DeliveryReportAdmin(CallbackEventAdmin):
    event_fields = (
        "at_message_id",
        "message",
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
        "message_link",
        "received_at",
        "times_received",
        "state_badge",
    )
    list_filter = ("status", "network_code", "state", ("message", admin.EmptyFieldListFilter), "received_at")
    list_select_related = ("message",)
    search_fields = ("=at_message_id", "phone_number", "phone_e164")

    @admin.display(description=_("message"), ordering="message")
    def message_link(self, obj):
        if obj.message_id is None:
            return format_html(
                '<span title="{}">{}</span>', _("No outbound message has this AT id (yet)."), _("unmatched")
            )
        return admin_link(obj.message, f"#{obj.message_id}")


@admin.register(InboundMessage)
class InboundMessageAdmin(PhoneActionsMixin, SendActionsMixin, CallbackEventAdmin):
    phone_field = "from_e164"
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
    list_display = (
        "from_number",
        "to_number",
        "short_text",
        "sent_at",
        "premium",
        "network_code",
        "received_at",
        "state_badge",
    )
    list_filter = ("to_number", "network_code", "state", "received_at")
    search_fields = ("=at_id", "from_number", "from_e164", "text", "link_id")
    actions = ["reply"]

    @admin.display(description=_("text"))
    def short_text(self, obj):
        return truncate(obj.text)

    @admin.display(description=_("premium"), boolean=True)
    def premium(self, obj):
        return obj.is_premium

    @admin.action(description=_("Reply to the selected messages"), permissions=["send"])
    def reply(self, request, queryset):
        """Write the reply, confirm, then queue one SMS per message (premium ones with their linkId)."""
        form, step, done = form_then_confirm(request, ReplyForm)
        if done:
            batches = services.reply_to(queryset, form.cleaned_data["text"], user=request.user)
            self.message_user(request, queued_message(batches), messages.SUCCESS)
            return None
        details = describe_text(form.cleaned_data["text"]) if step == "confirm" else ()
        premium = sum(1 for m in queryset if m.is_premium)
        if step == "confirm" and premium:
            details = [
                *details,
                _("%(n)d premium message(s): replied through the premium path with their linkId.") % {"n": premium},
            ]
        return confirmation_page(
            self,
            request,
            queryset,
            action="reply",
            form=form,
            step=step,
            details=details,
            title=_("Reply to inbound messages") if step == "form" else _("Send these replies?"),
            confirm_label=_("Continue") if step == "form" else _("Yes, send the replies"),
        )


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


# --- Outbound -------------------------------------------------------------------------------


class DeliveryReportInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = DeliveryReport
    fields = ("received_at", "status", "failure_reason", "network_code", "retry_count", "times_received")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ("received_at",)


@admin.register(OutboundMessage)
class OutboundMessageAdmin(PhoneActionsMixin, SendActionsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Outbound messages are made by sends (compose, replies, the API), never by hand."""

    list_display = (
        "phone",
        "status",
        "short_text",
        "sender",
        "mode",
        "at_message_id",
        "cost",
        "attempts",
        "created_at",
        "batch_link",
    )
    list_filter = ("status", "mode", "sender", "created_at")
    list_select_related = ("batch",)
    search_fields = ("phone", "=at_message_id", "text")
    date_hierarchy = "created_at"
    show_full_result_count = False
    fields = (
        "batch",
        "phone",
        "text",
        "sender",
        "mode",
        "keyword",
        "link_id",
        "in_reply_to",
        "status",
        "failure_reason",
        "at_message_id",
        "at_status_code",
        "at_status",
        "cost",
        "cost_currency",
        "attempts",
        "created_at",
        "submitted_at",
        "delivered_at",
        "updated_at",
        "requested_by",
        "resend_of",
    )
    readonly_fields = fields
    inlines = [DeliveryReportInline]
    actions = ["resend"]

    @admin.display(description=_("text"))
    def short_text(self, obj):
        return truncate(obj.text, 40)

    @admin.display(description=_("batch"), ordering="batch")
    def batch_link(self, obj):
        return admin_link(obj.batch, f"#{obj.batch_id}")

    @admin.action(description=_("Resend the selected messages"), permissions=["send"])
    def resend(self, request, queryset):
        """Confirm, then send failed, rejected, expired or unknown messages again as new, linked rows."""
        resendable = queryset.filter(status__in=RESENDABLE)
        if not confirmed(request):
            skipped = queryset.count() - resendable.count()
            details = (
                [
                    _(
                        "%(n)d of the selected will not be resent: they were delivered, sent, blocked or are "
                        "still on their way."
                    )
                    % {"n": skipped}
                ]
                if skipped
                else []
            )
            return confirmation_page(
                self,
                request,
                resendable,
                action="resend",
                title=_("Resend these messages?"),
                details=details,
                summary=_(
                    "Each is sent again as a new message linked to the original. "
                    "'Unknown' ones may have arrived already."
                ),
                confirm_label=_("Yes, resend them"),
            )
        self.resend_and_report(request, resendable)
        return None


@admin.register(OutboundBatch)
class OutboundBatchAdmin(SendActionsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Batches are made by the compose page and other sends, never by hand."""

    list_display = (
        "__str__",
        "created_at",
        "source",
        "sender",
        "recipient_count",
        "delivered",
        "pending",
        "not_delivered",
        "requested_by",
    )
    list_filter = ("source", "mode", "sender", "created_at")
    list_select_related = ("requested_by",)
    search_fields = ("text", "messages__phone")
    date_hierarchy = "created_at"
    fields = (
        "text",
        "sender",
        "mode",
        "source",
        "requested_by",
        "created_at",
        "recipient_count",
        "counts",
        "message_table",
    )
    readonly_fields = fields
    actions = ["resend_failed"]
    change_list_template = "admin/sms/outboundbatch/change_list.html"

    PENDING = [
        OutboundStatus.QUEUED,
        OutboundStatus.SENDING,
        OutboundStatus.SUBMITTED,
        OutboundStatus.SENT,
        OutboundStatus.BUFFERED,
    ]
    NOT_DELIVERED = [
        OutboundStatus.FAILED,
        OutboundStatus.EXPIRED,
        OutboundStatus.REJECTED,
        OutboundStatus.BLOCKED,
        OutboundStatus.UNKNOWN,
    ]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_delivered=Count("messages", filter=Q(messages__status=OutboundStatus.DELIVERED)),
                n_pending=Count("messages", filter=Q(messages__status__in=self.PENDING)),
                n_not_delivered=Count("messages", filter=Q(messages__status__in=self.NOT_DELIVERED)),
            )
        )

    @admin.display(description=_("delivered"), ordering="n_delivered")
    def delivered(self, obj):
        return obj.n_delivered

    @admin.display(description=_("on the way"), ordering="n_pending")
    def pending(self, obj):
        return obj.n_pending

    @admin.display(description=_("not delivered"), ordering="n_not_delivered")
    def not_delivered(self, obj):
        return obj.n_not_delivered

    @admin.display(description=_("messages per status"))
    def counts(self, obj):
        counts = obj.status_counts()
        changelist = reverse("admin:sms_outboundmessage_changelist")
        return (
            format_html_join(
                " · ",
                '<a href="{}?batch__id__exact={}&status__exact={}">{}: {}</a>',
                ((changelist, obj.pk, status, OutboundStatus(status).label, n) for status, n in sorted(counts.items())),
            )
            or "—"
        )

    @admin.display(description=_("messages"))
    def message_table(self, obj):
        shown = obj.messages.order_by("pk")[:100]
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((admin_link(m, m.phone), m.get_status_display(), m.at_message_id, m.failure_reason) for m in shown),
        )
        link = reverse("admin:sms_outboundmessage_changelist") + f"?batch__id__exact={obj.pk}"
        more = format_html(
            '<p><a href="{}">{}</a></p>', link, _("All %(n)d messages of this batch") % {"n": obj.recipient_count}
        )
        return format_html(
            "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody></table>{}",
            _("phone"),
            _("status"),
            _("AT message id"),
            _("reason"),
            rows,
            more,
        )

    @admin.action(description=_("Resend the failed and unknown messages of the selected batches"), permissions=["send"])
    def resend_failed(self, request, queryset):
        resendable = OutboundMessage.objects.filter(batch__in=queryset, status__in=RESENDABLE)
        count = resendable.count()
        if not confirmed(request):
            return confirmation_page(
                self,
                request,
                queryset,
                action="resend_failed",
                title=_("Resend failed messages?"),
                summary=ngettext("%(n)d message will be sent again.", "%(n)d messages will be sent again.", count)
                % {"n": count},
                confirm_label=_("Yes, resend them"),
            )
        self.resend_and_report(request, resendable)
        return None

    def get_urls(self):
        compose = self.admin_site.admin_view(self.compose_view)
        return [path("compose/", compose, name="sms_outboundbatch_compose"), *super().get_urls()]

    def compose_view(self, request):
        """Compose an SMS to pasted or uploaded numbers: preview (encoding, parts, recipients), confirm, queue."""
        if not self.has_send_permission(request):
            raise PermissionDenied
        form, step, done = form_then_confirm(request, ComposeForm)
        if done:
            mode = SmsMode.BULK
            batch = services.queue_sms(
                form.cleaned_data["recipients"],
                form.cleaned_data["text"],
                sender=form.sender_value,
                mode=mode,
                user=request.user,
                source=SendSource.ADMIN,
            )
            self.message_user(request, queued_message([batch]), messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:sms_outboundbatch_change", args=[batch.pk]))
        details = ()
        if step == "confirm":
            details = self.compose_preview(form)
            form = form.carried()
        return confirmation_page(
            self,
            request,
            None,
            action="",
            form=form,
            step=step,
            details=details,
            title=_("Compose SMS") if step == "form" else _("Send this SMS?"),
            confirm_label=_("Preview") if step == "form" else _("Yes, send it"),
        )

    @staticmethod
    def compose_preview(form) -> list[str]:
        data = form.cleaned_data
        recipients = data["recipients"]
        blocked = services.opted_out(recipients, services.effective_sender(form.sender_value, SmsMode.BULK))
        lines = [
            ngettext("%(n)d recipient.", "%(n)d recipients.", len(recipients)) % {"n": len(recipients)},
            *describe_text(data["text"]),
        ]
        if blocked:
            lines.append(_("%(n)d opted out of this sender and will not be sent to.") % {"n": len(blocked)})
        if data["invalid"]:
            lines.append(
                _("%(n)d invalid number(s) left out: %(list)s")
                % {"n": len(data["invalid"]), "list": ", ".join(data["invalid"][:20])}
            )
        lines.append(_("Text: %(text)s") % {"text": data["text"]})
        return lines

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_compose": self.has_send_permission(request)}
        return super().changelist_view(request, extra_context)


@admin.register(AutoReplyRule)
class AutoReplyRuleAdmin(admin.ModelAdmin):
    list_display = ("keyword", "short_code", "short_reply", "active", "created_at")
    list_filter = ("active", "short_code")
    list_editable = ("active",)
    search_fields = ("keyword", "reply")

    @admin.display(description=_("reply"))
    def short_reply(self, obj):
        return truncate(obj.reply)
