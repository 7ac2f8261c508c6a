"""Peak memory of the worker for 25k, 250k and 1M tutorial rows: it must grow with batchSize x parallelism,
not with the number of rows.

For each size, runs the real worker engine (worker/engine.py: streaming input, infer_stream, the results
writer) in a fresh child process against the Wallaroo simulator, with Kubernetes replaced by plain functions:
the input arrives as gzip ConfigMap-sized parts of 5,000 rows (written to disk beforehand) read one at a
time, as the worker reads ConfigMaps, and each finished results chunk is counted and dropped (as once stored in its
ConfigMap). Peak RSS is the child's VmHWM. Prints one JSON line.

    .venv/bin/python benchmarks/worker_memory.py [--rows 25000,250000,1000000] [--batch-size 1000] [--parallelism 2]
    .venv/bin/python benchmarks/worker_memory.py --whole-document --rows 25000,250000   # the former path
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

REPO = Path(__file__).resolve().parents[1]
ROWS_PER_PART = 5_000


def child(args: argparse.Namespace) -> None:
    import base64

    sys.path.insert(0, str(REPO))
    from wallaroo_operator.data.inputs import InputPart
    from wallaroo_operator.wallaroo import Credentials, WallarooApi, token_cache
    from wallaroo_operator.worker.engine import WorkerIO, run_shard
    from wallaroo_operator.worker.limits import WorkerLimits

    def parts():  # one ConfigMap's payload at a time, as the worker reads them
        for path in sorted(Path(args.parts_dir).glob("part-*.gz"), key=lambda p: int(p.stem.split("-")[1])):
            yield InputPart(f"{path.stem}/data.json", binary_b64=base64.b64encode(path.read_bytes()).decode())

    # 1M rows of this pipeline's 15 outputs need about 560 results ConfigMaps, more than results.maxConfigMaps
    # allows (500): lift the budget here, since the chunks are counted and dropped anyway.
    from wallaroo_operator.worker import engine

    budgeted = engine.ResultsWriter
    engine.ResultsWriter = lambda sink, max_chunks, **kwargs: budgeted(sink, max_chunks=10**6, **kwargs)

    chunks = []
    io = WorkerIO(
        input_parts=parts, store_chunk=lambda chunk: chunks.append(len(chunk.payload)) or "x", report=lambda state: None
    )
    tokens = token_cache.provider_for(
        args.token_url, Credentials(args.client, args.secret, "password", args.username, args.password), True
    )
    api = WallarooApi(args.api_url, tokens)
    workspace_id = api.workspace_id("urldemoworkspace")
    inference = {"batchSize": args.batch_size, "parallelism": args.parallelism}
    manifest = common.bench_manifest(args, workspace_id, api.external_url(workspace_id, "urldemopipeline"), inference)
    started = time.monotonic()
    if args.whole_document:
        outcome = whole_document(list(parts()), manifest, tokens)
        chunks = [0] * outcome["results"]
    else:
        outcome = run_shard(manifest, 0, io, WorkerLimits(1024 * 2**20), tokens=tokens, verify=True)
    with open("/proc/self/status") as status:
        peak_kib = int(next(line.split()[1] for line in status if line.startswith("VmHWM")))
    print(
        json.dumps(
            {
                "rows": outcome["rows"],
                "peak_rss_mib": round(peak_kib / 1024, 1),
                "seconds": round(time.monotonic() - started, 1),
                "results_config_maps": len(chunks),
            }
        )
    )


def whole_document(parts: list, manifest, tokens) -> dict:
    """The former in-operator path, for comparison: every part held, decoded whole, every output held."""
    from wallaroo_operator.data.inputs import decode_input
    from wallaroo_operator.wallaroo import ExternalUrlResolver, WallarooApi, run_inference
    from wallaroo_operator.worker.results import ResultsWriter

    data = decode_input(parts)
    resolver = ExternalUrlResolver(WallarooApi(manifest.api_url, tokens), manifest.workspace_id, "urldemopipeline")
    outcome = run_inference(
        resolver, data.rows, input_name=data.input_name, batch_size=1000, parallelism=2, tokens=tokens
    )
    writer = ResultsWriter(lambda chunk: str(chunk.index), max_chunks=10**6, inline_limit_bytes=0)
    writer.add(0, outcome.outputs)
    return {"rows": outcome.rows, "results": len(writer.finish()["resultConfigMaps"])}


def write_parts(directory: Path, rows: int) -> Path:
    """The input as gzip ConfigMap payloads of 5,000 tutorial-shaped rows each, written before the run."""
    sys.path.insert(0, str(REPO))
    from tests.support.data import aloha_rows
    from wallaroo_operator.data.inputs import gzip_json

    directory.mkdir(parents=True)
    for index, start in enumerate(range(0, rows, ROWS_PER_PART)):
        part = aloha_rows(min(ROWS_PER_PART, rows - start), seed=index)
        (directory / f"part-{index}.gz").write_bytes(gzip_json({"text_input": part}))
    return directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="25000,250000,1000000")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--parallelism", type=int, default=2)
    parser.add_argument(
        "--whole-document",
        action="store_true",
        help="measure the former in-operator path instead (whole input decoded, outputs held)",
    )
    for hidden in ("child-rows", "parts-dir", "api-url", "token-url", "client", "secret", "username", "password"):
        parser.add_argument(f"--{hidden}", type=int if hidden == "child-rows" else str, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_rows:
        return child(args)

    from wallaroo_simulator import run_simulator

    results = []
    with run_simulator() as sim, tempfile.TemporaryDirectory() as scratch:
        for rows in (int(r) for r in args.rows.split(",")):
            parts_dir = write_parts(Path(scratch) / str(rows), rows)
            command = [
                sys.executable,
                __file__,
                f"--child-rows={rows}",
                f"--parts-dir={parts_dir}",
                *(["--whole-document"] if args.whole_document else []),
                f"--batch-size={args.batch_size}",
                f"--parallelism={args.parallelism}",
                f"--api-url={sim.api_url}",
                f"--token-url={sim.token_url}",
                f"--client={sim.client}",
                f"--secret={sim.secret}",
                f"--username={sim.username}",
                f"--password={sim.password}",
            ]
            finished = subprocess.run(command, capture_output=True, text=True, check=False)
            if finished.returncode:
                sys.exit(f"the worker for {rows} rows failed:\n{finished.stderr[-3000:]}")
            results.append(json.loads(finished.stdout.strip().splitlines()[-1]))
    print(
        json.dumps(
            {
                "benchmark": "worker_memory" + ("_whole_document" if args.whole_document else ""),
                "batch_size": args.batch_size,
                "parallelism": args.parallelism,
                "runs": results,
            }
        )
    )


if __name__ == "__main__":
    main()
