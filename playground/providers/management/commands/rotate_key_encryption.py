"""Re-encrypt every stored API key under the newest encryption key.

Put a new key first in PLAYGROUND_ENCRYPTION_KEYS (keeping the old ones after it), run this,
then remove the old ones: every key still decrypts.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from playground.audit.models import AuditEvent
from playground.providers import crypto
from playground.providers.models import ApiKey


class Command(BaseCommand):
    help = "Re-encrypt every stored API key under the newest key in PLAYGROUND_ENCRYPTION_KEYS."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Only check that every key can be decrypted; change nothing.",
        )

    def handle(self, *args, dry_run: bool = False, **options) -> None:
        rotated, broken = 0, []
        for key in ApiKey.objects.select_related("provider").order_by("pk").iterator():
            try:
                token = crypto.rotate(key.ciphertext)
            except crypto.KeyDecryptionError:
                # Name the key by id and hint only: never its secret or ciphertext.
                broken.append(f"#{key.pk} {key.provider.name} {key.hint} ({key.owner_label})")
                continue
            if not dry_run:
                # A queryset update leaves updated_at ("secret last set") as it was; matching the
                # old ciphertext skips a key whose secret was replaced meanwhile (it is new).
                ApiKey.objects.filter(pk=key.pk, ciphertext=key.ciphertext).update(ciphertext=token)
            rotated += 1
        verb = "can be re-encrypted" if dry_run else "re-encrypted under the newest key"
        self.stdout.write(f"{rotated} key{'s' if rotated != 1 else ''} {verb}.")
        if not dry_run and rotated:
            AuditEvent.record(
                None,
                AuditEvent.Action.ENCRYPTION_ROTATED,
                None,
                {"keys": rotated, "failed": len(broken)},
            )
        if broken:
            raise CommandError(
                f"{len(broken)} key{'s' if len(broken) != 1 else ''} cannot be decrypted with any "
                f"configured encryption key (was one removed too early?); they were left as they "
                f"are and must be entered again: " + "; ".join(broken)
            )
