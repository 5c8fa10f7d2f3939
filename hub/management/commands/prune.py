"""Delete callback events and finished task results older than the retention period."""

from django.core.management.base import BaseCommand

from hub.maintenance import prune


class Command(BaseCommand):
    help = "Prune callback events and finished task results older than AT_RETENTION_DAYS (or --days)."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None)

    def handle(self, *args, days, **options):
        self.stdout.write(f"pruned: {prune(days)}")
