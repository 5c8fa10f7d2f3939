"""`python manage.py atsim`: a local Africa's Talking on loopback (see simulator/server.py)."""

import time
from decimal import Decimal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from simulator.server import Options, serve


class Command(BaseCommand):
    help = "Run a local AT simulator: AT's API for the gateway (AT_API_URL) and AT's callbacks to this project."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8002)
        parser.add_argument("--project-url", default="http://127.0.0.1:8000", help="Where to send callbacks.")
        parser.add_argument("--api-key", default=None, help="The apiKey to accept (default: AT_API_KEY).")
        parser.add_argument("--delay", type=float, default=1.0, help="Seconds before each callback.")
        parser.add_argument("--latency", type=float, default=0.0, help="Seconds before answering an API call.")
        parser.add_argument(
            "--failure-rate", type=float, default=0.1, help="Share of deliveries that fail, 0 to 1 (1: every one)."
        )
        parser.add_argument(
            "--drop-delivery-reports",
            action="store_true",
            help="Accept sends and never send their delivery reports (rehearses a wrong callback URL).",
        )
        parser.add_argument(
            "--refuse-api-key",
            action="store_true",
            help="Answer every API call with AT's 401, whatever the key (rehearses refused credentials).",
        )
        parser.add_argument(
            "--digits",
            default="1",
            help='Keys a called person presses at each keypad menu, in order; "?" presses a random key.',
        )

    def handle(self, *args, port, project_url, api_key, delay, latency, failure_rate, digits, **options):
        if not 0 <= failure_rate <= 1:
            raise CommandError(f"--failure-rate must be from 0 to 1 (a share of deliveries), not {failure_rate:g}")
        tokens = settings.AT_WEBHOOK_TOKEN
        sim_options = Options(
            project_url=project_url,
            token=tokens[0] if tokens else "",
            api_key=settings.AT_API_KEY if api_key is None else api_key,
            username=settings.AT_USERNAME,
            delay=delay,
            latency=latency,
            failure_rate=failure_rate,
            digits=digits,
            balance=Decimal("1000"),
            drop_delivery_reports=options["drop_delivery_reports"],
            refuse_api_key=options["refuse_api_key"],
        )
        server = serve(sim_options, port=port)
        self.stdout.write(f"AT simulator on http://127.0.0.1:{port}/ (the phone page), calling back {project_url}")
        switched = [f"{name}={value}" for name, value in server.RequestHandlerClass.simulator.switches().items()]
        self.stdout.write(f"Rehearsal switches ({', '.join(switched)}): GET/POST http://127.0.0.1:{port}/control")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            server.shutdown()
