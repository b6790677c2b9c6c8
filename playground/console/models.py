from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

# Names that must never appear in an audit row's details: the log is read by every staff
# member and exported, so it holds hints and ids, never a key or its ciphertext.
FORBIDDEN_DETAIL_NAMES = {"secret", "ciphertext", "api_key_value", "password"}


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
        "accounts.Team", on_delete=models.CASCADE, null=True, blank=True, related_name="run_limit"
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

    def caps(self) -> dict[str, int | None]:
        return {
            "max_concurrent_runs": self.max_concurrent_runs,
            "max_images_per_day": self.max_images_per_day,
        }


class AuditEvent(models.Model):
    """Who did what to which key, provider, limit or team, and when. Never a secret."""

    class Action(models.TextChoices):
        KEY_ADDED = "key.added", "Key added"
        KEY_ROTATED = "key.rotated", "Key rotated"
        KEY_REVOKED = "key.revoked", "Key revoked"
        KEY_TESTED = "key.tested", "Key tested"
        KEY_DELETED = "key.deleted", "Key deleted"
        PROVIDER_ADDED = "provider.added", "Provider added"
        PROVIDER_CHANGED = "provider.changed", "Provider changed"
        PROVIDER_URL_CHANGED = "provider.url_changed", "Provider base URL changed"
        LIMIT_CHANGED = "limit.changed", "Limit changed"
        LIMIT_REMOVED = "limit.removed", "Limit removed"
        TEAM_ADDED = "team.added", "Team added"
        MEMBER_ADDED = "membership.added", "Member added"
        MEMBER_REMOVED = "membership.removed", "Member removed"
        MEMBER_ROLE_CHANGED = "membership.role_changed", "Member role changed"
        ENCRYPTION_ROTATED = "encryption.rotated", "Keys re-encrypted"

    class Target(models.TextChoices):
        KEY = "key", "Key"
        PROVIDER = "provider", "Provider"
        LIMIT = "limit", "Limit"
        TEAM = "team", "Team"
        SYSTEM = "system", "System"

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="audit_events",
    )
    # Kept as written so the log still says who it was after the account is deleted.
    actor_name = models.CharField(max_length=150)
    action = models.CharField(max_length=40, choices=Action.choices, db_index=True)
    target_type = models.CharField(max_length=20, choices=Target.choices)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=300)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["target_type", "target_id"])]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_name} {self.action}"

    @classmethod
    def record(
        cls, actor, action: str, target=None, details: dict[str, Any] | None = None
    ) -> AuditEvent:
        details = details or {}
        forbidden = FORBIDDEN_DETAIL_NAMES.intersection(details)
        if forbidden:
            raise ValueError(f"audit details must not hold {', '.join(sorted(forbidden))}")
        target_type, target_id, target_label = describe(target)
        actor = actor if actor is not None and actor.is_authenticated else None
        return cls.objects.create(
            actor=actor,
            actor_name=actor.get_username() if actor else "system",
            action=action,
            target_type=target_type,
            target_id=target_id,
            target_label=target_label[:300],
            details=details,
        )

    def details_text(self) -> str:
        return "; ".join(f"{name}: {_plain(value)}" for name, value in self.details.items())


def describe(target) -> tuple[str, str, str]:
    """(type, id, label) of an audit target, from its model."""
    from playground.accounts.models import Team
    from playground.providers.models import ApiKey, Provider

    if target is None:
        return AuditEvent.Target.SYSTEM, "", "all stored keys"
    if isinstance(target, ApiKey):
        label = f"{target.provider.name} key {target.hint} of {target.owner_label}"
        return AuditEvent.Target.KEY, str(target.pk), label
    if isinstance(target, Provider):
        return AuditEvent.Target.PROVIDER, str(target.pk), target.name
    if isinstance(target, Limit):
        return AuditEvent.Target.LIMIT, str(target.pk), target.subject_label
    if isinstance(target, Team):
        return AuditEvent.Target.TEAM, str(target.pk), target.name
    raise TypeError(f"no audit target type for {type(target).__name__}")


def _plain(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_plain(v)}" for k, v in value.items())
    if value is None:
        return "—"
    return str(value)
