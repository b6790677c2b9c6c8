"""Media in an S3 bucket (moto's S3 server over real HTTP): private objects, permission-checked
redirects to short-lived signed URLs, and the whole flow from a served process."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from playground.jobs.models import Image, Run
from playground.jobs.runner import execute_run
from tests.conftest import wait_for
from tests.scaleout_support import (
    ROOT,
    S3_KEY_ID,
    S3_SECRET,
    S3Server,
    free_port,
    manage,
    own_database_env,
    sigv4_signature_is_valid,
)

pytestmark = pytest.mark.storage

URL_SECONDS = 45


@pytest.fixture(scope="module")
def s3():
    with S3Server() as server:
        yield server


@pytest.fixture
def bucket(s3, settings, monkeypatch):
    """Media of this test goes to a fresh bucket, configured through the real env variables."""
    from playground import settings as playground_settings

    name = s3.new_bucket()
    for variable, value in s3.env(name, prefix="media").items():
        monkeypatch.setenv(variable, value)
    monkeypatch.setenv("PLAYGROUND_MEDIA_URL_SECONDS", str(URL_SECONDS))
    options = playground_settings.s3_storage_options()
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options},
    }
    settings.MEDIA_URL_SECONDS = URL_SECONDS
    return name


def generate(key, prompt: str = "a lighthouse in fog", n: int = 1) -> Run:
    """A real run against the fake gateway, stored through the configured storage."""
    run = Run.objects.create(
        owner=key.user,
        provider=key.provider,
        provider_name=key.provider.name,
        api_key=key,
        model="gpt-image-1",
        prompt=prompt,
        params={"n": n, "size": "1024x1024"},
    )
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED, run.error_message
    return run


def test_it_stores_images_and_thumbnails_in_the_bucket_only(s3, bucket, owner_key, media_root):
    run = generate(owner_key, n=2)
    keys = s3.keys(bucket)
    assert len(keys) == 4  # two images, two thumbnails
    assert all(key.startswith(f"media/images/{run.created_at:%Y/%m}/{run.pk}/") for key in keys)
    assert not os.path.exists(media_root)  # nothing went to the local disk
    image = run.images.get(index=0)
    stored = s3.client().get_object(Bucket=bucket, Key=f"media/{image.file.name}")
    assert hashlib.sha256(stored["Body"].read()).hexdigest() == image.sha256
    assert stored["ContentType"] == "image/png"
    # The bucket is private: without a signature nobody reads an object.
    assert httpx.get(f"{s3.endpoint}/{bucket}/media/{image.file.name}").status_code == 403


def test_it_redirects_the_owner_to_a_short_lived_signed_url(s3, bucket, owner_key, owner_client):
    image = generate(owner_key).images.get()
    response = owner_client.get(f"/images/{image.pk}/")
    assert response.status_code == 302
    url = response["Location"]
    assert url.startswith(f"{s3.endpoint}/{bucket}/media/images/")
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Expires"] == [str(URL_SECONDS)]
    assert query["response-content-type"] == ["image/png"]
    assert sigv4_signature_is_valid(url, S3_KEY_ID, S3_SECRET)
    assert not sigv4_signature_is_valid(url, S3_KEY_ID, "another-secret")
    # The redirect is reused by the browser for at most half the URL's life.
    assert response["Cache-Control"] == f"private, max-age={URL_SECONDS // 2}"
    assert response["Referrer-Policy"] == "no-referrer"

    fetched = httpx.get(url)
    assert fetched.status_code == 200
    assert hashlib.sha256(fetched.content).hexdigest() == image.sha256
    assert fetched.headers["content-type"] == "image/png"


def test_it_signs_thumbnails_and_downloads_too(s3, bucket, owner_key, owner_client):
    image = generate(owner_key).images.get()
    thumb = httpx.get(owner_client.get(f"/images/{image.pk}/thumb")["Location"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/webp"
    assert thumb.content.startswith(b"RIFF") and b"WEBP" in thumb.content[:16]

    download = owner_client.get(f"/images/{image.pk}/?download=1")
    fetched = httpx.get(download["Location"])
    assert fetched.status_code == 200
    assert fetched.headers["content-disposition"] == (
        f'attachment; filename="{image.download_name}"'
    )


def test_it_hands_no_url_to_outsiders_or_anonymous_visitors(
    s3, bucket, owner_key, outsider, client
):
    image = generate(owner_key).images.get()
    anonymous = client.get(f"/images/{image.pk}/")
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")
    client.force_login(outsider)
    for path in (f"/images/{image.pk}/", f"/images/{image.pk}/thumb"):
        response = client.get(path)
        assert response.status_code == 404
        assert s3.endpoint not in response.content.decode()


def test_it_deletes_objects_from_the_bucket(s3, bucket, owner_key):
    run = generate(owner_key)
    for image in Image.objects.filter(run=run):
        image.delete_files()
    assert s3.keys(bucket) == []


def settings_error(**env: str) -> str:
    """What importing the settings says with this environment (empty when it succeeds)."""
    done = subprocess.run(
        [sys.executable, "-c", "import playground.settings"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.stderr


def test_it_explains_a_storage_setting_it_cannot_use(tmp_path):
    data = str(tmp_path)
    assert "needs PLAYGROUND_S3_BUCKET" in settings_error(
        PLAYGROUND_STORAGE="s3", PLAYGROUND_S3_BUCKET="", PLAYGROUND_DATA_DIR=data
    )
    assert "use 'filesystem' or 's3'" in settings_error(
        PLAYGROUND_STORAGE="ftp", PLAYGROUND_DATA_DIR=data
    )
    assert settings_error(PLAYGROUND_STORAGE="filesystem", PLAYGROUND_DATA_DIR=data) == ""


def test_it_serves_the_whole_flow_from_a_bucket(s3, tmp_path):
    """`manage.py serve` with PLAYGROUND_STORAGE=s3: a Demo run's images land in the bucket and
    the browser is sent there, signed, after the permission check."""
    bucket = s3.new_bucket()
    port = free_port()
    env = {
        **os.environ,
        **s3.env(bucket),
        **own_database_env("storage"),
        "PLAYGROUND_DATA_DIR": str(tmp_path),
        "PLAYGROUND_ADMIN_USERNAME": "admin",
        "PLAYGROUND_ADMIN_PASSWORD": "admin-pass-123",
        "PLAYGROUND_DEMO_LATENCY": "0",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    manage(env, "migrate", "--noinput")
    manage(env, "ensure_admin")
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(base + "/login/"), timeout=30)
        client = httpx.Client(base_url=base, timeout=10)
        client.get("/login/")
        client.post(
            "/login/",
            data={
                "username": "admin",
                "password": "admin-pass-123",
                "csrfmiddlewaretoken": client.cookies["csrftoken"],
            },
        )
        page = client.get("/")
        assert f"img-src 'self' {s3.endpoint}" in page.headers["content-security-policy"]
        demo = re.search(r'<option value="(\d+)"[^>]*>Demo</option>', page.text).group(1)
        submitted = client.post(
            "/",
            data={
                "csrfmiddlewaretoken": client.cookies["csrftoken"],
                "provider": demo,
                "model": "gpt-image-1",
                "prompt": "a kite over dunes",
                "n": "1",
            },
        )
        assert submitted.status_code == 302, submitted.text[:1000]
        run_id = submitted.headers["location"].strip("/").split("/")[-1]
        card = wait_for(lambda: _finished_card(client, run_id), timeout=30)
        assert 'data-status="succeeded"' in card
        image_path = re.search(r'src="(/images/[0-9a-f-]+)/thumb"', card).group(1) + "/"
        redirect = client.get(image_path)
        assert redirect.status_code == 302
        assert redirect.headers["location"].startswith(f"{s3.endpoint}/{bucket}/images/")
        fetched = httpx.get(redirect.headers["location"])
        assert fetched.status_code == 200 and fetched.headers["content-type"] == "image/png"
        assert len(s3.keys(bucket)) == 2  # the image and its thumbnail
        assert not (tmp_path / "media").exists()
    finally:
        server.terminate()
        server.wait(timeout=15)
        log.close()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _finished_card(client: httpx.Client, run_id: str) -> str | None:
    card = client.get(f"/runs/{run_id}/card")
    return card.text if card.status_code == 286 else None
