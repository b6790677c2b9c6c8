from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Make sure an admin account exists (PLAYGROUND_ADMIN_USERNAME / _PASSWORD)."

    def handle(self, *args, **options) -> None:
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            return
        username = settings.ADMIN_USERNAME or "admin"
        password = settings.ADMIN_PASSWORD
        generated = not password
        if generated:
            password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        if generated:
            # Shown once: only the hash is stored.
            self.stdout.write(
                self.style.WARNING(
                    f"Created admin account '{username}' with password: {password}\n"
                    "This password is shown only now; change it after logging in."
                )
            )
        else:
            self.stdout.write(f"Created admin account '{username}'.")
