#!/usr/bin/env python
"""Profile what a benchmark found slow, in one process, with pyinstrument.

    python bench/profile.py run      # execute_run: one 1024x1024 b64 and one url run, no latency
    python bench/profile.py submit   # the generate form POST that creates and enqueues a run
    python bench/profile.py gallery  # the gallery's first page with 1,000 runs / 4,000 images
    python bench/profile.py memory   # execute_run of a 4096x4096 b64 answer (tracemalloc peak)

Each writes bench/profiles/<name>.txt (pass --suffix before/after to keep both) and prints it.
A temporary data directory with a fresh SQLite database is used; the fake gateway runs in a
thread, so its own work stays out of the main-thread profile.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
os.environ["PLAYGROUND_DATA_DIR"] = tempfile.mkdtemp(prefix="playground-profile-")
os.environ.setdefault("PLAYGROUND_DEBUG", "false")
os.environ.setdefault("PLAYGROUND_SSL_REDIRECT", "false")
os.environ.setdefault("PLAYGROUND_LOG_LEVEL", "WARNING")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "playground.settings")
os.environ.pop("DATABASE_URL", None)

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from pyinstrument import Profiler  # noqa: E402

from playground.fakegateway.server import FakeGatewayServer  # noqa: E402
from playground.jobs.models import Run  # noqa: E402
from playground.jobs.runner import execute_run  # noqa: E402
from playground.providers.models import Provider  # noqa: E402


def make_run(owner, provider, **params) -> Run:
    params = {"n": 1, **params}
    return Run.objects.create(
        owner=owner, provider=provider, provider_name=provider.name, model=params["model"],
        prompt=params["prompt"], params=params,
    )  # fmt: skip


def profile_run(owner, fake) -> Profiler:
    openai = Provider.objects.create(
        name="Profile OpenAI", base_url=fake.base_url("openai"), requires_key=False, is_local=True
    )
    cases = [
        {"model": "gpt-image-1", "size": "1024x1024", "prompt": "profile b64"},
        {
            "model": "dall-e-3",
            "size": "1024x1024",
            "response_format": "url",
            "prompt": "profile url",
        },
    ]
    for case in cases:  # warm: imports, the fake's render cache, connections
        execute_run(make_run(owner, openai, **case).pk)
    runs = [make_run(owner, openai, **case).pk for case in cases for _ in range(5)]
    profiler = Profiler(interval=0.0005)
    with profiler:
        for run_id in runs:
            execute_run(run_id)
    assert not Run.objects.exclude(status="succeeded").exists()
    return profiler


def profile_submit(owner, fake) -> Profiler:
    openai = Provider.objects.create(
        name="Profile OpenAI", base_url=fake.base_url("openai"), requires_key=False, is_local=True
    )
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(owner)
    data = {"provider": openai.pk, "model": "gpt-image-1", "prompt": "profile submit", "n": 1}
    assert client.post("/", data).status_code == 302
    profiler = Profiler(interval=0.0005)
    with profiler:
        for _ in range(30):
            assert client.post("/", data).status_code == 302
    return profiler


def profile_gallery(owner, fake) -> Profiler:
    from bench.django_side import seed

    get_user_model().objects.create_user("gallery")
    get_user_model().objects.create_user("gallery-small")
    Provider.objects.create(name="Bench OpenAI", base_url=fake.base_url("openai"), is_local=True)
    seed(1000, 4000)
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(get_user_model().objects.get(username="gallery"))
    client.get("/gallery/")
    profiler = Profiler(interval=0.0005)
    with profiler:
        for _ in range(20):
            assert client.get("/gallery/").status_code == 200
    return profiler


def profile_memory(owner, fake) -> Profiler:
    import tracemalloc

    routmy = Provider.objects.create(
        name="Profile routmy", base_url=fake.base_url("routmy"), requires_key=False,
        is_local=True, supports_image_config=True,
    )  # fmt: skip
    params = {"model": "fake/image-model", "aspect_ratio": "1:1", "image_size": "4K"}
    execute_run(make_run(owner, routmy, prompt="warm", **{**params, "image_size": "1K"}).pk)
    run = make_run(owner, routmy, prompt="[fake:huge_b64=32] profile memory", **params)
    tracemalloc.start(25)
    profiler = Profiler(interval=0.0005)
    with profiler:
        execute_run(run.pk)
    current, peak = tracemalloc.get_traced_memory()
    print(f"tracemalloc: peak {peak / 2**20:.0f} MiB (Python allocations only)")
    tracemalloc.stop()
    return profiler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["run", "submit", "gallery", "memory"])
    parser.add_argument("--suffix", default="", help="e.g. before / after")
    parser.add_argument("--all", action="store_true", help="do not hide library frames")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    owner = get_user_model().objects.create_user("profiler")
    with FakeGatewayServer() as fake:
        profiler = globals()[f"profile_{args.what}"](owner, fake)
    text = profiler.output_text(unicode=True, color=False, show_all=args.all)
    text = text.replace(str(BENCH.parent) + "/", "")  # no paths of this machine in the record
    name = args.what + (f"-{args.suffix}" if args.suffix else "")
    out = BENCH / "profiles" / f"{name}.txt"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text)
    print(text)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
