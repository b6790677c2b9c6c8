"""Encryption of stored API keys with a dedicated, rotatable key set (not SECRET_KEY)."""

from __future__ import annotations

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class KeyDecryptionError(Exception):
    """The stored ciphertext cannot be decrypted with any configured encryption key."""


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.ENCRYPTION_KEYS))


def encrypt(secret: str) -> str:
    return fernet().encrypt(secret.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise KeyDecryptionError("stored key cannot be decrypted with the configured keys") from exc


def rotate(token: str) -> str:
    """Re-encrypt under the newest key (MultiFernet.rotate keeps the original timestamp)."""
    try:
        return fernet().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise KeyDecryptionError("stored key cannot be decrypted with the configured keys") from exc


def hint(secret: str) -> str:
    """What the UI may show of a key: its family prefix and last four characters."""
    secret = secret.strip()
    if len(secret) <= 8:
        return "…" + secret[-2:] if len(secret) > 2 else "…"
    prefix = secret[:3] if secret.startswith("sk-") else secret[:2]
    return f"{prefix}…{secret[-4:]}"
