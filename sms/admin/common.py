"""What the SMS admin pages share: links, sender labels, cost estimates, the send permission."""


from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

from django.contrib import messages
from django.db.models import Count, Sum
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from hub import labels
from hub.admin import (
    money,
)
from hub.outbound import OutboundStatus
from hub.smstext import analyse
from sms import services
from sms.models import (
    OutboundMessage,
    SmsMode,
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
