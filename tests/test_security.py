from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def clear_cache():
    cache.clear()
    yield
    cache.clear()


def test_it_sends_a_strict_content_security_policy(owner_client):
    policy = owner_client.get(reverse("studio:generate"))["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "unsafe-eval" not in policy and "unsafe-inline" not in policy
    assert "http" not in policy  # no third-party origin anywhere


def test_it_serves_no_inline_script_or_handler(owner_client, owner_key):
    for url in (reverse("studio:generate"), reverse("providers:keys"), reverse("gallery:index")):
        html = owner_client.get(url).content.decode()
        assert " onsubmit=" not in html and " onclick=" not in html
        for chunk in html.split("<script")[1:]:
            head = chunk.split(">", 1)[0]
            assert "src=" in head or 'type="application/json"' in head, head


def test_it_requires_csrf_on_posts_including_htmx(owner, owner_key):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    data = {"provider": owner_key.provider_id, "model": "gpt-image-1", "prompt": "x", "n": 1}
    assert client.post(reverse("studio:generate"), data, HTTP_HX_REQUEST="true").status_code == 403
    client.get(reverse("studio:generate"))
    token = client.cookies["csrftoken"].value
    response = client.post(
        reverse("studio:generate"), data, HTTP_HX_REQUEST="true", HTTP_X_CSRFTOKEN=token
    )
    assert response.status_code == 200


def test_it_limits_failed_logins(client, owner, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    for _ in range(3):
        response = client.post(reverse("login"), {"username": "alice", "password": "wrong"})
        assert response.status_code == 200
    response = client.post(reverse("login"), {"username": "alice", "password": "alice-pass-123"})
    assert response.status_code == 429
    assert "Too many failed attempts" in response.content.decode()
    cache.clear()
    response = client.post(reverse("login"), {"username": "alice", "password": "alice-pass-123"})
    assert response.status_code == 302


def test_it_guards_the_admin_login_too(client, staff, settings):
    settings.LOGIN_FAILURE_LIMIT = 1
    client.post("/admin/login/", {"username": "stella", "password": "nope"})
    response = client.post("/admin/login/", {"username": "stella", "password": "stella-pass-123"})
    assert response.status_code == 429


def test_it_passes_the_deploy_check_with_production_settings(tmp_path):
    env = {
        **os.environ,
        "PLAYGROUND_DEBUG": "false",
        "PLAYGROUND_SECRET_KEY": secrets.token_urlsafe(50),
        "PLAYGROUND_ALLOWED_HOSTS": "images.example.com",
        "PLAYGROUND_DATA_DIR": str(tmp_path),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # the browser tests' setting, not production's
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_it_refuses_a_request_with_too_many_files(owner_client, owner_key):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.conftest import png_bytes

    files = [SimpleUploadedFile(f"r{i}.png", png_bytes(), "image/png") for i in range(21)]
    response = owner_client.post(
        reverse("studio:edit"),
        {
            "provider": owner_key.provider_id,
            "model": "gpt-image-1",
            "prompt": "x",
            "uploads": files,
        },
    )
    assert response.status_code == 400
