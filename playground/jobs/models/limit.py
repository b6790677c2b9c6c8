from __future__ import annotations

from django.conf import settings
from django.db import models

from playground.accounts.models import Team


class Limit(models.Model):
    """Caps for one user or one team; an empty cap means no limit of that kind."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="run_limit",
    )
    team = models.OneToOneField(
        Team, on_delete=models.CASCADE, null=True, blank=True, related_name="run_limit"
    )
    max_concurrent_runs = models.PositiveIntegerField(
        null=True, blank=True, help_text="Runs queued or running at the same time."
    )
    max_images_per_day = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Images requested (n) per calendar day in the server's time zone.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # The model moved here from the console app; its table kept its name and its rows.
        db_table = "console_limit"
        ordering = ["team__name", "user__username"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(user__isnull=False, team__isnull=True)
                    | models.Q(user__isnull=True, team__isnull=False)
                ),
                name="limit_has_one_subject",
            )
        ]

    def __str__(self) -> str:
        return f"limit for {self.subject_label}"

    @property
    def subject(self):
        return self.team if self.team_id else self.user

    @property
    def subject_label(self) -> str:
        return f"team {self.team}" if self.team_id else f"user {self.user}"

    def audit_subject(self) -> tuple[str, str, str]:
        return "limit", str(self.pk), self.subject_label

    def caps(self) -> dict[str, int | None]:
        return {
            "max_concurrent_runs": self.max_concurrent_runs,
            "max_images_per_day": self.max_images_per_day,
        }
