#!/usr/bin/env python
"""Profile what a benchmark found slow, in one process, with pyinstrument.

    python bench/profile.py run      # execute_run: one 1024x1024 b64 and one url run, no latency
    python bench/profile.py submit   # the generate form POST that creates and enqueues a run
    python bench/profile.py gallery  # the gallery's first page with 1,000 runs / 4,000 images
    python bench/profile.py memory   # peak RSS of each step of a 4096x4096 b64 run
    python bench/profile.py thumbnail  # make_thumbnail now vs its former order

Each writes bench/profiles/<name>.txt (pass --suffix before/after to keep both) and prints it.
A temporary data directory with a fresh SQLite database is used; the fake gateway runs in a
thread, so its own work stays out of the main-thread profile.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
os.environ["PLAYGROUND_DATA_DIR"] = tempfile.mkdtemp(prefix="playground-profile-")
atexit.register(shutil.rmtree, os.environ["PLAYGROUND_DATA_DIR"], ignore_errors=True)
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

from fakegateway.server import FakeGatewayServer  # noqa: E402
from playground.jobs.models import Run  # noqa: E402
from playground.jobs.runner import execute_run  # noqa: E402
from playground.providers.models import Provider  # noqa: E402


def make_run(owner, provider, **params) -> Run:
    params = {"n": 1, **params}
    return Run.objects.create(
        owner=owner,
        provider=provider,
        provider_name=provider.name,
        model=params.pop("model"),
        prompt=params.pop("prompt"),
        params=params,
    )


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


def _rss() -> tuple[int, int]:
    status = Path("/proc/self/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return (int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024)


def _peak_over(work) -> tuple[int, object]:
    """Peak RSS added while `work()` runs, over the RSS just before it (Linux)."""
    import gc

    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    before, _ = _rss()
    result = work()
    return _rss()[1] - before, result


def former_thumbnail(data: bytes) -> bytes:
    """make_thumbnail before BENCHMARKS.md figure 4: converted at full size, then shrunk."""
    import io

    from PIL import Image as PILImage

    from playground.imaging import THUMBNAIL_EDGE

    with PILImage.open(io.BytesIO(data)) as img:
        img.draft("RGB", (THUMBNAIL_EDGE, THUMBNAIL_EDGE))
        has_alpha = img.mode in ("RGBA", "LA") or "transparency" in img.info
        img = img.convert("RGBA" if has_alpha else "RGB")
        img.thumbnail((THUMBNAIL_EDGE, THUMBNAIL_EDGE))
        out = io.BytesIO()
        img.save(out, "WEBP", quality=80, method=4)
        return out.getvalue()


def profile_memory(owner, fake) -> str:
    """Peak RSS of each step of a 4096x4096 b64 run, the fake gateway in its own process."""
    from bench.harness import FakeGateway
    from playground import imaging
    from playground.upstream.client import UpstreamClient

    former = bool(os.environ.get("PROFILE_FORMER_THUMBNAIL"))
    if former:
        imaging.make_thumbnail = former_thumbnail
    remote = FakeGateway(Path(os.environ["PLAYGROUND_DATA_DIR"]) / "fake").start()
    try:
        routmy = Provider.objects.create(
            name="Profile routmy",
            base_url=remote.base_url("routmy"),
            requires_key=False,
            is_local=True,
            supports_image_config=True,
        )
        params = {"model": "fake/image-model", "aspect_ratio": "1:1", "image_size": "4K"}
        body = {
            "model": params["model"],
            "prompt": "[fake:huge_b64=32] profile memory",
            "n": 1,
            "image_config": {"aspect_ratio": "1:1", "image_size": "4K"},
        }
        execute_run(make_run(owner, routmy, prompt="warm", **{**params, "image_size": "1K"}).pk)

        def call():
            with UpstreamClient(routmy.base_url, None) as client:
                return client.generate(body)

        upstream, result = _peak_over(call)
        holder = [result.images[0].data]
        del result
        thumb, _ = _peak_over(lambda: imaging.make_thumbnail(holder[0]))
        holder.clear()
        run = make_run(owner, routmy, prompt=body["prompt"], **params)
        whole, _ = _peak_over(lambda: execute_run(run.pk))
        payload = 32 * 2**20
        mib = 2**20
        return "\n".join(
            [
                f"peak RSS added, 4096x4096 PNG as b64_json, {payload / mib:.0f} MiB response body"
                + (" (former make_thumbnail)" if former else ""),
                f"  UpstreamClient.generate (read, parse, decode): {upstream / mib:6.0f} MiB",
                f"  make_thumbnail of the decoded image:           {thumb / mib:6.0f} MiB",
                f"  the whole execute_run:                         {whole / mib:6.0f} MiB"
                f" = {whole / payload:.2f}x the payload",
            ]
        )
    finally:
        remote.stop()


def profile_thumbnail(owner, fake) -> str:
    """CPU time and peak memory of make_thumbnail, now and in its former order."""
    import statistics
    import time

    from fakegateway import images
    from playground.imaging import make_thumbnail

    lines = ["make_thumbnail (resizing before converting) vs its former order, fake gateway PNGs"]
    for edge in (1024, 4096):
        data = images.render("thumbnail profile", 0, edge, edge, "png")
        for name, function in (("former", former_thumbnail), ("now", make_thumbnail)):
            function(data)
            cpu = []
            for _ in range(15 if edge == 1024 else 5):
                started = time.process_time()
                function(data)
                cpu.append(time.process_time() - started)
            peak, _ = _peak_over(lambda f=function, d=data: f(d))
            lines.append(
                f"  {edge}x{edge} {name:9}: median CPU {statistics.median(cpu) * 1000:5.0f} ms, "
                f"peak RSS added {peak / 2**20:4.0f} MiB"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["run", "submit", "gallery", "memory", "thumbnail"])
    parser.add_argument("--suffix", default="", help="e.g. before / after")
    parser.add_argument("--all", action="store_true", help="do not hide library frames")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    owner = get_user_model().objects.create_user("profiler")
    with FakeGatewayServer() as fake:
        profiler = globals()[f"profile_{args.what}"](owner, fake)
    if isinstance(profiler, str):
        text = profiler
    else:
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
