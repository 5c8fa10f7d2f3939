"""The stuck-message report: SMS AT took that have had no final delivery report after N hours.

`/admin/stuck-messages/?hours=N` (staff with the permission to view outbound
messages) groups them by network and sender id, with how many and the oldest
submission time, each group linked to the messages' list. N defaults to the
window of the "SMS stuck in Sent" alert rule (six hours when there is none).

A message is stuck when its status is still one of `AWAITING_REPORT`
(submitted, or reported Sent or Buffered: AT's interim words) and it was
submitted to AT more than N hours ago. Its network is the one named by its
latest delivery report (interim reports carry it); a message AT never reported
on is "unknown network".

`?format=csv` (or `xlsx`, optionally `&network=<code>&sender=<id>` for one
group) is the list AT support asks for: AT's message id, the number, the
sender id, the network, the status and the send time, oldest first; it is the
one place the report shows subscribers' numbers, and the same permission guards
it. Times are in the operators' zone (TIME_ZONE), as in the rest of the admin;
the CSV and XLSX are written by the console's export helpers (streamed, bounded
memory). Both the page and the export run a fixed number of queries whatever
the number of messages.
"""

from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Min, OuterRef, Q, Subquery
from django.http import JsonResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from console import exports
from hub import labels

from .models import AlertKind, AlertRule
from .rules import AWAITING_REPORT

PERMISSION = "sms.view_outboundmessage"
DEFAULT_HOURS = Decimal(6)
MAX_HOURS = Decimal(24 * 365)
FORMATS = ("csv", "xlsx")


def default_hours() -> Decimal:
    """The window of the stuck-in-Sent rule (an enabled one first), in hours; six without one."""
    rule = AlertRule.objects.filter(kind=AlertKind.STUCK_SENT).order_by("-enabled", "pk").only("window_minutes").first()
    if rule is None:
        return DEFAULT_HOURS
    return (Decimal(rule.window_minutes) / 60).quantize(Decimal("0.01"))


def plain(hours: Decimal) -> str:
    """Hours as people write them: 6, 1.5, 10 (never 6.00 or 1E+1)."""
    return format(hours.normalize(), "f")


def parse_hours(value: str | None) -> Decimal:
    """`?hours=` as a number of hours (ValueError naming the problem)."""
    try:
        hours = Decimal(value.strip())
    except (InvalidOperation, AttributeError):
        raise ValueError(_("hours must be a number of hours, e.g. hours=6")) from None
    if not hours.is_finite() or hours < 0 or hours > MAX_HOURS:
        raise ValueError(_("hours must be from 0 to %(max)s, e.g. hours=6") % {"max": MAX_HOURS})
    return hours


def stuck_messages(hours: Decimal, now=None):
    """The stuck messages, each annotated with `network_code` (its latest delivery report's; "" without one)."""
    from sms.models import DeliveryReport, OutboundMessage

    before = (now or timezone.now()) - timedelta(hours=float(hours))
    latest_network = (
        DeliveryReport.objects.filter(Q(message=OuterRef("pk")) | Q(at_message_id=OuterRef("at_message_id")))
        .exclude(network_code="")
        .order_by("-received_at", "-pk")
        .values("network_code")[:1]
    )
    return OutboundMessage.objects.filter(status__in=AWAITING_REPORT, submitted_at__lt=before).annotate(
        network_code=Subquery(latest_network)
    )


def groups(messages) -> list[dict]:
    """Per (network, sender): how many and the oldest submission; the most first. One query."""
    rows = (
        messages.order_by()
        .values("network_code", "sender")
        .annotate(n=Count("pk"), oldest=Min("submitted_at"))
        .order_by("-n", "oldest")
    )
    return [
        {
            "network_code": row["network_code"] or "",
            "network": labels.network_name(row["network_code"] or ""),
            "sender": row["sender"],
            "sender_label": row["sender"] or labels.DEFAULT_SENDER_LABEL,
            "messages": row["n"],
            "oldest": row["oldest"],
        }
        for row in rows
    ]


def export_columns() -> list[exports.Column]:
    """What AT support asks for about undelivered messages: the message id, the number, the send time (and context)."""
    return [
        exports.Column(_("AT message id"), lambda m: m.at_message_id, "text"),
        exports.Column(_("Phone number"), lambda m: m.phone, "text"),
        exports.Column(_("Sender id"), lambda m: m.sender or labels.DEFAULT_SENDER_LABEL, "text"),
        exports.Column(_("Network"), lambda m: labels.network_name(m.network_code or ""), "text"),
        exports.Column(_("Network code"), lambda m: m.network_code or "", "text"),
        exports.Column(_("Status"), lambda m: m.status, "text"),
        exports.Column(_("Submitted at"), lambda m: m.submitted_at, "datetime"),
        exports.Column(_("Created at"), lambda m: m.created_at, "datetime"),
        exports.Column(_("Our id"), lambda m: m.pk, "number"),
    ]


def _bad_request(error: str) -> JsonResponse:
    return JsonResponse({"error": error}, status=400)


def _query(hours, **extra) -> str:
    return "?" + urlencode({"hours": plain(hours), **extra})


@require_safe
def stuck_view(request):
    """The report (HTML), or its messages as CSV/XLSX with `format=`."""
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied
    given = request.GET.get("hours")
    try:
        hours = default_hours() if given in (None, "") else parse_hours(given)
    except ValueError as exc:
        return _bad_request(str(exc))
    format_name = request.GET.get(exports.FORMAT_VAR)
    if format_name is not None and format_name not in FORMATS:
        return _bad_request(_("format must be csv or xlsx"))
    now = timezone.now()
    messages = stuck_messages(hours, now)
    if format_name:
        return export(messages, format_name, request.GET, now)
    from sms.models import OutboundMessage

    rows = groups(messages)
    opts = OutboundMessage._meta
    changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    before = (now - timedelta(hours=float(hours))).isoformat()
    for row in rows:
        filters = {"status__in": ",".join(AWAITING_REPORT), "submitted_at__lt": before, "sender__exact": row["sender"]}
        row["list_url"] = f"{changelist}?{urlencode(filters)}"
        row["csv_url"] = _query(hours, network=row["network_code"], sender=row["sender"], format="csv")
    context = {
        **admin.site.each_context(request),
        "title": _("Messages stuck without a final delivery report"),
        "hours": plain(hours),
        "default_hours": plain(default_hours()),
        "rows": rows,
        "total": sum(row["messages"] for row in rows),
        "oldest": min((row["oldest"] for row in rows), default=None),
        "csv_url": _query(hours, format="csv"),
        "xlsx_url": _query(hours, format="xlsx"),
        "time_zone": timezone.get_default_timezone_name(),
        "opts": opts,
    }
    return TemplateResponse(request, "alerts/admin/stuck.html", context)


def export(messages, format_name: str, query, now):
    """The stuck messages (one group with `network` and `sender`), oldest first, as CSV or XLSX."""
    if "network" in query:
        code = query["network"]
        messages = messages.filter(network_code=code) if code else messages.filter(network_code__isnull=True)
    if "sender" in query:
        messages = messages.filter(sender=query["sender"])
    messages = messages.order_by("submitted_at", "pk")
    local = timezone.localtime(now, timezone.get_default_timezone())
    filename = f"stuck-messages-{local:%Y%m%d-%H%M%S}.{format_name}"
    columns = export_columns()
    if format_name == "xlsx":
        return exports.xlsx_response(columns, messages, filename, title=_("Stuck messages"))
    return exports.csv_response(columns, messages, filename)
