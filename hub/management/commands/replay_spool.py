"""Store the callbacks spooled while the database was down (see hub/callbacks/replay.py)."""

from django.core.management.base import BaseCommand

from hub.callbacks.replay import quarantine_path, replay
from hub.callbacks.spool import spool_path


class Command(BaseCommand):
    help = "Replay spooled callbacks into the database (repeats are deduplicated as usual)."

    def handle(self, *args, **options):
        result = replay()
        self.stdout.write(
            f"{result.stored} spooled callback(s) stored, {result.waiting} still waiting in {spool_path()}"
        )
        if result.quarantined:
            self.stderr.write(
                f"{result.quarantined} spooled line(s) could not be read and were moved to {quarantine_path()}: "
                "each is kept there with the reason; fix and append it to the spool file to replay it."
            )
