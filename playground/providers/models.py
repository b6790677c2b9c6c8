from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.db import models
from django.utils import timezone

from playground.accounts.models import team_ids
from playground.audit.models import AuditEvent
from playground.providers import crypto
from playground.upstream.client import UpstreamClient
from playground.upstream.errors import UpstreamError
from playground.upstream.requests import Dialect, normalize_base_url

Actor = AbstractBaseUser | AnonymousUser | None

# Seconds a /v1/models request may take (a Test, or refreshing a provider's list).
MODELS_TIMEOUT = 20


class Provider(models.Model):
    EDIT_MODES = [
        ("json_images", "JSON: images[].image_url (recommended by relay gateways)"),
        ("json_image", "JSON: image (compatibility field)"),
        ("json_image_urls", "JSON: image_urls (compatibility field)"),
        ("multipart", "Multipart: image[] files and a mask file (OpenAI; dall-e-2)"),
    ]
    FORMAT_FIELDS = [
        ("output_format", "output_format (OpenAI)"),
        ("format", "format (alias some gateways use)"),
    ]

    name = models.CharField(max_length=100, unique=True)
    base_url = models.CharField(
        max_length=500, help_text="With or without a trailing /v1, e.g. https://api.openai.com/v1"
    )
    timeout = models.PositiveIntegerField(
        default=150, help_text="Seconds an image call may take before it is given up."
    )
    enabled = models.BooleanField(default=True)
    requires_key = models.BooleanField(
        default=True, help_text="Off only for keyless gateways such as the offline Demo."
    )
    is_local = models.BooleanField(
        default=False,
        help_text="Runs on this machine: result URLs on its own host may be fetched (Demo only).",
    )
    output_format_field = models.CharField(
        max_length=20, choices=FORMAT_FIELDS, default="output_format"
    )
    supports_image_config = models.BooleanField(
        default=False, help_text="Accepts image_config {aspect_ratio, image_size}."
    )
    edit_mode = models.CharField(max_length=20, choices=EDIT_MODES, default="json_images")
    quota_multiplier = models.DecimalField(max_digits=8, decimal_places=3, default=1)
    models_catalogue = models.JSONField(default=list, blank=True)
    models_fetched_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.base_url = normalize_base_url(self.base_url)
        super().save(*args, **kwargs)

    def save_by(self, actor: Actor) -> None:
        """Save what someone changed; a new base URL is written to the audit log.

        Keys saved for the old address are refused from then on (ApiKey.needs_reentry), so the
        log says how many have to be entered again.
        """
        previous: str | None = None
        if self.pk:
            urls = Provider.objects.filter(pk=self.pk).values_list("base_url", flat=True)
            previous = urls.first()
        self.save()
        if previous is not None and previous != self.base_url:
            stale = self.keys.exclude(saved_for_url=self.base_url).filter(revoked_at__isnull=True)
            details = {
                "from": url_for_log(previous),
                "to": url_for_log(self.base_url),
                "keys_needing_reentry": stale.count(),
            }
            AuditEvent.record(actor, AuditEvent.Action.PROVIDER_URL_CHANGED, self, details)

    def audit_subject(self) -> tuple[str, str, str]:
        return "provider", str(self.pk), self.name

    def list_models(self, key: ApiKey | None) -> list[str]:
        """The gateway's /v1/models, asked with `key` (None for keyless gateways)."""
        secret = key.reveal() if key else None
        timeout = min(self.timeout, MODELS_TIMEOUT)
        with UpstreamClient(self.base_url, secret, timeout=timeout) as client:
            return client.list_models()

    def remember_models(self, models_list: list[str]) -> None:
        self.models_catalogue = models_list
        self.models_fetched_at = timezone.now()
        self.save(update_fields=["models_catalogue", "models_fetched_at"])

    @property
    def dialect(self) -> Dialect:
        return Dialect(
            output_format_field=self.output_format_field,
            image_config=self.supports_image_config,
            edit_mode=self.edit_mode,
        )

    def catalogue_is_fresh(self) -> bool:
        if not self.models_fetched_at:
            return False
        age = timezone.now() - self.models_fetched_at
        return age < timedelta(seconds=settings.MODELS_CACHE_SECONDS)

    def key_for(self, user: User) -> ApiKey | None:
        """The default key for a user's runs here: their own, else one of their teams'."""
        keys = sorted(self.keys.usable_by(user), key=lambda k: (k.team_id is not None, k.pk))
        return keys[0] if keys else None


class ApiKeyQuerySet(models.QuerySet["ApiKey"]):
    def owned_by(self, user: User) -> ApiKeyQuerySet:
        """A user's own keys and their teams' shared ones, revoked or not."""
        return self.filter(models.Q(user=user) | models.Q(team__in=team_ids(user)))

    def usable_by(self, user: User) -> ApiKeyQuerySet:
        """Keys a user may send requests with: their own and their teams' shared ones."""
        return self.owned_by(user).filter(revoked_at__isnull=True)

    def active(self) -> ApiKeyQuerySet:
        """Keys that can send: not revoked, and saved for their provider's current address."""
        return self.filter(revoked_at__isnull=True, saved_for_url=models.F("provider__base_url"))

    def needing_reentry(self) -> ApiKeyQuerySet:
        return self.filter(revoked_at__isnull=True).exclude(
            saved_for_url=models.F("provider__base_url")
        )

    def revoked(self) -> ApiKeyQuerySet:
        return self.filter(revoked_at__isnull=False)


class ApiKey(models.Model):
    """An API key, encrypted at rest and write-only: only `hint` is ever shown."""

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="keys")
    # Exactly one owner: a user (their own key) or a team (shared with its members, who can
    # use it but never see it).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_keys",
        null=True,
        blank=True,
    )
    team = models.ForeignKey(
        "accounts.Team", on_delete=models.CASCADE, related_name="api_keys", null=True, blank=True
    )
    label = models.CharField(max_length=100, blank=True)
    ciphertext = models.TextField(editable=False)
    hint = models.CharField(max_length=20, editable=False)
    # The provider address the key was entered for: a key is never sent anywhere else.
    saved_for_url = models.CharField(max_length=500, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_tested_at = models.DateTimeField(null=True, blank=True)
    last_test_ok = models.BooleanField(null=True)
    last_test_message = models.TextField(blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "provider"],
                condition=models.Q(user__isnull=False),
                name="one_key_per_user_provider",
            ),
            models.UniqueConstraint(
                fields=["team", "provider"],
                condition=models.Q(team__isnull=False),
                name="one_key_per_team_provider",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(user__isnull=False, team__isnull=True)
                    | models.Q(user__isnull=True, team__isnull=False)
                ),
                name="key_has_one_owner",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.hint}"

    def __repr__(self) -> str:
        return f"<ApiKey {self.pk} {self.provider_id} {self.hint}>"

    def set_secret(self, secret: str) -> None:
        secret = secret.strip()
        self.ciphertext = crypto.encrypt(secret)
        self.hint = crypto.hint(secret)
        self.saved_for_url = self.provider.base_url
        self.last_tested_at = None
        self.last_test_ok = None
        self.last_test_message = ""

    @property
    def owner_label(self) -> str:
        return f"team {self.team}" if self.team_id else str(self.user)

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def needs_reentry(self) -> bool:
        return self.saved_for_url != self.provider.base_url

    @property
    def status(self) -> tuple[str, str]:
        """(css slug, words) for the key's state, the most pressing first."""
        if self.is_revoked:
            return "revoked", "revoked"
        if self.needs_reentry:
            return "reentry", "needs re-entry"
        if not self.provider.enabled:
            return "idle", "provider disabled"
        if self.last_test_ok is False:
            return "failing", "last test failed"
        return "active", "active"

    @property
    def status_slug(self) -> str:
        return self.status[0]

    @property
    def status_label(self) -> str:
        return self.status[1]

    def audit_subject(self) -> tuple[str, str, str]:
        label = f"{self.provider.name} key {self.hint} of {self.owner_label}"
        return "key", str(self.pk), label

    def refusal(self) -> KeyRefused | None:
        """Why this key can send no run at all (revoked, or saved for another address), or None.

        No hint in these messages: a team key's members must not see any part of it.
        """
        name = self.provider.name
        if self.is_revoked:
            return KeyRefused(
                "revoked", f"The {name} key chosen for this run was revoked; it cannot send runs."
            )
        if self.needs_reentry:
            return KeyRefused(
                "moved",
                f"{name}'s address changed since the key chosen for this run was saved; "
                "it has to be entered again.",
            )
        return None

    def reveal(self) -> str:
        """The plaintext, for the outbound request only. Refused if the provider moved."""
        if self.is_revoked:
            raise crypto.KeyDecryptionError("this key was revoked")
        if self.needs_reentry:
            raise crypto.KeyDecryptionError(
                "the provider's address changed since this key was saved; enter the key again"
            )
        return crypto.decrypt(self.ciphertext)

    def test(self) -> bool:
        """Ask the provider's /v1/models with this key and remember the outcome and the list."""
        try:
            found = self.provider.list_models(self)
        except (UpstreamError, crypto.KeyDecryptionError) as exc:
            ok, message = False, str(exc)
        else:
            ok = True
            message = f"OK — {len(found)} model{'s' if len(found) != 1 else ''} available."
            self.provider.remember_models(found)
        self.last_tested_at = timezone.now()
        self.last_test_ok = ok
        self.last_test_message = message
        self.save(update_fields=["last_tested_at", "last_test_ok", "last_test_message"])
        return ok


class KeyRefused(Exception):
    """A run may not be sent with this key, or there is none; nothing was sent.

    `code` says which case it is ("unavailable", "not_yours", "missing", "revoked", "moved"), so
    a form can put the reason next to the right field (and link to the Keys page).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def field(self) -> str:
        return "api_key" if self.code == "not_yours" else "provider"


def choose_key(
    user: User,
    provider: Provider | None,
    key_id: int | None = None,
    *,
    fall_back: bool = False,
) -> ApiKey | None:
    """The key a run of `user` on `provider` is sent with; KeyRefused says why there is none.

    `key_id` is the key the user picked; it must be one of theirs (or their teams') for this
    provider. Without one, their own key comes first, then a team's. With `fall_back` (a re-run
    of an older run), a picked key that is no longer usable gives way to that default.
    None means the provider takes no key.
    """
    if provider is None or not provider.enabled:
        name = provider.name if provider is not None else "This provider"
        raise KeyRefused("unavailable", f"{name} is no longer available.")
    key = None
    if key_id:
        key = provider.keys.owned_by(user).filter(pk=key_id).first()
        if key is None and not fall_back:
            raise KeyRefused("not_yours", f"That key is not one of yours for {provider.name}.")
        if key is not None and fall_back and key.refusal() is not None:
            key = None
    if key is None:
        key = provider.key_for(user)
    if key is None:
        if provider.requires_key:
            raise KeyRefused(
                "missing", f"You have no API key for {provider.name}; add one on Keys."
            )
        return None
    refusal = key.refusal()
    if refusal is not None:
        raise refusal
    return key


def url_for_log(url: str) -> str:
    """A URL fit for the audit log: credentials someone pasted into it are dropped."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
