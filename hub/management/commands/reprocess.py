"""Apply stored callbacks again: those whose processing failed, or chosen ones (after a fix)."""

from django.core.management.base import BaseCommand, CommandError

from hub.callbacks.ingest import reprocess
from hub.callbacks.models import ProcessingState
from hub.callbacks.registry import kinds


class Command(BaseCommand):
    help = "Reprocess stored callbacks: --failed (every failed one) and/or --ids, optionally of one --kind."

    def add_arguments(self, parser):
        parser.add_argument("--kind", help=f"One of: {', '.join(sorted(kinds()))}")
        parser.add_argument("--ids", help="Comma-separated row ids (needs --kind).")
        parser.add_argument("--failed", action="store_true", help="Every callback whose processing failed.")

    def handle(self, *args, kind, ids, failed, **options):
        registered = kinds()
        if kind and kind not in registered:
            raise CommandError(f"unknown kind {kind!r}; one of: {', '.join(sorted(registered))}")
        if ids and not kind:
            raise CommandError("--ids needs --kind")
        if not (ids or failed):
            raise CommandError("say which: --failed and/or --ids")
        try:
            wanted = [int(i) for i in ids.split(",") if i.strip()] if ids else None
        except ValueError:
            raise CommandError(f"--ids must be comma-separated row ids, not {ids!r}") from None
        done, still_failing = 0, []
        for name, registered_kind in registered.items():
            if kind and name != kind:
                continue
            rows = registered_kind.model.objects.all()
            if wanted is not None:
                rows = rows.filter(pk__in=wanted)
            if failed:
                rows = rows.filter(state=ProcessingState.FAILED)
            for event in rows.order_by("pk").iterator():
                if reprocess(event):
                    done += 1
                else:
                    event.refresh_from_db(fields=["error"])
                    still_failing.append((name, event.pk, event.error))
        self.stdout.write(f"{done} reprocessed, {len(still_failing)} still failing")
        for name, pk, error in still_failing:
            self.stdout.write(f"  still failing: {name} #{pk}: {error}")
