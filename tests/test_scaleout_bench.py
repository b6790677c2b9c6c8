"""The benchmark harness starts what it needs and writes its report (tiny parameters: this checks
the harness, not the product's speed; `make bench` measures)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.scaleout_support import ROOT


@pytest.mark.browser
def test_it_runs_every_benchmark_with_tiny_parameters(tmp_path):
    report_path = tmp_path / "BENCHMARKS.md"
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(
        [sys.executable, "bench/run.py", "--quick", "--output", str(report_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = report_path.read_text()
    assert "Quick mode" in report
    assert "| cores | " in report
    for number in range(1, 6):
        assert f"\n| {number} | " in report, number  # each figure has its row in the results
        assert f"\n## {number}. " in report, number  # and its section
    assert "| **total** |" in report  # the page weight lists what was transferred
    for line in ("overhead", "concurrency", "gallery first page", "memory", "page weight"):
        assert f"  {line}" in done.stdout  # every figure was printed as it was measured
