"""Capacity of the Wallaroo simulator itself, so it is never what limits the operator's benchmarks.

Starts the simulator as a separate process (``python -m wallaroo_simulator up`` on loopback, in a
temporary state directory), drives it with concurrent asyncio clients for a bounded time per workload,
prints a markdown table, and stops it. Targets: >= 20,000 rows/s in 1,000-row batches and >= 1,000 small
requests/s.

Baseline, in the same run: a bare aiohttp server (a separate process on 127.0.0.1) driven by the same
load generator, concurrency and duration right after each workload. For 1-row workloads it answers a fixed
small JSON body without reading the request; for 1,000-row workloads it reads the whole request and answers
the simulator's own answer to that batch, captured once, as fixed bytes. So the ratio isolates the
simulator's own work (authentication, parsing, model, serialising).

    .venv/bin/python benchmarks/simulator_capacity.py [--seconds 5] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import random
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import requests
from aiohttp import web
from aiohttp.typedefs import Handler

ROWS_TARGET = 20_000
REQUESTS_TARGET = 1_000
MAX_REQUESTS_PER_WORKLOAD = 200_000  # a hard bound besides the time limit
SMALL_ANSWER = b'{"ok": true}'
BASELINE_MAX_BODY_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Workload:
    name: str
    pipeline: str
    content_type: str
    rows_per_request: int
    target: str  # which target the workload checks: "rows/s" or "req/s"
    query: str = ""


RECORDS = "application/json; format=pandas-records"
SDK_QUERY = "?dataset[]=*&dataset.exclude[]=metadata&dataset.separator=."  # what the Wallaroo SDK sends


WORKLOADS = [
    Workload("aloha, legacy JSON, 1,000-row batches", "urldemopipeline", "application/json", 1000, "rows/s"),
    Workload(
        "ccfraud, pandas-records (SDK query), 1,000-row batches", "ccfraudpipeline", RECORDS, 1000, "rows/s", SDK_QUERY
    ),
    Workload("aloha, legacy JSON, 1 row", "urldemopipeline", "application/json", 1, "req/s"),
    Workload("ccfraud, pandas-records (SDK query), 1 row", "ccfraudpipeline", RECORDS, 1, "req/s", SDK_QUERY),
]


@dataclass
class Result:
    workload: Workload
    concurrency: int
    requests: int
    errors: int
    seconds: float

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds

    @property
    def rows_per_second(self) -> float:
        return self.requests * self.workload.rows_per_request / self.seconds

    @property
    def meets_target(self) -> bool:
        if self.workload.target == "rows/s":
            return self.rows_per_second >= ROWS_TARGET
        return self.requests_per_second >= REQUESTS_TARGET


def request_body(workload: Workload, generator: random.Random) -> bytes:
    """Seed-shaped rows: aloha's 50 token ids (leading zeros, then small ints), ccfraud's 29 floats."""
    if workload.pipeline == "urldemopipeline":
        rows = [[0] * 40 + [generator.randint(10, 36) for _ in range(10)] for _ in range(workload.rows_per_request)]
    else:
        rows = [[round(generator.gauss(0, 1), 10) for _ in range(29)] for _ in range(workload.rows_per_request)]
    field = "text_input" if workload.pipeline == "urldemopipeline" else "tensor"
    if workload.content_type == RECORDS:
        return json.dumps([{field: row} for row in rows]).encode()
    return json.dumps({field: rows}).encode()


async def run_workload(workload: Workload, url: str, token: str, concurrency: int, seconds: float) -> Result:
    body = request_body(workload, random.Random(7))
    headers = {"Authorization": f"Bearer {token}", "Content-Type": workload.content_type}
    counts = {"requests": 0, "errors": 0}
    deadline = time.monotonic() + seconds

    async def client(session: aiohttp.ClientSession) -> None:
        while time.monotonic() < deadline and counts["requests"] < MAX_REQUESTS_PER_WORKLOAD:
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                counts["requests" if response.status == 200 else "errors"] += 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.monotonic()
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
        elapsed = time.monotonic() - started
    return Result(workload, concurrency, counts["requests"], counts["errors"], elapsed)


def fixed_answer(body: bytes, read_request: bool) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        if read_request:
            await request.read()
        return web.Response(body=body, content_type="application/json")

    return handler


def serve_baseline(sock: socket.socket, row_answers: dict[str, bytes]) -> None:
    """The bare aiohttp server (in its own process): POST /small, and POST <path> for each row answer."""
    app = web.Application(client_max_size=BASELINE_MAX_BODY_BYTES)
    app.router.add_post("/small", fixed_answer(SMALL_ANSWER, read_request=False))
    for path, answer in row_answers.items():
        app.router.add_post(path, fixed_answer(answer, read_request=True))
    web.run_app(app, sock=sock, print=None, access_log=None, shutdown_timeout=1.0)


def start_baseline(row_answers: dict[str, bytes]) -> tuple[multiprocessing.process.BaseProcess, str]:
    """Listens on 127.0.0.1 here (so no port race) and hands the socket to a fresh process that serves it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        process = multiprocessing.get_context("spawn").Process(
            target=serve_baseline, args=(sock, row_answers), daemon=True
        )
        process.start()
        return process, f"http://127.0.0.1:{sock.getsockname()[1]}"


def stop_baseline(process: multiprocessing.process.BaseProcess) -> None:
    process.terminate()
    process.join(10)
    if process.is_alive():
        process.kill()
        process.join(10)


def baseline_path(index: int, workload: Workload) -> str:
    return f"/rows/{index}" if workload.rows_per_request > 1 else "/small"


def captured_answer(workload: Workload, url: str, token: str) -> bytes:
    """The simulator's answer to the workload's request body, for the bare server to send as fixed bytes."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": workload.content_type}
    response = requests.post(url, data=request_body(workload, random.Random(7)), headers=headers, timeout=30)
    response.raise_for_status()
    return response.content


def start_simulator(state_dir: Path) -> dict[str, str]:
    command = [sys.executable, "-m", "wallaroo_simulator"]
    subprocess.run(
        [*command, "up", "--host", "127.0.0.1", "--state-dir", str(state_dir)], check=True, stdout=subprocess.DEVNULL
    )
    return json.loads((state_dir / "connection.json").read_text())


def stop_simulator(state_dir: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "wallaroo_simulator", "down", "--state-dir", str(state_dir)],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def password_token(connection: dict[str, str]) -> str:
    form = {"grant_type": "password", "username": connection["username"], "password": connection["password"]}
    response = requests.post(
        connection["token_url"], auth=(connection["client"], connection["secret"]), data=form, timeout=10
    )
    response.raise_for_status()
    return response.json()["access_token"]


def markdown_table(results: list[tuple[Result, Result]]) -> str:
    lines = [
        "| workload | concurrency | requests | errors | seconds | requests/s | rows/s | bare aiohttp requests/s "
        "| vs bare aiohttp | target |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r, bare in results:
        target = f"{ROWS_TARGET:,} rows/s" if r.workload.target == "rows/s" else f"{REQUESTS_TARGET:,} req/s"
        verdict = "met" if r.meets_target else "MISSED"
        bare_errors = f" ({bare.errors} errors)" if bare.errors else ""
        ratio = r.requests_per_second / bare.requests_per_second if bare.requests else float("nan")
        lines.append(
            f"| {r.workload.name} | {r.concurrency} | {r.requests:,} | {r.errors} | {r.seconds:.1f} | "
            f"{r.requests_per_second:,.0f} | {r.rows_per_second:,.0f} | "
            f"{bare.requests_per_second:,.0f}{bare_errors} | {ratio:.2g}x | {target}: {verdict} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each workload (max 60)")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent clients (max 256)")
    args = parser.parse_args()
    seconds, concurrency = min(args.seconds, 60.0), min(args.concurrency, 256)
    with tempfile.TemporaryDirectory(prefix="simulator-capacity-") as state:
        state_dir = Path(state)
        connection = start_simulator(state_dir)
        try:
            token = password_token(connection)
            urls = {
                p: requests.get(connection["admin_url"] + "/world", timeout=10).json()["pipelines"][p]["url"]
                for p in {w.pipeline for w in WORKLOADS}
            }
            row_answers = {
                baseline_path(i, w): captured_answer(w, urls[w.pipeline] + w.query, token)
                for i, w in enumerate(WORKLOADS)
                if w.rows_per_request > 1
            }
            baseline, baseline_url = start_baseline(row_answers)
            try:
                requests.post(baseline_url + "/small", timeout=30).raise_for_status()  # up and answering
                results = [
                    (
                        asyncio.run(run_workload(w, urls[w.pipeline] + w.query, token, concurrency, seconds)),
                        asyncio.run(
                            run_workload(w, baseline_url + baseline_path(i, w) + w.query, token, concurrency, seconds)
                        ),
                    )
                    for i, w in enumerate(WORKLOADS)
                ]
            finally:
                stop_baseline(baseline)
        finally:
            stop_simulator(state_dir)
    print(markdown_table(results))
    return 0 if all(r.meets_target and not r.errors and not bare.errors for r, bare in results) else 1


if __name__ == "__main__":
    sys.exit(main())
