"""A small version of every benchmark in one go (under 3 minutes), so the scripts are run by the tests.

The worker's throughput against the direct client and against the seed's single POST (25k rows, 20 ms per
request, legacy format, one round), and the scale benchmark with a handful of jobs for one slot. Its figures
are indicative only (one round on a shared machine); `make bench` runs the full versions. The last line is
one JSON object: throughput_ratio_vs_direct, speedup_vs_seed, p99_schedule_lag_s, api_writes_per_run.

    .venv/bin/python benchmarks/bench_quick.py [--rows 25000] [--scheduled 10] [--oneshot 5]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common
import scale
import throughput


def quiet(main, argv: list[str]) -> dict:
    """Run a benchmark's main, keeping its JSON line off stdout (so ours is the last line)."""
    with contextlib.redirect_stdout(io.StringIO()):
        return main(argv)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=25_000)
    parser.add_argument("--scheduled", type=int, default=10)
    parser.add_argument("--oneshot", type=int, default=5)
    args = parser.parse_args()
    started = common.machine()
    speed = quiet(throughput.main, [f"--rows={args.rows}", "--latency=0.02", "--formats=legacy", "--repeat=1"])
    load = quiet(scale.main, [f"--scheduled={args.scheduled}", f"--oneshot={args.oneshot}", "--slots=1", "--grace=60"])
    print(
        {"throughput": speed["cases"], "scale": {k: v for k, v in load.items() if "by_resource" not in k}},
        file=sys.stderr,
    )
    common.emit(
        {
            "throughput_ratio_vs_direct": speed["throughput_ratio_vs_direct"],
            "speedup_vs_seed": speed["speedup_vs_seed"],
            "p99_schedule_lag_s": load["schedule_lag_p99_s"],
            "api_writes_per_run": load["api_writes_per_run"],
            "load_average": started["load_average"],
            "correct": load["correct"],
        }
    )


if __name__ == "__main__":
    main()
