"""After downtime: fetch inbound messages from AT's inbox and store those we missed (deduplicated by id)."""

from django.core.management.base import BaseCommand, CommandError

from atproject import gateway
from atproject.callbacks.ingest import ingest
from atproject.callbacks.payload import ParsedBody, clean
from sms.models import InboundMessage


class Command(BaseCommand):
    help = "Fetch inbound SMS from AT's inbox (SMS.fetch_messages) and store the ones not stored yet."

    def add_arguments(self, parser):
        parser.add_argument("--since-id", type=int, default=0, help="AT's lastReceivedId to start after.")
        parser.add_argument("--max-pages", type=int, default=1000)

    def handle(self, *args, since_id, max_pages, **options):
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
                outcome = ingest(InboundMessage, ParsedBody(data=clean(dict(message)), content_type="application/json"))
                new += outcome.created
                repeats += not outcome.created
                last_id = max(last_id, int(message.get("id") or 0))
        self.stdout.write(f"{new} inbound message(s) stored, {repeats} already known; last id {last_id}")
