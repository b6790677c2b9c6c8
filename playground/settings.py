"""One env-driven settings module. Every variable read here is listed in the README."""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def envstr(name: str, default: str = "") -> str:
    """A setting from the environment, or from the file named by `<NAME>_FILE`."""
    file_path = os.environ.get(f"{name}_FILE")
    if file_path:
        return Path(file_path).read_text().strip()
    return os.environ.get(name, default)


def envbool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def envint(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def envlist(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in envstr(name, default).split(",") if item.strip()]


def s3_storage_options() -> dict:
    """django-storages' S3Storage options from PLAYGROUND_S3_* (credentials may also come from
    the usual AWS environment or instance role when the two key variables are unset)."""
    bucket = envstr("PLAYGROUND_S3_BUCKET")
    if not bucket:
        raise ImproperlyConfigured("PLAYGROUND_STORAGE=s3 needs PLAYGROUND_S3_BUCKET.")
    endpoint = envstr("PLAYGROUND_S3_ENDPOINT_URL") or None
    return {
        "bucket_name": bucket,
        "endpoint_url": endpoint,
        "region_name": envstr("PLAYGROUND_S3_REGION") or None,
        "access_key": envstr("PLAYGROUND_S3_ACCESS_KEY_ID") or None,
        "secret_key": envstr("PLAYGROUND_S3_SECRET_ACCESS_KEY") or None,
        "location": envstr("PLAYGROUND_S3_PREFIX").strip("/"),
        # Path style works with every S3-compatible server; AWS itself prefers virtual hosts.
        "addressing_style": envstr(
            "PLAYGROUND_S3_ADDRESSING_STYLE", "path" if endpoint else "virtual"
        ),
        "signature_version": "s3v4",
        "default_acl": None,  # the bucket's own policy: private
        "querystring_auth": True,
        "querystring_expire": envint("PLAYGROUND_MEDIA_URL_SECONDS", 60),
        # Names carry the run id and the content's hash: never overwritten, never re-checked.
        "file_overwrite": True,
        # Stored images never change, so a browser may keep what a signed URL gave it.
        "object_parameters": {"CacheControl": "private, max-age=86400, immutable"},
    }


def s3_url_origin(options: dict) -> str:
    """The scheme://host that signed URLs for this bucket use (computed offline by botocore)."""
    from urllib.parse import urlsplit

    import botocore
    from botocore.config import Config
    from botocore.session import get_session

    client = get_session().create_client(
        "s3",
        region_name=options["region_name"] or "us-east-1",
        endpoint_url=options["endpoint_url"],
        config=Config(
            signature_version=botocore.UNSIGNED,
            s3={"addressing_style": options["addressing_style"]},
        ),
    )
    url = client.generate_presigned_url(
        "get_object", Params={"Bucket": options["bucket_name"], "Key": "probe"}
    )
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


DATA_DIR = Path(envstr("PLAYGROUND_DATA_DIR", str(BASE_DIR / "var"))).resolve()


def generated_secret(name: str, make) -> str:
    """Development secrets are generated once into DATA_DIR (git-ignored) and reused."""
    path = DATA_DIR / "secrets" / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


DEBUG = envbool("PLAYGROUND_DEBUG", True)
SECRET_KEY = envstr("PLAYGROUND_SECRET_KEY") or generated_secret(
    "secret_key", lambda: secrets.token_urlsafe(50)
)
# Newest first. API keys are encrypted with the first and decrypted with any (MultiFernet).
ENCRYPTION_KEYS = envlist("PLAYGROUND_ENCRYPTION_KEYS") or [
    generated_secret("encryption_key", _fernet_key)
]

ALLOWED_HOSTS = envlist("PLAYGROUND_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = envlist("PLAYGROUND_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_tasks",
    "template_partials",
    "playground.audit",
    "playground.accounts",
    "playground.providers",
    "playground.jobs",
    "playground.gallery",
    "playground.studio",
    "fakegateway",
    "playground.console",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "playground.accounts.middleware.content_security_policy",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "playground.urls"
WSGI_APPLICATION = "playground.wsgi.application"
ASGI_APPLICATION = "playground.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
            "builtins": [
                "django_htmx.templatetags.django_htmx",
                "template_partials.templatetags.partials",
            ],
        },
    }
]

DATABASE_URL = envstr("DATABASE_URL")
DATABASES: dict[str, Any]  # dj_database_url's config, or SQLite's below with NAME a Path
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
else:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "playground.sqlite3",
            # Web threads keep their connection: opening one (and its PRAGMAs) per request was
            # ~10% of the server's CPU under load (py-spy, BENCHMARKS.md). Run threads still
            # close theirs after each run.
            "CONN_MAX_AGE": envint("PLAYGROUND_DB_CONN_MAX_AGE", 600),
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": {
                # Measured: without IMMEDIATE and a busy timeout, concurrent writers from the
                # run executor see "database is locked". WAL lets readers proceed meanwhile.
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;"
                ),
            },
            # Tests use a file too, so worker threads share the database with real locking; one
            # per process, so test runs side by side never share it.
            "TEST": {
                "NAME": str(Path(tempfile.gettempdir()) / f"playground-test-{os.getpid()}.sqlite3")
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "studio:generate"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = envstr("PLAYGROUND_TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
WHITENOISE_USE_FINDERS = True
MEDIA_ROOT = Path(envstr("PLAYGROUND_MEDIA_ROOT", str(DATA_DIR / "media")))
# Media is never served as static files: every image goes through a permission-checked view.
MEDIA_URL = "/media-not-public/"
# Media on this machine's filesystem (one machine, or a mount shared by all), or in an S3-compatible
# bucket for a fleet. Either way objects stay private: the permission-checked views stream local
# files, and answer for a bucket with a redirect to a signed URL valid for MEDIA_URL_SECONDS.
MEDIA_STORAGE = envstr("PLAYGROUND_STORAGE", "filesystem").strip().lower()
MEDIA_URL_SECONDS = envint("PLAYGROUND_MEDIA_URL_SECONDS", 60)
MEDIA_URL_ORIGIN = ""  # where signed media URLs point; allowed as an image source below
if MEDIA_STORAGE == "s3":
    S3_OPTIONS = s3_storage_options()
    MEDIA_URL_ORIGIN = s3_url_origin(S3_OPTIONS)
    DEFAULT_STORAGE = {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": S3_OPTIONS}
elif MEDIA_STORAGE == "filesystem":
    DEFAULT_STORAGE = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
else:
    raise ImproperlyConfigured(
        f"PLAYGROUND_STORAGE={MEDIA_STORAGE!r} is not supported; use 'filesystem' or 's3'."
    )
STORAGES = {
    "default": DEFAULT_STORAGE,
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Off in debug (plain http on 127.0.0.1); on in production unless the proxy terminates TLS and
# says so (then set PLAYGROUND_SECURE_PROXY_SSL_HEADER=1 and keep the rest on).
SECURE_SSL_REDIRECT = envbool("PLAYGROUND_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = envbool("PLAYGROUND_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = envint("PLAYGROUND_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = envbool("PLAYGROUND_HSTS_PRELOAD", SECURE_HSTS_SECONDS > 0)
if envbool("PLAYGROUND_SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Every asset is served from this origin: no third-party origin, no inline script, no eval.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
if MEDIA_URL_ORIGIN:
    # Images are redirected to signed bucket URLs: that one origin may serve them too.
    CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY.replace(
        "img-src 'self'", f"img-src 'self' {MEDIA_URL_ORIGIN}", 1
    )
# Failed logins allowed per username and per client address within the window.
LOGIN_FAILURE_LIMIT = envint("PLAYGROUND_LOGIN_FAILURE_LIMIT", 5)
LOGIN_FAILURE_WINDOW_SECONDS = envint("PLAYGROUND_LOGIN_FAILURE_WINDOW", 900)

# Run execution (django-tasks). The embedded default runs many upstream calls at once in the
# web process; set PLAYGROUND_TASKS_BACKEND to another django-tasks backend for a worker fleet.
TASKS_BACKEND = envstr("PLAYGROUND_TASKS_BACKEND", "playground.jobs.backends.EmbeddedBackend")
TASKS = {
    "default": {
        "BACKEND": TASKS_BACKEND,
        # 256: a crowd of 200 runs at once is all in flight (threads are started with the
        # server and cost ~2 MiB per 128 while idle; BENCHMARKS.md, figure 2).
        "OPTIONS": {"max_workers": envint("PLAYGROUND_MAX_CONCURRENT_RUNS", 256)},
    }
}
if TASKS_BACKEND.startswith("django_tasks_db."):
    # The database queue (run `manage.py db_worker` on worker machines) keeps its tasks in its
    # own tables; they are written in the same transaction as the run they perform.
    INSTALLED_APPS.append("django_tasks_db")
# A running run whose heartbeat is older than this is no longer worked on: it ends interrupted.
RUN_STALE_SECONDS = envint("PLAYGROUND_RUN_STALE_SECONDS", 30)
RUN_HEARTBEAT_SECONDS = envint("PLAYGROUND_RUN_HEARTBEAT_SECONDS", 5)

# Limits for images received from upstreams (b64 or downloaded URLs).
MAX_IMAGE_BYTES = envint("PLAYGROUND_MAX_IMAGE_BYTES", 64 * 1024 * 1024)
MAX_IMAGE_PIXELS = envint("PLAYGROUND_MAX_IMAGE_PIXELS", 8192 * 8192)
# Largest reference image or mask a user may upload for an edit.
MAX_UPLOAD_BYTES = envint("PLAYGROUND_MAX_UPLOAD_BYTES", 25 * 1024 * 1024)
# 16 references, an uploaded mask and a painted one: the edit form names the limit by the field;
# a request with more files than this is refused before any of it is read.
DATA_UPLOAD_MAX_NUMBER_FILES = 20
FETCH_TIMEOUT_SECONDS = envint("PLAYGROUND_FETCH_TIMEOUT", 60)
MODELS_CACHE_SECONDS = envint("PLAYGROUND_MODELS_CACHE_SECONDS", 3600)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": envstr("PLAYGROUND_LOG_LEVEL", "INFO")},
    "loggers": {"httpx": {"level": "WARNING"}, "httpcore": {"level": "WARNING"}},
}

# The offline Demo gateway (the fake gateway mounted at /demo-gateway) for newcomers without keys.
DEMO_GATEWAY = envbool("PLAYGROUND_DEMO_GATEWAY", True)
# Seconds the Demo takes per call, so the live progress of a run can be seen.
DEMO_LATENCY = float(envstr("PLAYGROUND_DEMO_LATENCY", "2"))
# Threads serving web requests in `manage.py serve`.
WEB_THREADS = envint("PLAYGROUND_WEB_THREADS", 32)

# The first admin account, created by `make run` when no superuser exists (ensure_admin).
ADMIN_USERNAME = envstr("PLAYGROUND_ADMIN_USERNAME", "admin")
ADMIN_PASSWORD = envstr("PLAYGROUND_ADMIN_PASSWORD")
