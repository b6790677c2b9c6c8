"""A worker fleet: one web process and two `db_worker` processes on PostgreSQL, with django-tasks-db
as the queue and the media in an S3 bucket. Each process has its own data directory, as it would on
its own machine: they share only the database, the bucket and the secrets given in the environment.

Needs the PostgreSQL server at 127.0.0.1:5432 (or PLAYGROUND_TEST_POSTGRES_URL) in both CI runs.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from tests.conftest import CANARY_KEY, wait_for
from tests.scaleout_support import (
    ROOT,
    S3Server,
    connect,
    create_database,
    drop_database,
    free_port,
    manage,
)

pytestmark = pytest.mark.fleet

RUNS = 20
LATENCY = 1.0


class Fleet:
    def __init__(self, base: Path, database_url: str, s3: S3Server, fake_url: str) -> None:
        self.base = base
        self.bucket = s3.new_bucket()
        self.common = {
            **os.environ,
            **s3.env(self.bucket),
            "DATABASE_URL": database_url,
            "PLAYGROUND_TASKS_BACKEND": "django_tasks_db.DatabaseBackend",
            # Every machine of a fleet is given the same secrets.
            "PLAYGROUND_SECRET_KEY": Fernet.generate_key().decode(),
            "PLAYGROUND_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "PLAYGROUND_ADMIN_USERNAME": "admin",
            "PLAYGROUND_ADMIN_PASSWORD": "admin-pass-123",
            "PLAYGROUND_RUN_HEARTBEAT_SECONDS": "1",
            "PLAYGROUND_RUN_STALE_SECONDS": "3",
        }
        self.common.pop("DJANGO_SETTINGS_MODULE", None)
        self.fake_url = fake_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.processes: dict[str, subprocess.Popen] = {}

    def env(self, machine: str) -> dict[str, str]:
        data_dir = self.base / machine
        data_dir.mkdir(exist_ok=True)
        return {**self.common, "PLAYGROUND_DATA_DIR": str(data_dir)}

    def setup(self) -> str:
        """Migrate, create the admin, a provider and its admin's key; returns the provider id."""
        env = self.env("web")
        manage(env, "migrate", "--noinput")
        manage(env, "ensure_admin")
        code = (
            "from django.contrib.auth.models import User;"
            "from playground.providers.models import ApiKey, Provider;"
            f"p = Provider.objects.create(name='Fleet gateway', base_url='{self.fake_url}',"
            " is_local=True, timeout=60);"
            "k = ApiKey(user=User.objects.get(username='admin'), provider=p, label='fleet');"
            f"k.set_secret('{CANARY_KEY}'); k.save(); print(p.pk)"
        )
        return manage(env, "shell", "-c", code).strip().splitlines()[-1]

    def start(self, name: str, *args: str) -> subprocess.Popen:
        log = (self.base / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env(name),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.processes[name] = process
        return process

    def start_web(self) -> None:
        self.start("web", "serve", "--host", "127.0.0.1", "--port", str(self.port))
        wait_for(self._answers, timeout=30)

    def start_worker(self, name: str) -> subprocess.Popen:
        return self.start(
            name, "db_worker", "--no-reload", "--interval", "0.2", "--worker-id", name
        )

    def _answers(self) -> bool:
        try:
            return httpx.get(self.url + "/login/", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def query(self, code: str) -> str:
        """Run Python in a management shell on this fleet's database; returns the last line."""
        return manage(self.env("web"), "shell", "-c", code).strip().splitlines()[-1]

    def sql(self, query: str) -> list[tuple]:
        """Read the fleet's database directly (quicker than a management shell per look)."""
        with connect(self.common["DATABASE_URL"]) as conn:
            return conn.execute(query).fetchall()

    def log(self, name: str) -> str:
        return (self.base / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="module")
def s3():
    with S3Server() as server:
        yield server


@pytest.fixture
def fleet(tmp_path, s3, fake):
    database_url = create_database("fleet")
    fleet = Fleet(tmp_path, database_url, s3, fake.base_url("openai"))
    fleet.app = fake.app
    fake.app.config.required_key = CANARY_KEY  # the workers must decrypt the key to be answered
    try:
        yield fleet
    finally:
        fleet.stop()
        drop_database(database_url)


def login(base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=10)
    client.get("/login/")
    data = {
        "username": "admin",
        "password": "admin-pass-123",
        "csrfmiddlewaretoken": client.cookies["csrftoken"],
    }
    assert client.post("/login/", data=data).status_code == 302
    return client


def submit(client: httpx.Client, provider_id: str, prompt: str) -> str:
    data = {
        "csrfmiddlewaretoken": client.cookies["csrftoken"],
        "provider": provider_id,
        "model": "gpt-image-1",
        "prompt": prompt,
        "n": "1",
    }
    response = client.post("/", data=data)
    assert response.status_code == 302, response.text[:3000]
    return response.headers["location"].strip("/").split("/")[-1]


def statuses(fleet: Fleet) -> dict[str, int]:
    return dict(fleet.sql("SELECT status, count(*) FROM jobs_run GROUP BY status"))


def generations(fake_app) -> list[str]:
    return [r["prompt"] for r in fake_app.requests if r["endpoint"] == "generations"]


def test_it_runs_20_runs_on_two_workers_each_exactly_once(fleet):
    provider_id = fleet.setup()
    fleet.start_web()
    client = login(fleet.url)
    prompts = [f"[fake:latency={LATENCY}] fleet run {i}" for i in range(RUNS)]
    run_ids = [submit(client, provider_id, prompt) for prompt in prompts]

    # The queue delivers at least once: deliver every run a second time, as a redelivery would.
    fleet.query(
        "from playground.jobs.models import Run; from playground.jobs.tasks import perform_run;"
        "[perform_run.enqueue(str(pk)) for pk in Run.objects.values_list('pk', flat=True)];"
        "print('ok')"
    )
    # With the database queue the web process executes nothing: every delivery waits in the queue
    # for a worker. (The management shell above took a second or more to start: time enough for
    # the web process to have claimed the runs it was sent, were it executing them.)
    tasks = "SELECT status, count(*) FROM django_tasks_database_dbtaskresult GROUP BY status"
    assert fleet.sql(tasks) == [("READY", RUNS * 2)]
    assert statuses(fleet) == {"queued": RUNS}
    assert generations(fleet.app) == []

    workers = [fleet.start_worker("worker-1"), fleet.start_worker("worker-2")]
    wait_for(lambda: statuses(fleet) == {"succeeded": RUNS}, timeout=90, interval=1)
    wait_for(lambda: fleet.sql(tasks) == [("SUCCESSFUL", RUNS * 2)], timeout=30)

    # One request per run reached the upstream, though every run was delivered twice.
    sent = generations(fleet.app)
    assert sorted(sent) == sorted(p.split("] ", 1)[1] for p in prompts), sent
    # Both workers did some of the work, and the web process none of it.
    # (Run.worker is "host:pid:random".)
    rows = fleet.sql("SELECT worker FROM jobs_run")
    done_by = Counter(worker.split(":")[1] for (worker,) in rows)
    assert set(done_by) == {str(worker.pid) for worker in workers}, done_by
    assert sum(done_by.values()) == RUNS

    # Images were stored by the workers in the bucket and are served through the web process.
    run_id = run_ids[0]
    card = client.get(f"/runs/{run_id}/card").text
    image = re.search(r'src="(/images/[0-9a-f-]+)/thumb"', card).group(1)
    redirect = client.get(image + "/")
    assert redirect.status_code == 302
    assert httpx.get(redirect.headers["location"]).headers["content-type"] == "image/png"
    for name in ("web", "worker-1", "worker-2"):
        assert "Traceback" not in fleet.log(name), fleet.log(name)
        assert not list((fleet.base / name).glob("media/**/*.png"))


def test_it_interrupts_a_run_whose_worker_died_and_never_resends_it(fleet):
    provider_id = fleet.setup()
    fleet.start_web()
    worker = fleet.start_worker("worker-1")
    client = login(fleet.url)
    run_id = submit(client, provider_id, "[fake:latency=60] lost with its worker")
    wait_for(lambda: generations(fleet.app), timeout=30)
    worker.kill()  # SIGKILL: the machine is gone
    worker.wait()

    # No process beats for the run any more: the web process's sweeper ends it as interrupted.
    started = time.monotonic()
    wait_for(lambda: statuses(fleet) == {"interrupted": 1}, timeout=30, interval=0.5)
    assert time.monotonic() - started < 15
    card = client.get(f"/runs/{run_id}/card").text
    assert 'data-status="interrupted"' in card and "not sent again" in card

    # A new worker picks up new work, and the lost run is not sent a second time.
    fleet.start_worker("worker-2")
    second = submit(client, provider_id, "[fake:latency=0.2] after the loss")
    wait_for(lambda: statuses(fleet) == {"interrupted": 1, "succeeded": 1}, timeout=30)
    assert generations(fleet.app) == ["lost with its worker", "after the loss"]
    assert second != run_id
