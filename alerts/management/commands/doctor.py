"""`manage.py doctor [--base-url https://...] [--self-test]`: the set-up doctor's report; exit 1 on any ERROR."""

from django.core.management.base import BaseCommand, CommandError

from alerts import doctor


class Command(BaseCommand):
    help = (
        "Check AT's credentials, the senders, the webhook token and the web settings against the public base URL; "
        "print the callback URLs to paste into AT's dashboard (token included); with --self-test, post a synthetic "
        "callback of each passive kind through that URL and find it stored. Exits 1 when any line is an ERROR."
    )

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default="", help="The public URL AT reaches this hub at (https://...).")
        parser.add_argument(
            "--self-test",
            action="store_true",
            help="Post a synthetic callback of each passive kind through --base-url, find it stored, remove it.",
        )
        parser.add_argument("--timeout", type=float, default=10.0, help="Seconds to wait for each self-test request.")

    def handle(self, *args, base_url, self_test, timeout, **options):
        report = doctor.run(base_url or None, self_test=self_test, timeout=timeout, probe_sandbox=True)
        styles = {doctor.OK: self.style.SUCCESS, doctor.WARNING: self.style.WARNING, doctor.ERROR: self.style.ERROR}
        for line in report.lines:
            self.stdout.write(f"{styles[line.level](f'{line.level:<8}')}{line.topic}: {line.text}")
            if line.todo:
                self.stdout.write(f"{'':8}→ {line.todo}")
        if report.callback_urls:
            self.stdout.write("\nCallback URLs to paste into AT's dashboard (they carry the webhook token: private):")
            width = max(len(u.field) for u in report.callback_urls)
            for url in report.callback_urls:
                self.stdout.write(f"  {url.field:<{width}}  {url.url}")
        summary = (
            f"\n{report.count(doctor.ERROR)} error(s), {report.count(doctor.WARNING)} warning(s), "
            f"{report.count(doctor.OK)} OK."
        )
        self.stdout.write(summary)
        if report.failed:
            errors = "; ".join(f"{line.topic}: {line.text}" for line in report.lines if line.level == doctor.ERROR)
            raise CommandError(f"the set-up doctor found {report.count(doctor.ERROR)} error(s): {errors}", returncode=1)
