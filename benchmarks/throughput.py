"""Throughput of the worker against a direct async client and against the seed's single POST.

For each row count (the tutorial's 24,954 rows, repeated for more), simulator latency per request and request
format, in the same run and alternating, so the machine's load hits all of them alike:

* worker: the real worker engine (worker/engine.py run_shard: streaming decoding and validation of gzip
  ConfigMap-sized parts, infer_stream, the results writer; Kubernetes replaced by plain functions), with the
  CRD's defaults for batch size and parallelism unless given;
* direct: a hand-written aiohttp client with the same token, URL, batches and parallelism: gunzip and
  json.loads each part, json.dumps (or Arrow) each batch, POST, json.loads (or read) each answer, nothing kept;
* seed: the tutorial's own `requests.post(url, json=data)` of the whole document (refused past the load
  balancer's 4 MB, as 250k rows are: then its 25k-row rate stands in, which flatters it).

The simulator is a separate process, so the CPU seconds are the client's own. Figures are medians over
`--repeat` rounds; the JSON line holds every case and the ratios. `--operator` adds the whole operator
path (benchmarks/operator_path.py).

    .venv/bin/python benchmarks/throughput.py [--rows 25000,250000] [--latency 0,0.02]
        [--formats legacy,pandas-records,arrow] [--batch-size N] [--parallelism N] [--repeat 3] [--operator]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

PANDAS_QUERY = "?dataset[]=*&dataset.exclude[]=metadata&dataset.separator=."


def crd_defaults() -> tuple[int, int]:
    from wallaroo_operator.models.job import InferenceSpec

    defaults = InferenceSpec()
    return defaults.batch_size, defaults.parallelism


class Session:
    """Token, workspace id and URL, resolved once (the operator resolves them before a run, too)."""

    def __init__(self, sim: common.Simulator):
        from wallaroo_operator.wallaroo import Credentials, WallarooApi, token_cache

        self.sim = sim
        self.credentials = Credentials(sim.client, sim.secret, "password", sim.username, sim.password)
        self.tokens = token_cache.provider_for(sim.token_url, self.credentials, True)
        api = WallarooApi(sim.api_url, self.tokens)
        self.workspace_id = api.workspace_id("urldemoworkspace")
        self.url = api.external_url(self.workspace_id, "urldemopipeline")


def run_worker(session: Session, parts: list[Any], fmt: str, batch_size: int, parallelism: int) -> dict[str, Any]:
    from wallaroo_operator.worker import engine
    from wallaroo_operator.worker.engine import WorkerIO, run_shard
    from wallaroo_operator.worker.limits import WorkerLimits

    inference = {"batchSize": batch_size, "parallelism": parallelism, "format": fmt}
    manifest = common.bench_manifest(session.sim, session.workspace_id, session.url, inference)
    stored = []
    io = WorkerIO(
        input_parts=lambda: iter(parts),
        store_chunk=lambda chunk: stored.append(len(chunk.payload)) or "x",
        report=lambda state: None,
    )
    original = engine.ResultsWriter  # 250k+ rows of 15 outputs need more ConfigMaps than maxConfigMaps allows
    engine.ResultsWriter = lambda sink, max_chunks, **kw: original(sink, max_chunks=10**6, **kw)  # type: ignore
    try:
        return timed(
            lambda: run_shard(manifest, 0, io, WorkerLimits(2048 * 2**20), tokens=session.tokens, verify=True)["rows"]
        )
    finally:
        engine.ResultsWriter = original


def run_direct(session: Session, payloads: list[bytes], fmt: str, batch_size: int, parallelism: int) -> dict:
    token = session.tokens.token()
    return timed(lambda: asyncio.run(direct_client(session.url, token, payloads, fmt, batch_size, parallelism)))


async def direct_client(
    url: str, token: str, payloads: list[bytes], fmt: str, batch_size: int, parallelism: int
) -> int:
    """What a developer would write by hand: a bounded number of requests in flight, nothing kept."""
    import aiohttp
    import pyarrow as pa
    import pyarrow.ipc

    def batches():
        pending: list = []
        for payload in payloads:
            pending.extend(json.loads(gzip.decompress(payload))["text_input"])
            while len(pending) >= batch_size:
                yield pending[:batch_size]
                pending = pending[batch_size:]
        if pending:
            yield pending

    def encode(rows: list) -> bytes:
        if fmt == "arrow":
            table = pa.table({"text_input": pa.array(rows)})
            sink = pa.BufferOutputStream()
            with pa.ipc.new_file(sink, table.schema) as writer:
                writer.write_table(table)
            return sink.getvalue().to_pybytes()
        if fmt == "pandas-records":
            return json.dumps([{"text_input": row} for row in rows]).encode()
        return json.dumps({"text_input": rows}).encode()

    content_type = {
        "legacy": "application/json",
        "pandas-records": "application/json; format=pandas-records",
        "arrow": "application/vnd.apache.arrow.file",
    }[fmt]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
    target = url + (PANDAS_QUERY if fmt != "legacy" else "")
    rows = 0
    queue = iter(batches())

    async def sender(http: aiohttp.ClientSession) -> None:
        nonlocal rows
        for batch in queue:
            async with http.post(target, data=encode(batch), headers=headers) as response:
                body = await response.read()
                if response.status != 200:
                    raise RuntimeError(f"direct client: HTTP {response.status}: {body[:200]!r}")
                if fmt == "arrow":
                    pa.ipc.open_file(pa.BufferReader(body)).read_all()
                else:
                    json.loads(body)
            rows += len(batch)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=parallelism)) as http:
        await asyncio.gather(*(sender(http) for _ in range(parallelism)))
    return rows


def run_seed(session: Session, document: bytes) -> dict[str, Any]:
    """The tutorial's cell: json.load the file, one POST with the whole document, response.json()."""
    import requests

    def post() -> int:
        data = json.loads(document)
        headers = {"Authorization": "Bearer " + session.tokens.token(), "Content-Type": "application/json"}
        response = requests.post(session.url, json=data, headers=headers, timeout=600)
        if response.status_code != 200:
            return -response.status_code
        response.json()
        return len(data["text_input"])

    return timed(post)


def timed(action) -> dict[str, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    rows = action()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"rows": rows, "seconds": wall, "cpu_seconds": cpu, "rows_per_s": rows / wall if rows > 0 else 0.0}


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def measure(args: argparse.Namespace, sim: common.Simulator) -> list[dict[str, Any]]:
    session = Session(sim)
    cases = []
    for rows in args.rows:
        data = common.tutorial_rows(rows)
        payloads = common.gzip_parts(data)
        parts = common.input_parts(payloads)
        document = json.dumps({"text_input": data}, separators=(",", ":")).encode()
        del data
        for latency in args.latency:
            sim.set_latency(latency)
            seed = [run_seed(session, document) for _ in range(args.repeat if rows <= 50_000 else 1)]
            for fmt in args.formats:
                worker, direct = [], []
                for _ in range(args.repeat):
                    worker.append(run_worker(session, parts, fmt, args.batch_size, args.parallelism))
                    direct.append(run_direct(session, payloads, fmt, args.batch_size, args.parallelism))
                case = summarize(rows, latency, fmt, worker, direct, seed)
                cases.append(case)
                print(json.dumps(case), file=sys.stderr, flush=True)
        sim.set_latency(0)
    seed_rate = {c["latency_s"]: c["seed_rows_per_s"] for c in cases if c["seed_rows_per_s"]}
    for case in cases:  # refused single POSTs: compared with the seed's rate where it was not refused
        if not case["seed_rows_per_s"] and case["latency_s"] in seed_rate:
            case["speedup_vs_seed"] = common.ratio(case["worker_rows_per_s"], seed_rate[case["latency_s"]])
    return cases


def summarize(rows: int, latency: float, fmt: str, worker: list, direct: list, seed: list) -> dict[str, Any]:
    seed_refused = [r["rows"] for r in seed if r["rows"] < 0]
    worker_rate, direct_rate = median_of(worker, "rows_per_s"), median_of(direct, "rows_per_s")
    seed_rate = 0.0 if seed_refused else median_of(seed, "rows_per_s")
    return {
        "rows": rows,
        "latency_s": latency,
        "format": fmt,
        "worker_rows_per_s": round(worker_rate),
        "direct_rows_per_s": round(direct_rate),
        "seed_rows_per_s": round(seed_rate),
        "seed_refused_status": -seed_refused[0] if seed_refused else None,
        "worker_cpu_s": round(median_of(worker, "cpu_seconds"), 3),
        "direct_cpu_s": round(median_of(direct, "cpu_seconds"), 3),
        "ratio_vs_direct": round(
            statistics.median(w["rows_per_s"] / d["rows_per_s"] for w, d in zip(worker, direct, strict=True)), 3
        ),
        "cpu_vs_direct": round(
            statistics.median(w["cpu_seconds"] / d["cpu_seconds"] for w, d in zip(worker, direct, strict=True)), 2
        ),
        "speedup_vs_seed": common.ratio(worker_rate, seed_rate),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    batch_size, parallelism = crd_defaults()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="25000,250000", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--latency", default="0,0.02", type=lambda s: [float(x) for x in s.split(",")])
    parser.add_argument("--formats", default="legacy,pandas-records,arrow", type=lambda s: s.split(","))
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--parallelism", type=int, default=parallelism)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--operator", action="store_true", help="also the whole operator path, per row count")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    started = common.machine()
    with common.simulator() as sim:
        cases = measure(args, sim)
        operator_cases = []
        if args.operator:
            import operator_path

            operator_cases = operator_path.measure(sim, args.rows, args.latency, args.repeat, tuple(args.formats))
    result = {
        "benchmark": "throughput",
        **started,
        "load_average_end": common.machine()["load_average"],
        "batch_size": args.batch_size,
        "parallelism": args.parallelism,
        "cases": cases,
        "operator": operator_cases,
        "throughput_ratio_vs_direct": common.median(c["ratio_vs_direct"] for c in cases),
        "speedup_vs_seed": common.median(c["speedup_vs_seed"] for c in cases),
    }
    common.emit(result)
    return result


if __name__ == "__main__":
    main()
