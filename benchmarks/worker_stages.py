"""Where a 25k-row worker run spends its CPU, stage by stage, against what a direct client spends on the same
work. Each stage is timed alone (`time.process_time`, best of `--repeat`), on the real code the worker runs:

* validate: InputStream.scan(), every row of every gzip part read and checked (the pass before any request);
* read to send: InputStream.rows(), the second pass, which hands the rows to the batches;
* encode: formats.encode_batch of every batch;
* decode answers: http.decode_json and formats.parse_outputs of every answer (answers fetched once from the
  simulator beforehand, so no network is timed);
* results: ResultsWriter.add of every batch's outputs and finish() (the rows' JSON, the summaries);
* direct: what benchmarks/throughput.py's direct client does with the same data, minus the network: gunzip
  and json.loads each part, json.dumps each batch, json.loads each answer.

    .venv/bin/python benchmarks/worker_stages.py [--rows 25000] [--format legacy] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common


def best_cpu(action: Callable[[], Any], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        action()
        best = min(best, time.process_time() - started)
    return round(best, 3)


def answers_for(sim: common.Simulator, batches: list[list[Any]], fmt: str) -> list[bytes]:
    """The simulator's answer to each batch, fetched once."""
    import requests

    from wallaroo_operator.wallaroo import Credentials, WallarooApi, token_cache
    from wallaroo_operator.wallaroo.formats import encode_batch

    tokens = token_cache.provider_for(
        sim.token_url, Credentials(sim.client, sim.secret, "password", sim.username, sim.password), True
    )
    api = WallarooApi(sim.api_url, tokens)
    url = api.external_url(api.workspace_id("urldemoworkspace"), "urldemopipeline")
    answers = []
    with requests.Session() as session:
        for rows in batches:
            request = encode_batch(rows, "text_input", fmt)  # type: ignore[arg-type]
            headers = {**request.headers, "Authorization": f"Bearer {tokens.token()}"}
            response = session.post(url, data=request.body, headers=headers, params=request.params, timeout=60)
            response.raise_for_status()
            answers.append(response.content)
    return answers


def measure(rows_count: int, fmt: str, batch_size: int, repeat: int, sim: common.Simulator) -> dict[str, Any]:
    from wallaroo_operator.data.streaming import InputStream, StreamLimits
    from wallaroo_operator.wallaroo.formats import encode_batch, parse_outputs
    from wallaroo_operator.wallaroo.http import decode_json
    from wallaroo_operator.worker.results import ResultsWriter

    data = common.tutorial_rows(rows_count)
    payloads = common.gzip_parts(data)
    parts = common.input_parts(payloads)
    limits = StreamLimits(max_decompressed_bytes=512 * 2**20, max_row_bytes=4 * 2**20)  # a 256 MiB worker's
    batches = [data[start : start + batch_size] for start in range(0, len(data), batch_size)]
    answers = answers_for(sim, batches, fmt)

    def stream() -> InputStream:
        return InputStream(lambda: iter(parts), limits)

    def decode_answers() -> list[Any]:
        return [
            parse_outputs(decode_json(answer) if fmt != "arrow" else answer, fmt, len(rows))  # type: ignore[arg-type]
            for answer, rows in zip(answers, batches, strict=True)
        ]

    scanned = stream()
    scanned.scan()
    decoded = decode_answers()

    def results() -> None:
        writer = ResultsWriter(lambda chunk: "x", max_chunks=10**6, inline_limit_bytes=4096)
        for index, outputs in enumerate(decoded):
            writer.add(index * batch_size, outputs)
        writer.finish()

    def direct() -> None:
        for payload in payloads:
            json.loads(gzip.decompress(payload))
        for rows in batches:
            json.dumps({"text_input": rows}).encode()
        for answer in answers:
            json.loads(answer)

    stages = {
        "validate": best_cpu(lambda: stream().scan(), repeat),
        "read_to_send": best_cpu(lambda: sum(1 for _ in scanned.rows(0, len(data))), repeat),
        "encode": best_cpu(lambda: [encode_batch(rows, "text_input", fmt) for rows in batches], repeat),  # type: ignore[arg-type]
        "decode_answers": best_cpu(decode_answers, repeat),
        "results": best_cpu(results, repeat),
    }
    return {
        "rows": len(data),
        "format": fmt,
        "stages_cpu_s": stages,
        "worker_stages_cpu_s": round(sum(stages.values()), 3),
        "direct_cpu_s": best_cpu(direct, repeat) if fmt == "legacy" else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=25_000)
    parser.add_argument("--format", default="legacy", choices=["legacy", "pandas-records", "arrow"])
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    result = {"benchmark": "worker_stages", **common.machine()}
    with common.simulator() as sim:
        sim.set_latency(0.0)
        result.update(measure(args.rows, args.format, args.batch_size, args.repeat, sim))
    result["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    common.emit(result)


if __name__ == "__main__":
    main()
