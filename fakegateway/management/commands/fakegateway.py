from __future__ import annotations

from typing import Any

import uvicorn
from django.core.management.base import BaseCommand, CommandError

from fakegateway.app import DIALECTS, FakeConfig, FakeGateway, parse_scenario
from fakegateway.server import base_url


class Command(BaseCommand):
    help = "Serve the fake image gateway (every dialect) over HTTP until interrupted."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8100)
        parser.add_argument("--latency", type=float, default=0.0, help="seconds per image call")
        parser.add_argument("--require-key", default=None, help="the only Bearer key accepted")
        parser.add_argument("--url-ttl", type=float, default=3600, help="seconds URLs stay valid")
        parser.add_argument(
            "--scenario", default="", help='default directives, e.g. "status=429 retry_after=3"'
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            parse_scenario(options["scenario"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        config = FakeConfig(
            latency=options["latency"],
            required_key=options["require_key"] or None,
            url_ttl=options["url_ttl"],
            scenario=options["scenario"],
        )
        app = FakeGateway(config)
        host, port = options["host"], options["port"]
        root = f"http://{f'[{host}]' if ':' in host else host}:{port}"
        self.stdout.write(f"Fake image gateway on {root}; base URLs per dialect:")
        for dialect in DIALECTS:
            self.stdout.write(f"  {dialect:<12} {base_url(root, dialect)}")
        self.stdout.write(f"Control API: {root}/_fake/config, /_fake/reset, /_fake/requests")
        self.stdout.flush()
        uvicorn.run(app, host=host, port=port, log_level="info", lifespan="on")
