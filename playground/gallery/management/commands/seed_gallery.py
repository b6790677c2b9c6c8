from __future__ import annotations

import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from playground.accounts.models import Team
from playground.gallery.seed import seed_runs
from playground.providers.models import Provider


class Command(BaseCommand):
    help = "Add many finished sample runs (with review data) to the gallery, for benchmarks."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--runs", type=int, default=1000)
        parser.add_argument("--user", required=True, help="username that owns the runs")
        parser.add_argument("--team", help="share the runs with this team (by name)")
        parser.add_argument("--files", action="store_true", help="write a real small image per run")

    def handle(self, *args, runs: int, user: str, team: str | None, files: bool, **options):
        owner = get_user_model().objects.filter(username=user).first()
        if owner is None:
            raise CommandError(f"No user named {user!r}.")
        team_obj = None
        if team:
            team_obj = Team.objects.filter(name=team).first()
            if team_obj is None:
                raise CommandError(f"No team named {team!r}.")
        reviewers = []
        if team_obj is not None:
            reviewers = list(
                get_user_model().objects.filter(
                    memberships__team=team_obj, memberships__role="reviewer"
                )
            )
        started = time.monotonic()
        seed_runs(
            owner,
            runs,
            team=team_obj,
            provider=Provider.objects.filter(enabled=True).first(),
            files=files,
            reviewers=reviewers,
        )
        took = time.monotonic() - started
        self.stdout.write(f"Added {runs} runs for {owner} in {took:.1f} s.")
