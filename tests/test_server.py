"""The real thing: `manage.py serve` in a subprocess, driven over HTTP like a browser would."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import wait_for

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
        }
        self.env.pop("DJANGO_SETTINGS_MODULE", None)
        self.log = data_dir / "server.log"
        self.process: subprocess.Popen | None = None

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env,
            capture_output=True, text=True, check=True, timeout=120,
        )  # fmt: skip
        return done.stdout

    def start(self) -> None:
        self.manage("migrate", "--noinput")
        self.manage("ensure_admin")
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=ROOT, env=self.env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
        )  # fmt: skip
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
        "provider": demo.group(1), "model": "gpt-image-1", "prompt": prompt, "n": "2", **extra,
    }  # fmt: skip
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
