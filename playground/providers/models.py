from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from playground.providers import crypto
from playground.upstream.requests import Dialect, normalize_base_url

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

    def save(self, *args, actor=None, **kwargs) -> None:
        """Save; a changed base URL is written to the audit log (with `actor`, if known)."""
        self.base_url = normalize_base_url(self.base_url)
        update_fields = kwargs.get("update_fields")
        previous = None
        if self.pk and (update_fields is None or "base_url" in update_fields):
            stored = Provider.objects.filter(pk=self.pk).values_list("base_url", flat=True)
            previous = stored.first()
        super().save(*args, **kwargs)
        if previous is not None and previous != self.base_url:
            self._record_move(previous, actor)

    def _record_move(self, previous: str, actor) -> None:
        # Keys saved for the old address are refused from now on (ApiKey.needs_reentry).
        from playground.console.models import AuditEvent

        stale = self.keys.exclude(saved_for_url=self.base_url).filter(revoked_at__isnull=True)
        AuditEvent.record(
            actor,
            AuditEvent.Action.PROVIDER_URL_CHANGED,
            self,
            {"from": _without_userinfo(previous), "to": _without_userinfo(self.base_url),
             "keys_needing_reentry": stale.count()},
        )  # fmt: skip

    def list_models(self, key: ApiKey | None) -> list[str]:
        """The gateway's /v1/models, asked with `key` (None for keyless gateways)."""
        from playground.upstream.client import UpstreamClient

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

    def key_for(self, user) -> ApiKey | None:
        """The default key for a user's runs here: their own, else one of their teams'."""
        keys = sorted(self.keys.usable_by(user), key=lambda k: (k.team_id is not None, k.pk))
        return keys[0] if keys else None


class ApiKeyQuerySet(models.QuerySet):
    def usable_by(self, user) -> ApiKeyQuerySet:
        """Keys a user may send requests with: their own and their teams' shared ones."""
        from playground.accounts.models import team_ids

        return self.filter(
            models.Q(user=user) | models.Q(team__in=team_ids(user)), revoked_at__isnull=True
        )


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
        from playground.upstream.errors import UpstreamError

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


def _without_userinfo(url: str) -> str:
    """A URL fit for the audit log: credentials someone pasted into it are dropped."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
