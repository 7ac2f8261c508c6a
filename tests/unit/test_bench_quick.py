"""`make bench-quick` runs, so the benchmark scripts do not rot: its last line is the JSON object it promises.

No figure is asserted (timings on a shared machine are not a test); only that it ran and said what it measured.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support.kube import REPO_ROOT

KEYS = {"throughput_ratio_vs_direct", "speedup_vs_seed", "p99_schedule_lag_s", "api_writes_per_run"}


def test_bench_quick_ends_with_its_json_line() -> None:
    finished = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "benchmarks" / "bench_quick.py"),
            "--rows=5000",
            "--scheduled=3",
            "--oneshot=2",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    figures = json.loads(finished.stdout.strip().splitlines()[-1])
    assert figures.keys() >= KEYS, figures
