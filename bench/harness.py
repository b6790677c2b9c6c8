"""What the benchmarks run against: the fake gateway and the playground as real processes.

The fake gateway (`manage.py fakegateway`) and the playground (`manage.py serve`, production
settings, SQLite and the embedded executor: the defaults) each run in their own process with their
own temporary data directory, and are driven over HTTP like a browser and an upstream would be.
"""

from __future__ import annotations

import json
import os
import platform
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
ADMIN = ("bench", "bench-pass-123456")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout: float, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what} not met within {timeout} s")


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code < 500
    except httpx.HTTPError:
        return False


class Process:
    """A `manage.py` subprocess with its own data directory and log file."""

    def __init__(self, name: str, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "PLAYGROUND_DATA_DIR": str(data_dir), **(env or {})}
        for inherited in ("DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE", "DATABASE_URL"):
            self.env.pop(inherited, None)
        self.log_path = data_dir / f"{name}.log"
        self.popen: subprocess.Popen | None = None

    def manage(self, *args: str, timeout: float = 600) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode:
            raise RuntimeError(f"manage.py {args[0]} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def python(self, script: str, *args: str, timeout: float = 1200) -> str:
        done = subprocess.run(
            [sys.executable, str(ROOT / "bench" / script), *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode:
            raise RuntimeError(f"{script} {args} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def spawn(self, *args: str) -> None:
        self.popen = subprocess.Popen(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            stdout=self.log_path.open("ab"),
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def stop(self) -> None:
        if self.popen and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


class FakeGateway(Process):
    def __init__(self, data_dir: Path) -> None:
        super().__init__("fakegateway", data_dir, {"PLAYGROUND_LOG_LEVEL": "WARNING"})
        self.port = free_port()
        self.root = f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeGateway:
        self.spawn("fakegateway", "--host", "127.0.0.1", "--port", str(self.port))
        wait_until(lambda: _answers(self.root + "/v1/models"), 60, 0.2, "the fake gateway")
        return self

    def base_url(self, dialect: str = "openai") -> str:
        return f"{self.root}/v1" if dialect == "openai" else f"{self.root}/{dialect}/v1"


class Playground(Process):
    """`manage.py serve` as deployed: DEBUG off, compressed static files, SQLite, embedded runs.

    TLS redirects and secure cookies are off only because the benchmark speaks plain HTTP to
    127.0.0.1 (in production a proxy terminates TLS in front of it).
    """

    def __init__(self, data_dir: Path) -> None:
        super().__init__(
            "playground",
            data_dir,
            {
                "PLAYGROUND_DEBUG": "false",
                "PLAYGROUND_SSL_REDIRECT": "false",
                "PLAYGROUND_SECURE_COOKIES": "false",
                "PLAYGROUND_HSTS_SECONDS": "0",
                "PLAYGROUND_ADMIN_USERNAME": ADMIN[0],
                "PLAYGROUND_ADMIN_PASSWORD": ADMIN[1],
                # Counting failed logins would only slow the many logins of the benchmark.
                "PLAYGROUND_LOGIN_FAILURE_LIMIT": "1000",
            },
        )
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db_path = data_dir / "playground.sqlite3"
        self._sessions: dict[str, dict[str, str]] = {}

    def prepare(self, fake: FakeGateway) -> dict:
        self.manage("migrate", "--noinput")
        self.manage("collectstatic", "--noinput")
        self.manage("ensure_admin")
        out = self.python(
            "django_side.py", "setup", fake.base_url("openai"), fake.base_url("routmy")
        )
        return json.loads(out.strip().splitlines()[-1])

    def start(self) -> Playground:
        self.spawn("serve", "--host", "127.0.0.1", "--port", str(self.port))
        wait_until(lambda: _answers(self.url + "/login/"), 60, 0.2, "the playground")
        return self

    def login(self, username: str = ADMIN[0], password: str = ADMIN[1], **kwargs) -> httpx.Client:
        """A client with a session of this user. Each user logs in once: password hashing is
        deliberately slow and would otherwise show up in the figures and profiles."""
        if username not in self._sessions:
            client = httpx.Client(base_url=self.url, timeout=60)
            client.get("/login/")
            response = client.post(
                "/login/",
                data={
                    "username": username,
                    "password": password,
                    "csrfmiddlewaretoken": client.cookies["csrftoken"],
                },
            )
            if response.status_code != 302:
                raise RuntimeError(f"login failed: {response.status_code} {response.text[:500]}")
            self._sessions[username] = dict(client.cookies.items())
            client.close()
        return httpx.Client(
            base_url=self.url, timeout=60, cookies=self._sessions[username], **kwargs
        )

    def submit(self, client: httpx.Client, fields: dict) -> str:
        """POST the generate form like a browser without JavaScript; returns the run id."""
        data = {"csrfmiddlewaretoken": client.cookies["csrftoken"], "n": "1", **fields}
        response = client.post("/", data=data)
        if response.status_code != 302:
            errors = re.findall(r'class="[^"]*error[^"]*"[^>]*>([^<]+)<', response.text)
            raise RuntimeError(f"submit refused ({response.status_code}): {errors[:5]}")
        return response.headers["location"].strip("/").split("/")[-1]

    def db(self) -> sqlite3.Connection:
        conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=30)
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    def run_row(self, conn: sqlite3.Connection, run_id: str) -> dict | None:
        conn.row_factory = sqlite3.Row
        row = conn.execute(
            "SELECT * FROM jobs_run WHERE id = ?", (run_id.replace("-", ""),)
        ).fetchone()
        return dict(row) if row else None

    def wait_finished(self, conn: sqlite3.Connection, run_id: str, timeout: float = 120) -> dict:
        def finished():
            row = self.run_row(conn, run_id)
            return row if row and row["finished_at"] else None

        row = wait_until(finished, timeout, 0.005, f"run {run_id}")
        if row["status"] != "succeeded":
            raise RuntimeError(f"run {run_id} ended {row['status']}: {row['error_message']}")
        return row

    def rss(self) -> tuple[int, int]:
        """(current, peak) resident set size of the server process, in bytes."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        current = int(re.search(r"VmRSS:\s+(\d+) kB", status)[1]) * 1024
        peak = int(re.search(r"VmHWM:\s+(\d+) kB", status)[1]) * 1024
        return current, peak

    def reset_peak_rss(self) -> None:
        # Linux: writing 5 resets the peak (VmHWM) to the current RSS.
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")


def epoch(value: str) -> float:
    """A timestamp as Django stores it in SQLite (UTC, naive text) as seconds since the epoch."""
    return datetime.fromisoformat(value).replace(tzinfo=UTC).timestamp()


def machine() -> dict[str, str]:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"model name\s*:\s*(.+)", cpuinfo)
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    mem = re.search(r"MemTotal:\s+(\d+) kB", meminfo)
    os_name = platform.platform()
    release = Path("/etc/os-release")
    if release.exists():
        pretty = re.search(r'PRETTY_NAME="([^"]+)"', release.read_text())
        os_name = f"{pretty[1]} (kernel {platform.release()})" if pretty else os_name
    import django
    import PIL

    return {
        "CPU": model[1].strip() if model else platform.processor() or "unknown",
        "cores": str(os.cpu_count()),
        "memory": f"{int(mem[1]) / 1024 / 1024:.1f} GiB" if mem else "unknown",
        "OS": os_name,
        "Python": platform.python_version(),
        "SQLite": sqlite3.sqlite_version,
        "Django": django.get_version(),
        "Pillow": PIL.__version__,
    }
