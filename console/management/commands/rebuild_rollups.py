"""Recompute the console's figures over a span (after an upgrade, a restore, or nightly for late updates)."""

from datetime import timedelta

from django.core.management.base import BaseCommand
from django.utils import timezone

from console.rollups import rebuild


class Command(BaseCommand):
    help = "Recompute the dashboard's hourly figures for the last --days days (maintain keeps the last two current)."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=31, help="How many days back (default 31).")

    def handle(self, *args, days, **options):
        written = rebuild(timezone.now() - timedelta(days=days))
        self.stdout.write(f"{written} figure(s) written for the last {days} day(s)")
