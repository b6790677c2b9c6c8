#!/usr/bin/env python
"""The playground's benchmarks: five figures against their targets, written to BENCHMARKS.md.

    python bench/run.py                 # everything, full size (several minutes); `make bench`
    python bench/run.py --quick         # tiny parameters: checks the harness, not the product
    python bench/run.py --only 1,4      # some figures only

It starts the fake gateway and the playground (`manage.py serve`, production settings) as their
own processes with temporary data directories, drives them over real HTTP, prints each figure and
writes the report (with the machine it ran on). Timings are compared with a direct httpx call to
the same fake gateway.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (  # noqa: E402
    ROOT,
    FakeGateway,
    Playground,
    epoch,
    machine,
    wait_until,
)
from bench.spy import Spy  # noqa: E402


@dataclass
class Params:
    overhead_repeats: int = 9
    overhead_latency: float = 2.0
    crowd_runs: int = 200
    crowd_latency: float = 5.0
    gallery_runs: int = 10_000
    gallery_images: int = 40_000
    gallery_samples: int = 60
    memory_edge: int = 4096
    memory_payload_mb: float = 32.0


QUICK = Params(
    overhead_repeats=2,
    overhead_latency=0.3,
    crowd_runs=6,
    crowd_latency=0.5,
    gallery_runs=120,
    gallery_images=400,
    gallery_samples=5,
    memory_edge=1024,
    memory_payload_mb=2.0,
)


@dataclass
class Figure:
    number: int
    title: str
    measured: str
    target: str
    met: bool
    details: list[str] = field(default_factory=list)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


# --- 1. overhead ---------------------------------------------------------------------------------


def direct_call(fake: FakeGateway, body: dict) -> tuple[float, int]:
    """What a script calling the gateway itself does: POST, then decode or download the image."""
    started = time.time()
    with httpx.Client(timeout=120) as client:
        response = client.post(
            fake.base_url() + "/images/generations",
            json=body,
            headers={"Authorization": "Bearer sk-bench"},
        )
        response.raise_for_status()
        item = response.json()["data"][0]
        if "b64_json" in item:
            data = base64.b64decode(item["b64_json"])
        else:
            data = client.get(item["url"]).raise_for_status().content
    assert data[:4] in (b"\x89PNG", b"RIFF") or data[:2] == b"\xff\xd8"
    return time.time() - started, len(response.content)


def playground_call(app: Playground, client: httpx.Client, conn, fields: dict) -> dict:
    """Submit the form, then wait for the run's images to be stored (its finished_at)."""
    started = time.time()
    run_id = app.submit(client, fields)
    posted = time.time()
    row = app.wait_finished(conn, run_id)
    return {
        "total": epoch(row["finished_at"]) - started,
        "post": posted - started,
        "queued": epoch(row["started_at"]) - epoch(row["created_at"]),
        "before upstream": epoch(row["upstream_started_at"]) - epoch(row["started_at"]),
        "upstream": epoch(row["upstream_finished_at"]) - epoch(row["upstream_started_at"]),
        "saving": epoch(row["finished_at"]) - epoch(row["upstream_finished_at"]),
    }


def figure_overhead(app: Playground, fake: FakeGateway, ids: dict, params: Params) -> Figure:
    latency = params.overhead_latency
    cases = {
        "b64_json (gpt-image-1)": {"model": "gpt-image-1", "size": "1024x1024"},
        "url (dall-e-3)": {"model": "dall-e-3", "size": "1024x1024", "response_format": "url"},
    }
    client = app.login()
    conn = app.db()
    details = [
        f"One 1024×1024 image per call, fake gateway latency {latency:g} s, "
        f"{params.overhead_repeats} calls each, alternating direct and playground.",
        "",
        "| response | direct median | playground median | ratio | added | "
        "playground: post / queued / before upstream / upstream / saving (medians) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    ratios, added = [], []
    for label, case in cases.items():
        prompt = f"[fake:latency={latency:g}] bench overhead {case['model']}"
        body = {**case, "prompt": prompt, "n": 1}
        fields = {"provider": str(ids["openai"]), "prompt": prompt, **case}
        direct_call(fake, body)  # warm: the fake renders (and memoises) this image once
        playground_call(app, client, conn, fields)
        direct_times, runs = [], []
        for _ in range(params.overhead_repeats):
            direct_times.append(direct_call(fake, body)[0])
            runs.append(playground_call(app, client, conn, fields))
        direct = statistics.median(direct_times)
        total = statistics.median(r["total"] for r in runs)
        ratios.append(total / direct)
        added.append(total - direct)
        phases = " / ".join(
            ms(statistics.median(r[k] for r in runs))
            for k in ("post", "queued", "before upstream", "upstream", "saving")
        )
        details.append(
            f"| {label} | {ms(direct)} | {ms(total)} | {total / direct:.3f} | "
            f"{ms(total - direct)} | {phases} |"
        )
        print(
            f"  overhead {label}: direct {ms(direct)}, playground {ms(total)}, "
            f"ratio {total / direct:.3f}, +{ms(total - direct)}"
        )
    worst = max(ratios)
    return Figure(
        1,
        "Overhead vs a direct call",
        f"ratio {worst:.3f} (worst of b64/url), +{max(added) * 1000:.0f} ms",
        "≤ 1.05",
        worst <= 1.05,
        details,
    )


# --- 2. concurrency ------------------------------------------------------------------------------


async def _submit_all(app: Playground, cookies, n: int, fields: dict) -> list[str]:
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(
        base_url=app.url, cookies=cookies, timeout=120, limits=limits
    ) as client:
        token = cookies["csrftoken"]

        async def one(i: int) -> str:
            data = {"csrfmiddlewaretoken": token, "n": "1", **fields}
            response = await client.post("/", data=data)
            if response.status_code != 302:
                raise RuntimeError(f"submit {i} refused: {response.status_code}")
            return response.headers["location"].strip("/").split("/")[-1]

        return await asyncio.gather(*(one(i) for i in range(n)))


class Browser:
    """Loads the gallery page again and again in a thread, timing each load."""

    def __init__(self, app: Playground) -> None:
        self.client = app.login()
        self.client.get("/gallery/")
        self.times: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._browse, daemon=True)

    def _browse(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            response = self.client.get("/gallery/")
            self.times.append(time.perf_counter() - started)
            assert response.status_code == 200

    def __enter__(self) -> Browser:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> str:
        t = self.times
        return (
            f"{len(t)} loads, median {ms(statistics.median(t))}, p95 {ms(p95(t))}, max {ms(max(t))}"
        )


def _wait_rows(conn, where: str, args: list, n: int) -> list:
    def all_finished():
        rows = conn.execute(
            f"SELECT status, started_at, finished_at FROM jobs_run WHERE {where}",  # noqa: S608
            args,
        ).fetchall()
        return rows if len(rows) == n and all(r[2] for r in rows) else None

    return wait_until(all_finished, 600, 0.05, "all runs finished")


def figure_concurrency(app: Playground, ids: dict, params: Params) -> Figure:
    n, latency = params.crowd_runs, params.crowd_latency
    target = 8.0 * latency / 5.0
    prompt = f"[fake:latency={latency:g}] bench crowd"
    fields = {
        "provider": str(ids["openai"]),
        "model": "gpt-image-1",
        "prompt": prompt,
        "size": "1024x1024",
    }
    client = app.login()
    conn = app.db()

    # (a) End to end: n people press Generate at the same moment.
    with Browser(app) as browsing:
        started = time.time()
        run_ids = asyncio.run(_submit_all(app, client.cookies, n, fields))
        submitted = time.time() - started
        keys = [r.replace("-", "") for r in run_ids]
        rows = _wait_rows(conn, f"id IN ({','.join('?' * n)})", keys, n)
    failed = sum(r[0] != "succeeded" for r in rows)
    wall = max(epoch(r[2]) for r in rows) - started
    page = p95(browsing.times)
    print(
        f"  concurrency: {n} runs in {wall:.2f} s (submitted in {submitted:.2f} s), "
        f"gallery p95 {ms(page)} over {len(browsing.times)} loads"
    )

    # (b) The executor alone: n queued runs handed to it at once, as a starting server resumes
    # the runs it finds queued. Timed from the first claim to the last image stored.
    resume_prompt = prompt.replace("crowd", "resumed crowd")
    app.stop()
    app.python("django_side.py", "queue", str(n), str(ids["openai"]), resume_prompt)
    app.start()
    with Browser(app) as resumed_browsing:
        resumed = _wait_rows(conn, "prompt = ?", [resume_prompt], n)
    resumed_failed = sum(r[0] != "succeeded" for r in resumed)
    executor_wall = max(epoch(r[2]) for r in resumed) - min(epoch(r[1]) for r in resumed)
    print(
        f"  concurrency, executor only: {n} runs in {executor_wall:.2f} s, gallery p95 "
        f"{ms(p95(resumed_browsing.times))}"
    )
    met = wall <= target and page <= 0.150 and not failed
    return Figure(
        2,
        f"{n} runs at once, {latency:g} s upstream",
        f"all succeeded {wall:.2f} s after the first click; gallery p95 {ms(page)}",
        f"≤ {target:g} s; p95 ≤ 150 ms",
        met,
        [
            f"(a) {n} generate-form POSTs sent at once over HTTP (one 1024×1024 image each, "
            "embedded executor, SQLite); the same prompt each time so that the fake gateway (on "
            "the same machine) renders its image once and the CPU goes to the playground. The "
            "target is judged on this one.",
            "",
            f"- every POST answered (all {n} runs created and handed to the executor) after "
            f"{submitted:.2f} s",
            f"- all succeeded {wall:.2f} s after the first POST ({failed} failed)",
            f"- gallery page meanwhile: {browsing.summary()}",
            "",
            f"(b) For comparison, the executor alone: {n} queued runs handed to it at once (a "
            "starting server resumes the queued runs it finds), timed from the first claim to "
            "the last image stored.",
            "",
            f"- all succeeded after {executor_wall:.2f} s ({resumed_failed} failed)",
            f"- gallery page meanwhile: {resumed_browsing.summary()}",
        ],
    )


# --- 3. gallery at scale -------------------------------------------------------------------------


def figure_gallery(app: Playground, params: Params, seeded: dict, queries: dict) -> Figure:
    from bench.django_side import FILTER, GALLERY_USER

    client = app.login(*GALLERY_USER)
    lines = [
        f"{seeded['runs']:,} runs and {seeded['images']:,} images of one user (with ratings, "
        f"tags, comments), seeded in {seeded['seconds']} s. Filter: `{FILTER}`. "
        f"{params.gallery_samples} sequential loads per page over HTTP after 5 warm-ups.",
        "",
        "| page | p95 | median | queries (10,000 runs) | queries (50 runs) | runs on page "
        "| matching runs |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    worst = 0.0
    big, small = queries["10,000 runs"], queries["50 runs"]
    constant = True
    from bench.django_side import PAGES

    for name, path in PAGES.items():
        for _ in range(5):
            client.get(path)
        times = []
        for _ in range(params.gallery_samples):
            started = time.perf_counter()
            response = client.get(path)
            times.append(time.perf_counter() - started)
            assert response.status_code == 200
        if name in ("first page", "filtered"):
            worst = max(worst, p95(times))
        q_big, q_small = big[name]["queries"], small[name]["queries"]
        constant = constant and q_big == q_small
        lines.append(
            f"| {name} | {ms(p95(times))} | {ms(statistics.median(times))} | {q_big} | "
            f"{q_small} | {big[name]['runs on page']} | {big[name]['matching runs']:,} |"
        )
        print(f"  gallery {name}: p95 {ms(p95(times))}, {q_big} queries ({q_small} with 50 runs)")
    return Figure(
        3,
        f"Gallery with {seeded['runs']:,} runs / {seeded['images']:,} images",
        f"p95 {ms(worst)} (first and filtered page); queries per page "
        + ("constant" if constant else "NOT constant"),
        "p95 ≤ 100 ms; constant queries",
        worst <= 0.100 and constant,
        lines,
    )


# --- 4. memory -----------------------------------------------------------------------------------


def figure_memory(app: Playground, fake: FakeGateway, ids: dict, params: Params) -> Figure:
    edge, megabytes = params.memory_edge, params.memory_payload_mb
    tier = {1024: "1K", 2048: "2K", 4096: "4K"}[edge]
    prompt = f"[fake:huge_b64={megabytes:g}] bench memory"
    fields = {
        "provider": str(ids["routmy"]),
        "model": "fake/image-model",
        "prompt": prompt,
        "aspect_ratio": "1:1",
        "image_size": tier,
    }
    body = {
        "model": "fake/image-model",
        "prompt": prompt,
        "n": 1,
        "image_config": {"aspect_ratio": "1:1", "image_size": tier},
    }
    with httpx.Client(timeout=120) as direct:
        response = direct.post(fake.base_url("routmy") + "/images/generations", json=body)
        payload = len(response.content)
        decoded = len(base64.b64decode(response.json()["data"][0]["b64_json"]))
    # A fresh server process: memory freed by earlier figures would otherwise be reused and hide
    # part of the peak.
    app.stop()
    app.start()
    client = app.login()
    conn = app.db()
    # Warm up: the same path once with a small image, so imports and pools are in the baseline.
    small = {**fields, "prompt": "bench memory warm-up", "image_size": "1K"}
    app.wait_finished(conn, app.submit(client, small))
    time.sleep(1.0)
    idle, _ = app.rss()
    app.reset_peak_rss()
    run_id = app.submit(client, fields)
    row = app.wait_finished(conn, run_id)
    _, peak = app.rss()
    over = peak - idle
    ratio = over / payload
    mib = 2**20
    print(
        f"  memory: payload {payload / mib:.1f} MiB, idle {idle / mib:.0f} MiB, "
        f"peak {peak / mib:.0f} MiB, +{over / mib:.0f} MiB = {ratio:.2f}× payload"
    )
    return Figure(
        4,
        f"Peak memory for a {edge}×{edge} b64 response",
        f"+{over / 2**20:.0f} MiB over idle = {ratio:.2f}× the payload",
        "≤ 3× payload",
        ratio <= 3.0,
        [
            f"A {edge}×{edge} PNG as `b64_json` (routmy dialect, image_config {tier}), padded "
            f"by the fake (`[fake:huge_b64={megabytes:g}]`) to the size a real image of that "
            f"resolution has on the wire: response body {payload / 2**20:.1f} MiB, "
            f"decoded file {decoded / 2**20:.1f} MiB.",
            "",
            f"- idle RSS of a freshly started server process after a warm-up run: "
            f"{idle / 2**20:.0f} MiB",
            f"- peak RSS (VmHWM, reset just before the submit): {peak / 2**20:.0f} MiB",
            f"- added at peak: {over / 2**20:.0f} MiB = {ratio:.2f}× the payload",
            f"- the run took {epoch(row['finished_at']) - epoch(row['created_at']):.2f} s",
        ],
    )


# --- 5. page weight ------------------------------------------------------------------------------


def figure_page_weight(app: Playground) -> Figure:
    from playwright.sync_api import sync_playwright

    session = app.login()
    origin = app.url
    transferred: dict[str, int] = {}
    urls: dict[str, str] = {}
    third_party: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/lib/chromium/chromium")
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.add_cookies(
            [{"name": k, "value": v, "url": origin} for k, v in session.cookies.items()]
        )
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.on(
            "Network.requestWillBeSent",
            lambda e: urls.update({e["requestId"]: e["request"]["url"]}),
        )  # noqa: E501
        cdp.on(
            "Network.loadingFinished",
            lambda e: transferred.update({e["requestId"]: e["encodedDataLength"]}),
        )
        page.on(
            "request",
            lambda r: (
                third_party.append(r.url)
                if not r.url.startswith((origin, "data:", "blob:"))
                else None
            ),
        )
        page.goto(origin + "/", wait_until="load")
        page.wait_for_timeout(1500)
        browser.close()
    total = sum(transferred.values())
    rows = sorted(((urls.get(k, k), v) for k, v in transferred.items()), key=lambda r: -r[1])
    print(
        f"  page weight: {total / 1024:.1f} KB in {len(rows)} requests, "
        f"{len(third_party)} third-party"
    )
    lines = [
        "A fresh Chromium (empty cache, logged in) loads the generate page; bytes are what went "
        "over the wire (Chrome's encodedDataLength: headers and compressed bodies).",
        "",
        "| request | transferred |",
        "| --- | --- |",
        *(f"| `{u.removeprefix(origin)}` | {v / 1024:.1f} KB |" for u, v in rows),
        f"| **total** | **{total / 1024:.1f} KB** |",
        "",
        f"Third-party requests: {len(third_party) or 'none'}.",
    ]
    return Figure(
        5,
        "Generate page, first load",
        f"{total / 1024:.1f} KB in {len(rows)} requests, {len(third_party)} third-party",
        "≤ 150 KB, no third party",
        total <= 150 * 1024 and not third_party,
        lines,
    )


# --- report --------------------------------------------------------------------------------------


def report(figures: list[Figure], quick: bool) -> str:
    info = machine()
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        "# Benchmarks",
        "",
        f"Written by `make bench` (`bench/run.py`) on {now}. Re-run it to refresh every number "
        "below; nothing in this file is typed by hand except the profiling notes at the end.",
    ]
    if quick:
        out += ["", "**Quick mode: tiny parameters, for checking the harness only.**"]
    out += ["", "## Machine", "", "| | |", "| --- | --- |"]
    out += [f"| {k} | {v} |" for k, v in info.items()]
    out += [
        "",
        "The fake gateway and the playground run as separate processes on this same machine. "
        "The playground runs as deployed: `manage.py serve` with `PLAYGROUND_DEBUG=false`, "
        "compressed static files, SQLite in WAL mode and the embedded executor (the defaults).",
        "",
        "## Results",
        "",
        "| # | figure | measured | target | |",
        "| --- | --- | --- | --- | --- |",
    ]
    out += [
        f"| {f.number} | {f.title} | {f.measured} | {f.target} | {'met' if f.met else 'MISSED'} |"
        for f in figures
    ]
    for f in figures:
        out += ["", f"## {f.number}. {f.title}", "", *f.details]
    notes = ROOT / "bench" / "PROFILES.md"
    if notes.exists():
        out += ["", notes.read_text().strip()]
    return "\n".join(out) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny parameters (harness check)")
    parser.add_argument("--only", default="1,2,3,4,5", help="comma-separated figure numbers")
    parser.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"), help="report path")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    parser.add_argument(
        "--spy",
        type=int,
        default=0,
        help="sample the server with py-spy while this figure runs; summary in bench/profiles/",
    )
    args = parser.parse_args()
    params = QUICK if args.quick else Params()
    only = {int(x) for x in args.only.split(",") if x.strip()}
    base = Path(tempfile.mkdtemp(prefix="playground-bench-"))
    print(f"data in {base}")
    fake = FakeGateway(base / "fake").start()
    app = Playground(base / "app")
    figures: list[Figure] = []
    try:
        ids = app.prepare(fake)
        seeded = queries = None
        if 3 in only:
            print("seeding the gallery…")
            seeded = json.loads(
                app.python(
                    "django_side.py", "seed", str(params.gallery_runs), str(params.gallery_images)
                ).splitlines()[-1]
            )
            queries = json.loads(app.python("django_side.py", "queries").splitlines()[-1])
        app.start()
        app.login()  # sessions first: password hashing is not what is measured
        if 3 in only:
            from bench.django_side import GALLERY_USER

            app.login(*GALLERY_USER)
        steps = {
            1: lambda: figure_overhead(app, fake, ids, params),
            2: lambda: figure_concurrency(app, ids, params),
            3: lambda: figure_gallery(app, params, seeded, queries),
            4: lambda: figure_memory(app, fake, ids, params),
            5: lambda: figure_page_weight(app),
        }
        for number, step in steps.items():
            if number not in only:
                continue
            spy = Spy(app.pid, base / f"spy-{number}.txt") if args.spy == number else None
            load_before = os.getloadavg()[0]
            figure = step()
            figure.details += [
                "",
                f"Machine load (1-minute average) before / after: {load_before:.1f} / "
                f"{os.getloadavg()[0]:.1f}.",
            ]
            figures.append(figure)
            if spy:
                summary = spy.stop()
                out = ROOT / "bench" / "profiles" / f"spy-figure-{number}.txt"
                out.parent.mkdir(exist_ok=True)
                out.write_text(summary + "\n")
                print(summary)
                print(f"wrote {out}")
    finally:
        app.stop()
        fake.stop()
        if not args.keep:
            import shutil

            shutil.rmtree(base, ignore_errors=True)
    Path(args.output).write_text(report(figures, args.quick))
    print()
    for f in figures:
        print(
            f"{f.number}. {f.title}: {f.measured} (target {f.target}) "
            f"{'met' if f.met else 'MISSED'}"
        )
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
