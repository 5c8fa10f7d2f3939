"""SMS callbacks in the admin: delivery reports, inbound messages (with replies), opt-out and subscription events."""



from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from hub.admin import (
    CallbackEventAdmin,
    NetworkFilter,
    PhoneActionsMixin,
    ReadOnlyAdminMixin,
    confirmation_page,
    failure_meaning_html,
    form_then_confirm,
    hover,
    money_display,
    network_display,
    reason_with_meaning,
    status_badge,
)
from sms import services
from sms.forms import ReplyForm, describe_text
from sms.models import (
    DeliveryReport,
    InboundMessage,
    OptOutEvent,
    OutboundMessage,
    SubscriptionEvent,
)

from .common import (
    SendActionsMixin,
    admin_link,
    and_more,
    listing,
    queued_message,
    sender_label,
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
