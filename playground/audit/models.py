"""The audit log: who did what to which key, provider, limit or team, and when.

A leaf every app may call: subjects describe themselves (`audit_subject()`), so this module
imports no other app and no app has to import the console to leave a trace.
"""

from __future__ import annotations

from typing import Any, Protocol

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models
from django.utils import timezone

# Names that must never appear in an audit row's details: the log is read by every staff
# member and exported, so it holds hints and ids, never a key or its ciphertext.
FORBIDDEN_DETAIL_NAMES = {"secret", "ciphertext", "api_key_value", "password"}


class Subject(Protocol):
    def audit_subject(self) -> tuple[str, str, str]:
        """(type, id, label): the type is one of AuditEvent.Target's values."""
        ...


class AuditEvent(models.Model):
    """One recorded action. Never a secret."""

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
        # The model moved here from the console app; its table kept its name and its rows.
        db_table = "console_auditevent"
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["target_type", "target_id"])]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_name} {self.action}"

    @classmethod
    def record(
        cls,
        actor: AbstractBaseUser | AnonymousUser | None,
        action: str,
        subject: Subject | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditEvent:
        """Write one event; `subject` None means the whole system (e.g. all stored keys)."""
        details = details or {}
        forbidden = FORBIDDEN_DETAIL_NAMES.intersection(details)
        if forbidden:
            raise ValueError(f"audit details must not hold {', '.join(sorted(forbidden))}")
        target_type: str
        if subject is None:
            target_type, target_id, target_label = cls.Target.SYSTEM, "", "all stored keys"
        else:
            target_type, target_id, target_label = subject.audit_subject()
        who = actor if actor is not None and actor.is_authenticated else None
        return cls.objects.create(
            actor=who,
            actor_name=who.get_username() if who else "system",
            action=action,
            target_type=target_type,
            target_id=target_id,
            target_label=target_label[:300],
            details=details,
        )

    def details_text(self) -> str:
        return "; ".join(f"{name}: {_plain(value)}" for name, value in self.details.items())


record = AuditEvent.record


def _plain(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_plain(v)}" for k, v in value.items())
    if value is None:
        return "—"
    return str(value)
