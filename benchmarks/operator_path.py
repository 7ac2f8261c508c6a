"""Throughput of the whole operator path: InferenceJob created -> Succeeded in its status.

A real local control plane, the operator as a separate process (local executor: one worker process per run,
forked from the operator's forkserver), the input as gzip ConfigMaps of 5,000 rows selected by a label, the
operator's defaults. Compared in the same round with the direct async client of throughput.py (same rows,
same batches) and the seed's single POST. Wall time is from the create call until the job's status says
Succeeded (polled every 50 ms); CPU is the operator's process tree's (workers included).

    .venv/bin/python benchmarks/operator_path.py [--rows 25000] [--latency 0,0.02] [--formats legacy] [--repeat 3]
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cluster as clusters
import common
import throughput

from wallaroo_operator import constants as c


def tree_cpu(pid: int) -> float:
    return sum(common.process_cpu_seconds(p) for p in common.process_tree(pid))


def create_input(kube: Any, namespace: str, payloads: list[bytes], label: str) -> dict[str, Any]:
    for index, payload in enumerate(payloads):
        kube.core.create_namespaced_config_map(
            namespace,
            {
                "metadata": {"name": f"{label}-{index}", "labels": {"dataset": label}},
                "binaryData": {"data.json": base64.b64encode(payload).decode()},
            },
        )
    return {"selector": {"matchLabels": {"dataset": label}}}


def run_job(kube: Any, namespace: str, operator_pid: int, input_spec: dict, fmt: str, rows: int) -> dict[str, Any]:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    body = {
        "apiVersion": c.API_VERSION,
        "kind": c.JOB_KIND,
        "metadata": {"name": name},
        "spec": {
            "connectionRef": {"name": "wallaroo"},
            "workspace": "urldemoworkspace",
            "pipeline": "urldemopipeline",
            "input": input_spec,
            "inference": {"format": fmt},
            "results": {"maxConfigMaps": 500},
        },
    }
    cpu, started = tree_cpu(operator_pid), time.perf_counter()
    kube.custom.create_namespaced_custom_object(c.GROUP, c.VERSION, namespace, c.JOB_PLURAL, body)

    def finished() -> dict | None:
        job = kube.custom.get_namespaced_custom_object(c.GROUP, c.VERSION, namespace, c.JOB_PLURAL, name)
        phase = (job.get("status") or {}).get("phase")
        if phase == "Failed":
            raise RuntimeError(f"{name} failed: {json.dumps(job['status'].get('lastRun'))[:500]}")
        return job if phase == "Succeeded" else None

    job = clusters.wait_until(finished, 900, f"job {name} Succeeded")
    seconds, cpu = time.perf_counter() - started, tree_cpu(operator_pid) - cpu
    assert job["status"]["lastRun"]["rows"] == rows, job["status"]["lastRun"]["rows"]
    kube.custom.delete_namespaced_custom_object(c.GROUP, c.VERSION, namespace, c.JOB_PLURAL, name)
    return {"rows": rows, "seconds": seconds, "cpu_seconds": cpu, "rows_per_s": rows / seconds}


def measure(
    sim: common.Simulator,
    row_counts: list[int],
    latencies: list[float],
    repeat: int,
    formats: tuple[str, ...] = ("legacy",),
) -> list[dict[str, Any]]:
    session = throughput.Session(sim)
    batch_size, parallelism = throughput.crd_defaults()
    cases = []
    with clusters.control_plane() as cluster:
        namespace = clusters.namespace_with_connection(cluster, sim, "bench-throughput")
        with clusters.operator(cluster, namespace) as operator:
            warm = create_input(cluster.kube, namespace, common.gzip_parts(common.tutorial_rows(10)), "warm")
            run_job(cluster.kube, namespace, operator.pid, warm, "legacy", 10)  # forkserver and caches warm
            for rows in row_counts:
                payloads = common.gzip_parts(common.tutorial_rows(rows))
                document = json.dumps({"text_input": common.tutorial_rows(rows)}, separators=(",", ":")).encode()
                input_spec = create_input(cluster.kube, namespace, payloads, f"rows{rows}")
                for latency in latencies:
                    sim.set_latency(latency)
                    seed = [throughput.run_seed(session, document)]
                    for fmt in formats:
                        runs, direct = [], []
                        for _ in range(repeat):
                            runs.append(run_job(cluster.kube, namespace, operator.pid, input_spec, fmt, rows))
                            direct.append(throughput.run_direct(session, payloads, fmt, batch_size, parallelism))
                        case = summarize(rows, latency, fmt, runs, direct, seed)
                        cases.append(case)
                        print(json.dumps(case), file=sys.stderr, flush=True)
                sim.set_latency(0)
    return cases


def summarize(rows: int, latency: float, fmt: str, runs: list, direct: list, seed: list) -> dict[str, Any]:
    rate = statistics.median(r["rows_per_s"] for r in runs)
    seed_rate = 0.0 if seed[0]["rows"] < 0 else seed[0]["rows_per_s"]
    return {
        "path": "operator",
        "rows": rows,
        "latency_s": latency,
        "format": fmt,
        "operator_rows_per_s": round(rate),
        "direct_rows_per_s": round(statistics.median(d["rows_per_s"] for d in direct)),
        "seed_rows_per_s": round(seed_rate),
        "operator_cpu_s": round(statistics.median(r["cpu_seconds"] for r in runs), 3),
        "direct_cpu_s": round(statistics.median(d["cpu_seconds"] for d in direct), 3),
        "ratio_vs_direct": round(
            statistics.median(r["rows_per_s"] / d["rows_per_s"] for r, d in zip(runs, direct, strict=True)), 3
        ),
        "speedup_vs_seed": common.ratio(rate, seed_rate),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="25000", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--latency", default="0,0.02", type=lambda s: [float(x) for x in s.split(",")])
    parser.add_argument("--formats", default="legacy", type=lambda s: tuple(s.split(",")))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    started = common.machine()
    with common.simulator() as sim:
        cases = measure(sim, args.rows, args.latency, args.repeat, args.formats)
    result = {
        "benchmark": "operator_path",
        **started,
        "load_average_end": common.machine()["load_average"],
        "cases": cases,
        "throughput_ratio_vs_direct": common.median(c["ratio_vs_direct"] for c in cases),
    }
    common.emit(result)
    return result


if __name__ == "__main__":
    main()
