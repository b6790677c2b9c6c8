"""The benchmark's steps that run inside Django, against the benchmark's own data directory.

    python bench/django_side.py setup OPENAI_BASE_URL ROUTMY_BASE_URL
    python bench/django_side.py seed RUNS IMAGES
    python bench/django_side.py queue COUNT PROVIDER_ID PROMPT
    python bench/django_side.py queries

Each prints one JSON line (the last line of its output).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "playground.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from playground.jobs.models import Image  # noqa: E402
from playground.providers.models import Provider  # noqa: E402

GALLERY_USER = ("gallery", "gallery-pass-123456")
SMALL_USER = ("gallery-small", "gallery-pass-123456")
# A filtered page as people use it: one model, one tag.
FILTER = "model=dall-e-3&tag=keeper"
PAGES = {
    "first page": "/gallery/",
    "page 2": "/gallery/?page=2",
    "page 100": "/gallery/?page=100",
    "filtered": f"/gallery/?{FILTER}",
    "filtered, page 2": f"/gallery/?{FILTER}&page=2",
}


def setup(openai_url: str, routmy_url: str) -> dict:
    openai, _ = Provider.objects.update_or_create(
        name="Bench OpenAI",
        defaults={"base_url": openai_url, "requires_key": False, "is_local": True, "timeout": 150},
    )
    routmy, _ = Provider.objects.update_or_create(
        name="Bench routmy",
        defaults={
            "base_url": routmy_url,
            "requires_key": False,
            "is_local": True,
            "timeout": 150,
            "supports_image_config": True,
        },
    )
    users = get_user_model().objects
    for username, password in (GALLERY_USER, SMALL_USER):
        if not users.filter(username=username).exists():
            users.create_user(username, password=password)
    return {"openai": openai.pk, "routmy": routmy.pk}


def seed(runs: int, images: int) -> dict:
    """`runs` finished runs of the gallery user (the gallery's own seeder: review data included),
    then more images on the succeeded ones until there are `images` in all; 50 for the small user.
    """
    from playground.gallery.seed import seed_runs

    started = time.monotonic()
    users = get_user_model().objects
    provider = Provider.objects.get(name="Bench OpenAI")
    owner = users.get(username=GALLERY_USER[0])
    seeded = seed_runs(owner, runs, provider=provider)
    succeeded = [run for run in seeded if run.status == "succeeded"]
    extra, index = [], 1
    total = Image.objects.filter(run__owner=owner).count()
    while total + len(extra) < images and succeeded:
        for run in succeeded:
            if total + len(extra) >= images:
                break
            extra.append(
                Image(
                    run=run,
                    index=index,
                    format="PNG",
                    width=1024,
                    height=1024,
                    bytes=0,
                    sha256="0" * 64,
                    file=f"images/seed/{run.pk}-{index}.png",
                    thumbnail=f"images/seed/{run.pk}-{index}-thumb.webp",
                )
            )
        index += 1
    Image.objects.bulk_create(extra, batch_size=2000)
    seed_runs(users.get(username=SMALL_USER[0]), 50, provider=provider)
    return {
        "runs": owner.runs.count(),
        "images": Image.objects.filter(run__owner=owner).count(),
        "seconds": round(time.monotonic() - started, 1),
    }


def queue(count: int, provider_id: int, prompt: str) -> dict:
    """`count` queued runs, as the form makes them, left for the next server start to resume."""
    from playground.jobs.models import Run

    provider = Provider.objects.get(pk=provider_id)
    owner = get_user_model().objects.filter(is_superuser=True).first()
    Run.objects.bulk_create(
        Run(
            owner=owner,
            provider=provider,
            provider_name=provider.name,
            model="gpt-image-1",
            prompt=prompt,
            params={"n": 1, "size": "1024x1024", "provider": provider.pk},
        )
        for _ in range(count)
    )
    return {"queued": Run.objects.filter(status="queued", prompt=prompt).count()}


def queries() -> dict:
    """Queries per gallery page, for the seeded user and for one with 50 runs."""
    from django.test.utils import setup_test_environment

    setup_test_environment()  # so that responses carry their template context
    result: dict[str, dict] = {}
    for label, username in (("10,000 runs", GALLERY_USER[0]), ("50 runs", SMALL_USER[0])):
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(get_user_model().objects.get(username=username))
        counts = {}
        for name, path in PAGES.items():
            client.get(path)  # warm caches that are per process, not per page
            with CaptureQueriesContext(connection) as captured:
                response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)
            page = response.context["page"]
            counts[name] = {
                "queries": len(captured.captured_queries),
                "runs on page": len(page.object_list),
                "matching runs": page.paginator.count,
            }
        result[label] = counts
    return result


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "setup":
        out = setup(*args)
    elif command == "seed":
        out = seed(int(args[0]), int(args[1]))
    elif command == "queue":
        out = queue(int(args[0]), int(args[1]), args[2])
    elif command == "queries":
        out = queries()
    else:
        raise SystemExit(f"unknown command {command!r}")
    print(json.dumps(out))
