"""The real thing: `manage.py serve` in a subprocess, driven over HTTP like a browser would."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import wait_for
from tests.scaleout_support import own_database_env

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "PLAYGROUND_DATA_DIR": str(data_dir),
            "PLAYGROUND_ADMIN_USERNAME": "admin",
            "PLAYGROUND_ADMIN_PASSWORD": "admin-pass-123",
            "PLAYGROUND_RUN_HEARTBEAT_SECONDS": "1",
            "PLAYGROUND_RUN_STALE_SECONDS": "3",
            # On PostgreSQL, a database of its own (the test database is the test process's).
            **own_database_env("server"),
        }
        self.env.pop("DJANGO_SETTINGS_MODULE", None)
        self.env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        self.log = data_dir / "server.log"
        self.process: subprocess.Popen | None = None

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        return done.stdout

    def start(self) -> None:
        self.manage("migrate", "--noinput")
        self.manage("ensure_admin")
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=ROOT,
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        wait_for(self._answers, timeout=30)

    def _answers(self) -> bool:
        try:
            return httpx.get(self.url + "/login/", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self, sig: int = 15) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def login(base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=10, follow_redirects=False)
    client.get("/login/")
    token = client.cookies["csrftoken"]
    response = client.post(
        "/login/",
        data={"username": "admin", "password": "admin-pass-123", "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302, response.text
    return client


def submit(client: httpx.Client, prompt: str, **extra) -> str:
    page = client.get("/").text
    demo = re.search(r'<option value="(\d+)"[^>]*>Demo</option>', page)
    assert demo, "the Demo provider is offered on a fresh install"
    data = {
        "csrfmiddlewaretoken": client.cookies["csrftoken"],
        "provider": demo.group(1),
        "model": "gpt-image-1",
        "prompt": prompt,
        "n": "2",
        **extra,
    }
    response = client.post("/", data=data)
    assert response.status_code == 302, response.text[:2000]
    return response.headers["location"]


@pytest.fixture
def server(tmp_path):
    server = Server(tmp_path)
    server.start()
    yield server
    server.stop()


def test_it_serves_the_demo_flow_end_to_end(server):
    client = login(server.url)
    run_url = submit(client, "a paper boat on a pond")
    run_id = run_url.strip("/").split("/")[-1]

    def finished():
        card = client.get(f"/runs/{run_id}/card")
        return card if card.status_code == 286 else None

    card = wait_for(finished, timeout=30)
    assert 'data-status="succeeded"' in card.text, card.text
    thumbs = re.findall(r'src="(/images/[0-9a-f-]+/thumb)"', card.text)
    assert len(thumbs) == 2
    image = client.get(thumbs[0].removesuffix("/thumb") + "/")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert run_id in client.get("/gallery/").text
    # Media is never public: without a session the image is not served.
    anonymous = httpx.get(server.url + thumbs[0], timeout=5)
    assert anonymous.status_code == 302


def test_it_answers_pages_while_a_slow_upstream_call_runs(server):
    client = login(server.url)
    run_url = submit(client, "[fake:latency=30] a very slow painting")
    run_id = run_url.strip("/").split("/")[-1]
    wait_for(lambda: 'data-status="running"' in client.get(f"/runs/{run_id}/card").text)
    timings = []
    for path in ["/", "/gallery/", "/keys/", run_url, f"/runs/{run_id}/card"] * 3:
        started = time.perf_counter()
        response = client.get(path)
        timings.append(time.perf_counter() - started)
        assert response.status_code in (200, 286)
    assert max(timings) < 1.0, timings
    assert 'data-status="running"' in client.get(f"/runs/{run_id}/card").text
    # Not SIGTERM: its graceful shutdown would wait 5 s for the call in flight, to no purpose here.
    server.stop(signal.SIGKILL)


def add_provider(server: Server, base_url: str) -> str:
    """Create a keyless local provider in the server's database; returns its id."""
    code = (
        "from playground.providers.models import Provider;"
        f"p = Provider.objects.create(name='Fake', base_url='{base_url}', requires_key=False,"
        " is_local=True); print(p.pk)"
    )
    return server.manage("shell", "-c", code).strip().splitlines()[-1]


def post_run(client: httpx.Client, provider_id: str, prompt: str) -> str:
    data = {
        "csrfmiddlewaretoken": client.cookies["csrftoken"],
        "provider": provider_id,
        "model": "gpt-image-1",
        "prompt": prompt,
        "n": "1",
    }
    response = client.post("/", data=data)
    assert response.status_code == 302, response.text[:2000]
    return response.headers["location"].strip("/").split("/")[-1]


def card_status(client: httpx.Client, run_id: str) -> str:
    text = client.get(f"/runs/{run_id}/card").text
    return re.search(r'data-status="(\w+)"', text).group(1)


def test_it_interrupts_a_run_whose_server_was_killed_and_never_resends_it(tmp_path, fake):
    server = Server(tmp_path)
    server.start()
    try:
        provider_id = add_provider(server, fake.base_url("openai"))
        client = login(server.url)
        client.get("/")
        run_id = post_run(client, provider_id, "[fake:latency=30] killed mid-flight")
        wait_for(lambda: card_status(client, run_id) == "running")
        wait_for(lambda: len([r for r in fake.app.requests if r["endpoint"] == "generations"]))
        server.process.kill()  # SIGKILL: no chance to clean up
        server.process.wait()

        # A queued run left behind (never sent) is resumed by the next process.
        code = (
            "from playground.jobs.models import Run; from django.contrib.auth.models import User;"
            "from playground.providers.models import Provider;"
            "p = Provider.objects.get(name='Fake');"
            "r = Run.objects.create(owner=User.objects.get(username='admin'), provider=p,"
            " provider_name='Fake', model='gpt-image-1', prompt='left in the queue',"
            " params={'model': 'gpt-image-1', 'prompt': 'left in the queue', 'n': 1});"
            "print(r.pk)"
        )
        queued_id = server.manage("shell", "-c", code).strip().splitlines()[-1]

        started = time.monotonic()
        server.start()
        client = login(server.url)
        wait_for(lambda: card_status(client, run_id) == "interrupted", timeout=30)
        assert time.monotonic() - started < 30
        card = client.get(f"/runs/{run_id}/card").text
        assert "not sent again" in card
        wait_for(lambda: card_status(client, queued_id) == "succeeded", timeout=30)
        # Stopped gracefully (runs in flight are drained first), the process has sent all it
        # ever will: no need to wait and see whether a second copy turns up.
        server.stop()
        prompts = [r["prompt"] for r in fake.app.requests if r["endpoint"] == "generations"]
        assert prompts.count("killed mid-flight") == 1
        assert prompts.count("left in the queue") == 1
    finally:
        server.stop()


def test_it_stays_responsive_with_50_runs_against_a_20s_upstream(tmp_path, fake):
    server = Server(tmp_path)
    server.start()
    try:
        provider_id = add_provider(server, fake.base_url("openai"))
        client = login(server.url)
        client.get("/")
        run_ids = [post_run(client, provider_id, f"[fake:latency=20] crowd {i}") for i in range(50)]
        timings = []
        deadline = time.monotonic() + 12
        while time.monotonic() < deadline:
            for path in ("/", "/gallery/", f"/runs/{run_ids[0]}/card"):
                started = time.perf_counter()
                assert client.get(path).status_code in (200, 286)
                timings.append(time.perf_counter() - started)
        assert max(timings) < 2.0, max(timings)

        def all_succeeded():
            return all(card_status(client, run_id) == "succeeded" for run_id in run_ids)

        wait_for(all_succeeded, timeout=60, interval=1)
        log = server.log.read_text()
        assert "database is locked" not in log
        assert "Traceback" not in log
    finally:
        server.stop()
