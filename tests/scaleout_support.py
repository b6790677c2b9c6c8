"""Helpers for tests that run the playground as separate processes on PostgreSQL or object storage.

Every database made here has a unique name and is dropped at the end of the session, so two test
runs on one PostgreSQL server (two CI jobs, two engineers) never see each other's data.
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import dj_database_url

ROOT = Path(__file__).resolve().parent.parent
# The server to create scratch databases on when the suite itself runs on SQLite.
DEFAULT_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"

_created: list[str] = []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def admin_url() -> str:
    """A URL to the `postgres` maintenance database of the server the tests may use."""
    suite_url = os.environ.get("DATABASE_URL", "")
    if suite_url.startswith(("postgres://", "postgresql://")):
        return suite_url.rsplit("/", 1)[0] + "/postgres"
    return os.environ.get("PLAYGROUND_TEST_POSTGRES_URL", DEFAULT_ADMIN_URL)


def connect(url: str):
    import psycopg

    config = dj_database_url.parse(url)
    try:
        return psycopg.connect(
            dbname=config["NAME"],
            user=config["USER"] or None,
            password=config["PASSWORD"] or None,
            host=config["HOST"] or None,
            port=config["PORT"] or None,
            autocommit=True,
            connect_timeout=5,
        )
    except psycopg.OperationalError as exc:
        raise RuntimeError(
            f"These tests need a PostgreSQL server ({url}; set PLAYGROUND_TEST_POSTGRES_URL to "
            f"use another): {exc}"
        ) from exc


def create_database(label: str) -> str:
    """A new empty database; returns its DATABASE_URL. Dropped when the test session ends."""
    url = admin_url()
    name = f"playground_{label}_{uuid.uuid4().hex[:12]}"[:63]
    with connect(url) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    database_url = url.rsplit("/", 1)[0] + "/" + name
    _created.append(database_url)
    return database_url


def drop_database(database_url: str) -> None:
    name = database_url.rsplit("/", 1)[1]
    with connect(database_url.rsplit("/", 1)[0] + "/postgres") as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    if database_url in _created:
        _created.remove(database_url)


@atexit.register
def _drop_leftovers() -> None:
    for database_url in list(_created):
        try:
            drop_database(database_url)
        except Exception as exc:  # noqa: BLE001 - cleanup must not hide the test result
            print(f"could not drop {database_url}: {exc}", file=sys.stderr)


def own_database_env(label: str) -> dict[str, str]:
    """Environment for processes a test starts itself: when the suite runs on PostgreSQL they get
    a fresh database of their own (the test database belongs to the test process); on SQLite
    nothing changes, as their PLAYGROUND_DATA_DIR already holds a database of their own."""
    if os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        return {"DATABASE_URL": create_database(label)}
    return {}


def manage(env: dict[str, str], *args: str, timeout: float = 120) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode:
        raise AssertionError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


# --- object storage: moto's S3 server on a free local port -------------------------------------

S3_KEY_ID = "playground-test-key"
S3_SECRET = "playground-test-secret-0123456789"


class S3Server:
    """moto's S3 emulator over real HTTP in a thread; `with S3Server() as s3: s3.endpoint`."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.endpoint = ""

    def __enter__(self) -> S3Server:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.stop()

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=S3_KEY_ID,
            aws_secret_access_key=S3_SECRET,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )

    def new_bucket(self) -> str:
        name = f"media-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> list[str]:
        listed = self.client().list_objects_v2(Bucket=bucket)
        return sorted(item["Key"] for item in listed.get("Contents", []))

    def env(self, bucket: str, prefix: str = "") -> dict[str, str]:
        """The settings a playground process needs to keep its media in `bucket`."""
        return {
            "PLAYGROUND_STORAGE": "s3",
            "PLAYGROUND_S3_BUCKET": bucket,
            "PLAYGROUND_S3_ENDPOINT_URL": self.endpoint,
            "PLAYGROUND_S3_REGION": "us-east-1",
            "PLAYGROUND_S3_ACCESS_KEY_ID": S3_KEY_ID,
            "PLAYGROUND_S3_SECRET_ACCESS_KEY": S3_SECRET,
            "PLAYGROUND_S3_PREFIX": prefix,
        }


def sigv4_signature_is_valid(url: str, key_id: str, secret: str) -> bool:
    """Recompute a presigned URL's SigV4 signature: moto accepts any, a real bucket does not."""
    from urllib.parse import parse_qsl, urlsplit, urlunsplit

    from botocore.auth import S3SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    parts = urlsplit(url)
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    # The canonical query is the URL's own encoding, minus the signature itself.
    unsigned = "&".join(p for p in parts.query.split("&") if not p.startswith("X-Amz-Signature="))
    request = AWSRequest(
        method="GET", url=urlunsplit(parts._replace(query=unsigned)), headers={"host": parts.netloc}
    )
    request.context["timestamp"] = params["X-Amz-Date"]
    region = params["X-Amz-Credential"].split("/")[2]
    auth = S3SigV4QueryAuth(
        Credentials(key_id, secret), "s3", region, expires=int(params["X-Amz-Expires"])
    )
    string_to_sign = auth.string_to_sign(request, auth.canonical_request(request))
    expected = auth.signature(string_to_sign, request)
    return expected == params["X-Amz-Signature"]
