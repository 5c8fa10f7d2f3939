"""SMS in the admin: callbacks read-only; outbound messages and batches; compose, reply, resend.

Every confirmation shows what will be sent: the text, the sender it goes from,
how many; the compose preview also lists the numbers left out (and why) and
estimates the cost from what AT charged per SMS part over the last 30 days.
The batch list ("campaigns") leaves replies and auto-replies out unless asked;
an inbound message's page lists the replies sent to it.
"""

from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, Sum
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from hub import labels
from hub.admin import (
    CallbackEventAdmin,
    NetworkFilter,
    OutboundRequestAdminMixin,
    PhoneActionsMixin,
    ReadOnlyAdminMixin,
    StatusFilter,
    code_meaning,
    confirmation_page,
    confirmed,
    failure_meaning_html,
    form_then_confirm,
    hover,
    money,
    money_display,
    network_display,
    reason_with_meaning,
    status_badge,
)
from hub.outbound import RESENDABLE, OutboundStatus
from hub.smstext import analyse

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
#: How many numbers (or texts) a confirmation names before it says "and N more".
SHOWN = 50
#: The statuses of messages AT accepted, whose cost a compose preview estimates from, and for how long back.
PRICED = [OutboundStatus.SUBMITTED, OutboundStatus.SENT, OutboundStatus.BUFFERED, OutboundStatus.DELIVERED]
COST_WINDOW = timedelta(days=30)


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


def sender_label(sender: str, mode: str = SmsMode.BULK) -> str:
    """The sender recipients see: the sender id or shortcode; AT's default sender when none is named."""
    if sender:
        return sender
    return labels.DEFAULT_SENDER_LABEL if mode == SmsMode.BULK else str(_("(none)"))


def and_more(lines: list, limit: int = SHOWN) -> list:
    """The first `limit` of `lines`, then "and N more" when there are more."""
    if len(lines) <= limit:
        return list(lines)
    return [*lines[:limit], _("… and %(n)d more.") % {"n": len(lines) - limit}]


def listing(heading, items):
    """A confirmation line with a list under it (items already cut with `and_more`)."""
    return format_html("{}<ul>{}</ul>", heading, format_html_join("", "<li>{}</li>", ((item,) for item in items)))


def cost_per_part(now=None) -> dict[str, tuple[Decimal, int]]:
    """What AT charged per SMS part over the last 30 days, per currency: currency → (cost per part, messages).

    From the cost AT answered for each message it accepted, divided by the
    message's parts (its text's); messages are grouped by text and currency,
    so the texts are read once each.
    """
    since = (now or timezone.now()) - COST_WINDOW
    rows = (
        OutboundMessage.objects.filter(created_at__gte=since, status__in=PRICED, cost__isnull=False)
        .exclude(cost_currency="")
        .order_by()
        .values_list("text", "cost_currency")
        .annotate(total=Sum("cost"), n=Count("pk"))
    )
    totals, parts, counts = defaultdict(Decimal), defaultdict(int), defaultdict(int)
    for text, currency, total, n in rows:
        totals[currency] += total
        parts[currency] += n * max(analyse(text).parts, 1)
        counts[currency] += n
    return {currency: (totals[currency] / parts[currency], counts[currency]) for currency in sorted(totals)}


def cost_estimate(messages: int, parts: int, now=None) -> list[str]:
    """The compose preview's estimate: messages times SMS parts times the recent average cost per part, per currency."""
    recent = cost_per_part(now)
    if not recent:
        return [
            _(
                "Estimated cost: no recent cost to estimate from (no message AT accepted in the last 30 days "
                "has a cost)."
            )
        ]
    lines = []
    for currency, (per_part, counted) in recent.items():
        lines.append(
            _(
                "Estimated cost: about %(total)s (%(messages)d message(s) × %(parts)d part(s) × %(per_part)s per "
                "part). An estimate: the average cost per SMS part of the %(counted)d message(s) AT accepted in "
                "the last 30 days; AT's price depends on the network and the sender."
            )
            % {
                "total": money((per_part * messages * parts).quantize(Decimal("0.0001")), currency),
                "messages": messages,
                "parts": parts,
                "per_part": money(per_part.quantize(Decimal("0.0001")), currency),
                "counted": counted,
            }
        )
    return lines


def texts_and_senders(messages_to_send) -> list:
    """What a resend sends: each text with its sender, and how many times."""
    groups = defaultdict(int)
    for message in messages_to_send:
        groups[(message.text, message.sender, message.mode)] += 1
    lines = [
        _("%(n)d × “%(text)s” from %(sender)s (%(mode)s)")
        % {"n": n, "text": text, "sender": sender_label(sender, mode), "mode": SmsMode(mode).label}
        for (text, sender, mode), n in groups.items()
    ]
    return [listing(_("What will be sent:"), and_more(lines, 20))] if lines else []


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
        "network",
        "failure_reason",
        "failure_meaning",
        "retry_count",
    )
    list_display = (
        "short_id",
        "status",
        "phone_number",
        "network",
        "reason",
        "retry_count",
        "message_link",
        "received_at",
        "state_badge",
    )
    list_filter = (
        "status",
        ("network_code", NetworkFilter),
        "state",
        ("message", admin.EmptyFieldListFilter),
        "received_at",
    )
    list_select_related = ("message",)
    search_fields = ("=at_message_id", "phone_number", "phone_e164")

    network = network_display()

    @admin.display(description=_("AT message id"), ordering="at_message_id")
    def short_id(self, obj):
        return hover(obj.at_message_id, 12)

    @admin.display(description=_("failure reason"), ordering="failure_reason")
    def reason(self, obj):
        return reason_with_meaning(obj.failure_reason, 30)

    @admin.display(description=_("what it means"))
    def failure_meaning(self, obj):
        return failure_meaning_html(obj.failure_reason)

    @admin.display(description=_("message"), ordering="message")
    def message_link(self, obj):
        if obj.message_id is None:
            return format_html(
                '<span title="{}">{}</span>', _("No outbound message has this AT id (yet)."), _("unmatched")
            )
        return admin_link(obj.message, f"#{obj.message_id}")


class RepliesInline(ReadOnlyAdminMixin, admin.TabularInline):
    """The replies and auto-replies sent to an inbound message."""

    model = OutboundMessage
    fk_name = "in_reply_to"
    verbose_name = _("reply sent to this message")
    verbose_name_plural = _("replies sent to this message")
    fields = ("created_at", "phone", "reply_text", "sender_shown", "status_badge", "source")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ("created_at", "pk")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("batch")

    @admin.display(description=_("text"))
    def reply_text(self, obj):
        return hover(obj.text, 60)

    @admin.display(description=_("from"))
    def sender_shown(self, obj):
        return sender_label(obj.sender, obj.mode)

    @admin.display(description=_("status"))
    def status_badge(self, obj):
        return status_badge(obj)

    @admin.display(description=_("source"))
    def source(self, obj):
        return obj.batch.get_source_display()


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
        "network",
        "cost_with_currency",
    )
    list_display = (
        "from_number",
        "to_number",
        "short_text",
        "sent_at",
        "premium",
        "network",
        "received_at",
        "state_badge",
    )
    list_filter = ("to_number", ("network_code", NetworkFilter), "state", "received_at")
    search_fields = ("=at_id", "from_number", "from_e164", "text", "link_id")
    actions = ["reply"]
    inlines = [RepliesInline]

    network = network_display()
    cost_with_currency = money_display("cost", "cost_currency", _("cost"))

    @admin.display(description=_("text"))
    def short_text(self, obj):
        return hover(obj.text, 60)

    @admin.display(description=_("premium"), boolean=True)
    def premium(self, obj):
        return obj.is_premium

    @staticmethod
    def reply_details(queryset, text: str) -> list:
        """What the reply confirmation shows: the text, then each reply's number and the sender it goes from
        (the number the message was sent to; premium ones with their linkId)."""
        inbound = list(queryset.order_by("pk"))
        premium = sum(1 for m in inbound if m.is_premium)
        lines = [_("Text: %(text)s") % {"text": text}, *describe_text(text)]
        if premium:
            lines.append(
                _("%(n)d premium message(s): replied through the premium path with their linkId.") % {"n": premium}
            )
        replies = [
            _("to %(phone)s from %(sender)s, premium, with linkId %(link)s")
            % {"phone": m.from_e164 or m.from_number, "sender": m.to_number, "link": m.link_id}
            if m.is_premium
            else _("to %(phone)s from %(sender)s") % {"phone": m.from_e164 or m.from_number, "sender": m.to_number}
            for m in inbound
        ]
        lines.append(
            listing(ngettext("%(n)d reply:", "%(n)d replies:", len(replies)) % {"n": len(replies)}, and_more(replies))
        )
        return lines

    @admin.action(description=_("Reply to the selected messages"), permissions=["send"])
    def reply(self, request, queryset):
        """Write the reply, confirm, then queue one SMS per message (premium ones with their linkId)."""
        form, step, done = form_then_confirm(request, ReplyForm)
        if done:
            batches = services.reply_to(queryset, form.cleaned_data["text"], user=request.user)
            self.message_user(request, queued_message(batches), messages.SUCCESS)
            return None
        details = self.reply_details(queryset, form.cleaned_data["text"]) if step == "confirm" else ()
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
        shown = obj.messages.order_by("pk")[:100]
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (admin_link(m, m.phone), status_badge(m), m.at_message_id, reason_with_meaning(m.failure_reason, 60))
                for m in shown
            ),
        )
        link = reverse("admin:sms_outboundmessage_changelist") + f"?batch__id__exact={obj.pk}"
        more = format_html(
            '<p><a href="{}">{}</a></p>', link, _("All %(n)d messages of this batch") % {"n": obj.recipient_count}
        )
        return format_html(
            '<table class="at-table"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead>'
            "<tbody>{}</tbody></table>{}",
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


@admin.register(AutoReplyRule)
class AutoReplyRuleAdmin(admin.ModelAdmin):
    list_display = ("keyword", "short_code", "short_reply", "active", "created_at")
    list_filter = ("active", "short_code")
    list_editable = ("active",)
    search_fields = ("keyword", "reply")

    @admin.display(description=_("reply"))
    def short_reply(self, obj):
        return hover(obj.reply, 60)
