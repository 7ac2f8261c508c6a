"""Batch size x parallelism sweep of the worker, to choose the CRD's defaults and to say how to tune them.

For each (batchSize, parallelism), the real worker engine (as in throughput.py) infers the tutorial's rows
against the simulator with the given latency per request; the direct async client with the same settings runs
right after, so every figure is also a ratio to a baseline measured under the same load. Peak memory grows
with batchSize x parallelism (benchmarks/worker_memory.py), so the best is the fastest setting within the
default memory limit's estimate, not merely the fastest.

    .venv/bin/python benchmarks/sweep.py [--rows 25000] [--latency 0.02] [--batch-sizes 250,500,1000,2000,5000]
        [--parallelism 1,2,4,8] [--repeat 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common
import throughput


def fits_default_limit(batch_size: int, parallelism: int, width: int = 50) -> bool:
    """Whether the worker would accept the setting under the default memory limit (its own check)."""
    from wallaroo_operator.data.inputs import InputError
    from wallaroo_operator.worker.limits import DEFAULT_MEMORY_BYTES, WorkerLimits

    try:
        WorkerLimits(DEFAULT_MEMORY_BYTES).check_in_flight(batch_size, parallelism, width)
    except InputError:
        return False
    return True


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ints = lambda s: [int(x) for x in s.split(",")]  # noqa: E731
    parser.add_argument("--rows", type=int, default=25_000)
    parser.add_argument("--latency", type=lambda s: [float(x) for x in s.split(",")], default=[0.02, 0.0])
    parser.add_argument("--batch-sizes", type=ints, default=[250, 500, 1000, 2000, 5000])
    parser.add_argument("--parallelism", type=ints, default=[1, 2, 4, 8])
    parser.add_argument("--format", default="legacy")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)
    started = common.machine()
    data = common.tutorial_rows(args.rows)
    payloads = common.gzip_parts(data)
    parts = common.input_parts(payloads)
    cases = []
    with common.simulator() as sim:
        session = throughput.Session(sim)
        for latency in args.latency:
            sim.set_latency(latency)
            for batch_size in args.batch_sizes:
                for parallelism in args.parallelism:
                    worker, direct = [], []
                    for _ in range(args.repeat):
                        worker.append(throughput.run_worker(session, parts, args.format, batch_size, parallelism))
                        direct.append(throughput.run_direct(session, payloads, args.format, batch_size, parallelism))
                    if not fits_default_limit(batch_size, parallelism):
                        continue  # the worker would refuse it (InsufficientWorkerMemory) under the default limit
                    case = {
                        "latency_s": latency,
                        "batch_size": batch_size,
                        "parallelism": parallelism,
                        "worker_rows_per_s": round(statistics.median(w["rows_per_s"] for w in worker)),
                        "direct_rows_per_s": round(statistics.median(d["rows_per_s"] for d in direct)),
                        "worker_cpu_s": round(statistics.median(w["cpu_seconds"] for w in worker), 3),
                        "fits_default_memory": fits_default_limit(batch_size, parallelism),
                    }
                    cases.append(case)
                    print(case, file=sys.stderr, flush=True)
    best = {}
    for latency in args.latency:
        fitting = [c for c in cases if c["latency_s"] == latency and c["fits_default_memory"]]
        top = max(fitting, key=lambda c: c["worker_rows_per_s"], default=None)
        best[str(latency)] = top and {"batch_size": top["batch_size"], "parallelism": top["parallelism"]}
    result = {
        "benchmark": "sweep",
        **started,
        "load_average_end": common.machine()["load_average"],
        "rows": args.rows,
        "format": args.format,
        "cases": cases,
        "best_within_default_memory": best,
    }
    common.emit(result)
    return result


if __name__ == "__main__":
    main()
