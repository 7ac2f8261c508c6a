"""Throughput of the client's three request formats against the simulator: legacy, pandas-records, arrow.

The whole client path is measured (encode, POST, the simulator's work, parse into per-row outputs), for
the tutorial's aloha shape (50 ints -> 15 outputs) and ccfraud's (29 floats -> 1 output), 24,954 rows in
1,000-row batches, 2 requests in flight, best of `--repeat` runs. The simulator runs in the same process
(a background thread), so absolute numbers are lower than against a separate server; the ratios are what
this compares. Bounded: a fixed row count and a fixed number of repetitions.

    .venv/bin/python benchmarks/request_formats.py [--rows 24954] [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import time

from wallaroo_operator.wallaroo import (
    Credentials,
    ExternalUrlResolver,
    TokenProvider,
    WallarooApi,
    run_inference,
)
from wallaroo_operator.wallaroo.formats import REQUEST_FORMATS, encode_batch
from wallaroo_operator.wallaroo.http import new_session
from wallaroo_simulator import run_simulator

SHAPES = {  # pipeline: (workspace, input name, row maker)
    "urldemopipeline": ("urldemoworkspace", "text_input", lambda g: [0] * 35 + [g.randint(10, 36) for _ in range(15)]),
    "ccfraudpipeline": ("ccfraudworkspace", "tensor", lambda g: [round(g.gauss(0, 1), 10) for _ in range(29)]),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=24_954)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"| pipeline | format | rows/s (best of {args.repeat}) | request bytes per 1,000 rows |")
    print("|---|---|---|---|")
    with run_simulator() as sim:
        credentials = Credentials(
            client_id=sim.client,
            client_secret=sim.secret,
            grant="password",
            username=sim.username,
            password=sim.password,
        )
        tokens = TokenProvider(sim.token_url, credentials, new_session())
        api = WallarooApi(sim.api_url, tokens, new_session())
        for pipeline, (workspace, input_name, make_row) in SHAPES.items():
            generator = random.Random(1)
            rows = [make_row(generator) for _ in range(args.rows)]
            resolver = ExternalUrlResolver(api, api.workspace_id(workspace), pipeline)
            for fmt in REQUEST_FORMATS:
                best = 0.0
                for _ in range(args.repeat):
                    started = time.perf_counter()
                    run_inference(
                        resolver,
                        rows,
                        input_name=input_name,
                        request_format=fmt,
                        batch_size=1000,
                        parallelism=2,
                        tokens=tokens,
                    )
                    best = max(best, len(rows) / (time.perf_counter() - started))
                size = len(encode_batch(rows[:1000], input_name, fmt).body)
                print(f"| {pipeline} | {fmt} | {best:,.0f} | {size:,} |", flush=True)


if __name__ == "__main__":
    main()
