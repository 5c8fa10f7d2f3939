"""After downtime: fetch inbound messages from AT's inbox and store those we missed (deduplicated by id).

They are stored without their effect unless `--auto-reply` is given: an
auto-reply that arrives hours after the subscriber wrote is worse than none.
"""

from django.core.management.base import BaseCommand, CommandError

from hub import gateway
from hub.callbacks.ingest import ingest
from hub.callbacks.payload import ParsedBody, clean
from hub.callbacks.registry import kind_for
from sms.models import InboundMessage


class Command(BaseCommand):
    help = "Fetch inbound SMS from AT's inbox (SMS.fetch_messages) and store the ones not stored yet."

    def add_arguments(self, parser):
        parser.add_argument("--since-id", type=int, default=0, help="AT's lastReceivedId to start after.")
        parser.add_argument("--max-pages", type=int, default=1000)
        parser.add_argument(
            "--auto-reply",
            action="store_true",
            help="Also answer the missed messages by the auto-reply rules (late: off by default).",
        )

    def handle(self, *args, since_id, max_pages, auto_reply, **options):
        last_id, new, repeats = since_id, 0, 0
        for _page in range(max_pages):
            try:
                answer = gateway.fetch_messages(last_id)
            except gateway.ATError as exc:
                raise CommandError(f"AT's inbox could not be read: {exc}") from None
            data = answer.get("SMSMessageData") or {} if isinstance(answer, dict) else {}
            messages = data.get("Messages") or []
            if not messages:
                break
            for message in messages:
                parsed = ParsedBody(data=clean(dict(message)), content_type="application/json")
                outcome = ingest(kind_for(InboundMessage), parsed, apply_effect=auto_reply)
                new += outcome.created
                repeats += not outcome.created
                last_id = max(last_id, int(message.get("id") or 0))
        replies = "auto-replies sent by the rules" if auto_reply else "no auto-replies (--auto-reply to send them)"
        self.stdout.write(f"{new} inbound message(s) stored ({replies}), {repeats} already known; last id {last_id}")
