"""Outbound SMS in the admin: messages, batches (the campaigns), compose, resend."""



from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpResponseRedirect
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from hub import labels
from hub.admin import (
    OutboundRequestAdminMixin,
    PhoneActionsMixin,
    ReadOnlyAdminMixin,
    StatusFilter,
    code_meaning,
    confirmation_page,
    confirmed,
    form_then_confirm,
    hover,
    money_display,
    network_display,
    reason_with_meaning,
    status_badge,
)
from hub.outbound import RESENDABLE, OutboundStatus
from hub.smstext import analyse
from sms import services
from sms.forms import ComposeForm, describe_text
from sms.models import (
    DeliveryReport,
    OutboundBatch,
    OutboundMessage,
    SendSource,
    SmsMode,
)

from .common import (
    SendActionsMixin,
    admin_link,
    and_more,
    cost_estimate,
    listing,
    queued_message,
    sender_label,
    texts_and_senders,
)

# --- Outbound -------------------------------------------------------------------------------


class DeliveryReportInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = DeliveryReport
    fields = ("received_at", "status", "reason", "network", "retry_count", "times_received")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ("received_at",)

    network = network_display()

    @admin.display(description=_("failure reason"))
    def reason(self, obj):
        return reason_with_meaning(obj.failure_reason, 60)


@admin.register(OutboundMessage)
class OutboundMessageAdmin(
    OutboundRequestAdminMixin, PhoneActionsMixin, SendActionsMixin, ReadOnlyAdminMixin, admin.ModelAdmin
):
    """Outbound messages are made by sends (compose, replies, the API), never by hand."""

    list_display = (
        "phone",
        "status_badge",
        "short_text",
        "short_sender",
        "short_id",
        "cost_with_currency",
        "attempts",
        "created_at",
        "batch_link",
    )
    list_filter = (("status", StatusFilter), "mode", "sender", "created_at")
    list_select_related = ("batch",)
    search_fields = ("phone", "=at_message_id", "text")
    date_hierarchy = "created_at"
    show_full_result_count = False
    fields = (
        "batch",
        "phone",
        "text",
        "sender_shown",
        "mode",
        "keyword",
        "link_id",
        "in_reply_to",
        *OutboundRequestAdminMixin.outbound_fields,
        "at_message_id",
        "at_status_code_meaning",
        "at_status",
        "cost_with_currency",
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

    cost_with_currency = money_display("cost", "cost_currency", _("cost"))

    @admin.display(description=_("text"))
    def short_text(self, obj):
        return hover(obj.text, 40)

    @admin.display(description=_("sender"), ordering="sender")
    def sender_shown(self, obj):
        return sender_label(obj.sender, obj.mode)

    @admin.display(description=_("sender"), ordering="sender")
    def short_sender(self, obj):
        return hover(sender_label(obj.sender, obj.mode), 12)

    @admin.display(description=_("AT message id"), ordering="at_message_id")
    def short_id(self, obj):
        return hover(obj.at_message_id, 12)

    @admin.display(description=_("AT status code"))
    def at_status_code_meaning(self, obj):
        return code_meaning(obj.at_status_code)

    @admin.display(description=_("batch"), ordering="batch")
    def batch_link(self, obj):
        return admin_link(obj.batch, f"#{obj.batch_id}")

    @admin.action(description=_("Resend the selected messages"), permissions=["send"])
    def resend(self, request, queryset):
        """Confirm, then send failed, rejected, expired or unknown messages again as new, linked rows."""
        resendable = queryset.filter(status__in=RESENDABLE)
        if not confirmed(request):
            skipped = queryset.count() - resendable.count()
            details = texts_and_senders(resendable)
            if skipped:
                details.append(
                    _(
                        "%(n)d of the selected will not be resent: they were delivered, sent, blocked or are "
                        "still on their way."
                    )
                    % {"n": skipped}
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


class SourceFilter(admin.SimpleListFilter):
    """Where batches come from; by default the campaigns (compose, the API, resends), not the replies.

    Every inbound message answered makes a batch: replies and auto-replies are
    there behind their choice, or "all".
    """

    title = _("source")
    parameter_name = "source"
    REPLIES = [SendSource.REPLY, SendSource.AUTO_REPLY]

    def lookups(self, request, model_admin):
        return [*SendSource.choices, ("all", _("All, replies and auto-replies included"))]

    def choices(self, changelist):
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": _("Campaigns (admin, API, resends)"),
        }
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == str(lookup),
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset.exclude(source__in=self.REPLIES)
        if self.value() == "all":
            return queryset
        return queryset.filter(source=self.value())


@admin.register(OutboundBatch)
class OutboundBatchAdmin(SendActionsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Batches are made by the compose page and other sends, never by hand."""

    list_display = (
        "short_name",
        "created_at",
        "source",
        "short_sender",
        "recipient_count",
        "delivered",
        "pending",
        "not_delivered",
        "requested_by",
    )
    list_filter = (SourceFilter, "mode", "sender", "created_at")
    list_select_related = ("requested_by",)
    search_fields = ("text", "messages__phone")
    date_hierarchy = "created_at"
    fields = (
        "text",
        "sender_shown",
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

    @admin.display(description=_("batch"), ordering="pk")
    def short_name(self, obj):
        return hover(str(obj), 40, title=obj.text)

    @admin.display(description=_("sender"), ordering="sender")
    def sender_shown(self, obj):
        return sender_label(obj.sender, obj.mode)

    @admin.display(description=_("sender"), ordering="sender")
    def short_sender(self, obj):
        return hover(sender_label(obj.sender, obj.mode), 12)

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
                (
                    (changelist, obj.pk, status, labels.status_label("sms.OutboundMessage", status), n)
                    for status, n in sorted(counts.items())
                ),
            )
            or "—"
        )

    @admin.display(description=_("messages"))
    def message_table(self, obj):
        rows = [
            {
                "link": admin_link(m, m.phone),
                "status": status_badge(m),
                "at_message_id": m.at_message_id,
                "reason": reason_with_meaning(m.failure_reason, 60),
            }
            for m in obj.messages.order_by("pk")[:100]
        ]
        return render_to_string(
            "admin/sms/includes/batch_messages.html",
            {
                "rows": rows,
                "all_url": reverse("admin:sms_outboundmessage_changelist") + f"?batch__id__exact={obj.pk}",
                "recipient_count": obj.recipient_count,
            },
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
                details=texts_and_senders(resendable.only("text", "sender", "mode")),
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
    def compose_preview(form) -> list:
        """What staff confirm: the text, its sender, how many get it, who is left out and why, the cost."""
        data = form.cleaned_data
        recipients = data["recipients"]
        sender = services.effective_sender(form.sender_value, SmsMode.BULK)
        blocked = services.opted_out(recipients, sender)
        to_send = len(recipients) - len(blocked)
        info = analyse(data["text"])
        lines = [
            _("Text: %(text)s") % {"text": data["text"]},
            _("From: %(sender)s") % {"sender": sender_label(form.sender_value, SmsMode.BULK)},
            ngettext("%(n)d recipient.", "%(n)d recipients.", len(recipients)) % {"n": len(recipients)},
            ngettext("%(n)d message will be sent.", "%(n)d messages will be sent.", to_send) % {"n": to_send},
            *describe_text(data["text"]),
        ]
        if blocked:
            lines.append(_("%(n)d opted out of this sender and will not be sent to.") % {"n": len(blocked)})
        left_out = [
            *(_("%(number)s: not a valid phone number") % {"number": number} for number in data["invalid"]),
            *(
                _("%(number)s: a repeat of %(phone)s (sent once)") % {"number": number, "phone": phone}
                for number, phone in data["duplicates"]
            ),
            *(
                _("%(number)s: opted out of %(sender)s") % {"number": phone, "sender": sender}
                for phone in recipients
                if phone in blocked
            ),
        ]
        if left_out:
            lines.append(
                listing(
                    ngettext("%(n)d number left out:", "%(n)d numbers left out:", len(left_out)) % {"n": len(left_out)},
                    and_more(left_out),
                )
            )
        lines.extend(cost_estimate(to_send, info.parts))
        return lines

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_compose": self.has_send_permission(request)}
        return super().changelist_view(request, extra_context)
