from __future__ import annotations

import io
import shutil
import time
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from PIL import Image as PILImage

# A fake key (split so secret scanners do not take it for a real one).
CANARY_KEY = "sk-" + "canary-4f1d2c9e8b7a6d5c4b3a2f1e0d9c8b7a6"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.RUN_HEARTBEAT_SECONDS = 1
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """PBKDF2's 1,000,000 rounds cost a quarter of a second per user created or login: most of
    the suite's time. No test is about the hash's strength (served processes keep the real one)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def retry_waits(monkeypatch) -> list[float]:
    """The waits upstream clients asked for between retries, instead of waiting them out.

    Replaces the module default, so it also covers clients built by the runner; a test asserts
    on it by asking for this fixture by name."""
    from playground.upstream import client

    waits: list[float] = []
    monkeypatch.setattr(client, "retry_sleep", waits.append)
    return waits


@pytest.fixture
def owner(db):
    return get_user_model().objects.create_user("alice", password="alice-pass-123")


@pytest.fixture
def outsider(db):
    return get_user_model().objects.create_user("mallory", password="mallory-pass-123")


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user(
        "stella", password="stella-pass-123", is_staff=True, is_superuser=True
    )


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture(scope="session")
def fake_server():
    from fakegateway.server import FakeGatewayServer

    with FakeGatewayServer() as server:
        yield server


@pytest.fixture
def fake(fake_server):
    fake_server.app.reset()
    yield fake_server
    fake_server.app.reset()


@pytest.fixture
def provider(db, fake):
    from playground.providers.models import Provider

    return Provider.objects.create(
        name="Fake OpenAI", base_url=fake.base_url("openai"), is_local=True, timeout=30
    )


@pytest.fixture
def owner_key(owner, provider):
    from playground.providers.models import ApiKey

    key = ApiKey(user=owner, provider=provider, label="test")
    key.set_secret(CANARY_KEY)
    key.save()
    return key


def png_bytes(size=(64, 48), color=(200, 40, 40), fmt="PNG") -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", size, color).save(out, fmt)
    return out.getvalue()


def wait_for(predicate, timeout: float = 15.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


@pytest.fixture(scope="session", autouse=True)
def heartbeat_stops_before_the_test_database_goes(django_db_setup):
    """Tests that perform runs start the heartbeat thread; its open connection would keep
    PostgreSQL from dropping the test database at the end of the session."""
    yield
    from playground.jobs.heartbeat import heartbeat

    heartbeat.stop(timeout=10)


@pytest.fixture(autouse=True)
def runs_settle():
    """Let background runs of a test finish before its database is torn down."""
    yield
    from django_tasks import task_backends

    backend = task_backends["default"]
    if hasattr(backend, "wait_idle"):
        backend.wait_idle(timeout=30)


CHROMIUM = next(
    (p for p in ("/usr/lib/chromium/chromium", "/usr/bin/chromium") if Path(p).exists()),
    shutil.which("chromium"),
)


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright (no browser download), one per test module."""
    if CHROMIUM is None:
        pytest.fail("Debian's chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls in browser tests are
    # plain setup, not async code. Only while the module runs: the variable must not leak further.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as pw:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()
