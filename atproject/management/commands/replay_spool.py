"""Store the callbacks spooled while the database was down (see atproject/callbacks/spool.py)."""

from django.core.management.base import BaseCommand

from atproject.callbacks.spool import replay, spool_path


class Command(BaseCommand):
    help = "Replay spooled callbacks into the database (repeats are deduplicated as usual)."

    def handle(self, *args, **options):
        stored, waiting = replay()
        self.stdout.write(f"{stored} spooled callback(s) stored, {waiting} still waiting in {spool_path()}")
