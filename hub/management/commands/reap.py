"""Reap what dead workers left behind: running tasks → failed, rows stuck `sending` → unknown."""

from datetime import timedelta

from django.core.management.base import BaseCommand

from hub.maintenance import reap


class Command(BaseCommand):
    help = "Fail tasks a dead worker left running; mark their stuck sends unknown (they may have reached AT)."

    def add_arguments(self, parser):
        parser.add_argument("--older-than", type=int, default=None, help="Seconds (default AT_REAP_AFTER_SECONDS).")

    def handle(self, *args, older_than, **options):
        stale = None if older_than is None else timedelta(seconds=older_than)
        self.stdout.write(f"reaped: {reap(stale)}")
