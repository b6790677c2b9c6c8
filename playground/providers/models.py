from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from playground.providers import crypto
from playground.upstream.requests import Dialect, normalize_base_url


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

    def save(self, *args, **kwargs) -> None:
        self.base_url = normalize_base_url(self.base_url)
        super().save(*args, **kwargs)

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
