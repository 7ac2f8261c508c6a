"""`wallaroo-operator run-job -f job.yaml`: run one InferenceJob here and now, without a cluster.

The same engine as a run in the cluster (the worker's run_shard: every row checked before the first is
sent, batches in parallel, retries, the same results), with local ends: the WallarooConnection and any
input ConfigMaps come from the -f files (several files, or several documents in one), the credentials
from environment variables or --credentials FILE, the rows from those ConfigMaps, from --input files
(JSON, JSON Lines, either gzipped, Parquet) or the job's input.objectStore, and the results go to
--output DIR (results.jsonl and summary.json) or the job's results.objectStore.

Credentials (never printed): $WALLAROO_CLIENT_SECRET, and for the password grant $WALLAROO_USERNAME and
$WALLAROO_PASSWORD; or --credentials FILE, a YAML or JSON file with the Secret's keys (clientSecret,
username, password) or a Secret manifest. $WALLAROO_CA_FILE (or --ca-file) trusts a private CA. An
object store uses the AWS variables ($AWS_ACCESS_KEY_ID, $AWS_SECRET_ACCESS_KEY) or profile.

Exit codes:
  0    the run succeeded
  1    the inference failed (Wallaroo refused the request, an unexpected answer, results not written)
  2    usage error or invalid manifest (a flag, an unreadable file, a document failing the CRD schema,
       the connection or an input ConfigMap missing from the -f files, credentials not given)
  3    credentials refused (by Wallaroo's Keycloak or by the object store)
  4    invalid input data (invalid JSON, rows of different widths, NaN, too large, ...)
  5    a transient failure: Wallaroo or the object store unreachable or failing after the retries;
       running again later may succeed
  130  interrupted (Ctrl-C)
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wallaroo_operator.cli.manifest_command import add_manifest_command
from wallaroo_operator.rfc3339 import compact_utc

if TYPE_CHECKING:
    from wallaroo_operator.cli.progress import Progress
    from wallaroo_operator.cli.run_job_inputs import InputParts
    from wallaroo_operator.cli.run_job_results import Sink
    from wallaroo_operator.models.connection import WallarooConnectionSpec

OK, FAILED, USAGE, CREDENTIALS, INVALID_INPUT, TRANSIENT, INTERRUPTED = 0, 1, 2, 3, 4, 5, 130
CREDENTIAL_REASONS = frozenset(
    {
        "AuthenticationFailed",
        "InvalidCredentials",
        "InvalidClientCredentials",
        "AccountDisabled",
        "AccountNotSetUp",
        "ClientNotAllowed",
        "ObjectStoreAuthenticationFailed",
        "AccessDenied",
    }
)
INPUT_REASONS = frozenset(
    {
        "InvalidInput",
        "InputTooLarge",
        "InsufficientWorkerMemory",
        "EmptyInput",
        "InputNotFound",
        "InputColumnNotFound",
        "ResultsTooLarge",
    }
)
PROGRESS_SECONDS = 0.25


def add_parser(commands: Any) -> None:
    command = add_manifest_command(
        commands,
        "run-job",
        help="run one InferenceJob manifest locally against Wallaroo, without a cluster",
        description=__doc__,
        files_help="manifests: the InferenceJob, its WallarooConnection and input ConfigMaps "
        "(repeatable; - reads standard input)",
    )
    command.add_argument("--job", metavar="NAME", help="which InferenceJob, when the files hold several")
    command.add_argument(
        "-i",
        "--input",
        action="append",
        type=Path,
        default=[],
        metavar="PATH",
        help="read the rows from this local file instead of the job's input (repeatable, in "
        "order): .json, .jsonl/.ndjson, optionally .gz, or .parquet",
    )
    command.add_argument("--column", help="the input column of JSON Lines or Parquet files with several")
    command.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="DIR",
        help="write results.jsonl and summary.json here (default: the job's "
        "results.objectStore; one of the two is needed)",
    )
    command.add_argument(
        "--credentials",
        type=Path,
        metavar="FILE",
        help="the Wallaroo credentials (YAML/JSON with clientSecret, username, password, or "
        "a Secret manifest) instead of $WALLAROO_CLIENT_SECRET, $WALLAROO_USERNAME, "
        "$WALLAROO_PASSWORD",
    )
    command.add_argument("--ca-file", metavar="PEM", help="a CA bundle for Wallaroo (default: $WALLAROO_CA_FILE)")
    command.add_argument("--quiet", action="store_true", help="no progress, only the summary and errors")
    command.add_argument(
        "--traceback",
        action="store_true",
        help="on a failure no module expected (InternalError), also print the Python traceback",
    )


def run(args: argparse.Namespace, extra: list[str]) -> int:
    from wallaroo_operator.cli.run_job_inputs import UsageError

    try:
        job = LocalJob.from_args(args)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE
    return job.execute(quiet=args.quiet, traceback=args.traceback)


def exit_code(reason: str, retryable: bool) -> int:
    if reason in CREDENTIAL_REASONS:
        return CREDENTIALS
    if reason in INPUT_REASONS:
        return INVALID_INPUT
    if reason == "InvalidSpec":
        return USAGE
    return TRANSIENT if retryable and reason != "InternalError" else FAILED


@dataclass
class LocalJob:
    name: str
    namespace: str
    spec: dict[str, Any]
    connection: WallarooConnectionSpec
    credentials: dict[str, str]  # client_secret, username, password
    ca_file: str | None
    input_parts: InputParts
    sink: Sink
    run_id: str

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> LocalJob:
        from wallaroo_operator.cli import run_job_setup as setup
        from wallaroo_operator.cli.run_job_inputs import UsageError

        documents = setup.read_documents(args.filename)
        job = setup.pick_job(documents, args.job)
        spec = setup.checked_spec(job)
        name = job["metadata"]["name"]
        connection = setup.connection_spec(documents, spec.connection_ref.name, name)
        credentials = setup.wallaroo_credentials(args.credentials, connection.grant)
        ca_file = args.ca_file or os.environ.get("WALLAROO_CA_FILE")
        if ca_file and not Path(ca_file).is_file():
            raise UsageError(f"--ca-file {ca_file}: no such file")
        if connection.ca_bundle and not connection.insecure_skip_tls_verify and not ca_file:
            raise UsageError(
                f"WallarooConnection {spec.connection_ref.name} trusts a CA bundle kept in the cluster "
                "(caBundle); give the PEM file with --ca-file or $WALLAROO_CA_FILE"
            )
        namespace = (job.get("metadata") or {}).get("namespace") or "default"
        run_id = "local-" + compact_utc()
        return cls(
            name,
            namespace,
            dict(job["spec"]),
            connection,
            credentials,
            ca_file,
            setup.input_parts(args, spec, documents),
            setup.results_sink(args.output, spec, namespace, name, run_id),
            run_id,
        )

    def execute(self, *, quiet: bool, traceback: bool = False) -> int:
        from wallaroo_operator.cli.progress import Progress
        from wallaroo_operator.cli.run_job_inputs import UsageError
        from wallaroo_operator.controller.errors import Disposition, classify

        progress = None if quiet else Progress(sys.stderr)
        cancel = threading.Event()
        try:
            self.sink.check()
            summary = self._run(progress, cancel)
        except UsageError as error:
            self._abandon(progress)
            print(f"error: {error}", file=sys.stderr)
            return USAGE
        except KeyboardInterrupt:
            cancel.set()
            self._abandon(progress)
            print("interrupted: no results were kept", file=sys.stderr)
            return INTERRUPTED
        except Exception as error:  # every failure ends in one line: the reason and what to do
            self._abandon(progress)
            failure = classify(error)
            message = _one_line(failure.message).replace(
                "the operator log has the traceback", "--traceback shows where"
            )
            if traceback:
                import traceback as tb

                tb.print_exception(error, file=sys.stderr)
            print(f"error: {failure.reason}: {message}", file=sys.stderr)
            return exit_code(failure.reason, failure.disposition is Disposition.RETRY)
        if progress is not None:
            progress.finish()
        print_summary(summary, sys.stdout)
        return OK

    def _abandon(self, progress: Progress | None) -> None:
        if progress is not None:
            progress.close()
        self.sink.abandon()

    def _run(self, progress: Progress | None, cancel: threading.Event) -> dict[str, Any]:
        from wallaroo_operator.cli.run_job_setup import resolve
        from wallaroo_operator.models.job import InferenceJobSpec
        from wallaroo_operator.worker.engine import WorkerIO, run_shard
        from wallaroo_operator.worker.limits import WorkerLimits
        from wallaroo_operator.worker.results import merge_shard_records

        started_at, started = _now(), time.monotonic()
        resolved = resolve(self)
        spec = InferenceJobSpec.model_validate(resolved.manifest.spec)
        shards = resolved.manifest.shards
        totals: dict[int, int] = {}
        done: dict[int, int] = {}

        def reporter(shard: int) -> Callable[[dict[str, Any]], None]:
            def report(state: dict[str, Any]) -> None:
                if "rowsTotal" in state:
                    totals[shard] = state["rowsTotal"]
                done[shard] = state.get("rowsDone", 0)
                if progress is not None:  # shards not started yet: as many rows as the first (they differ by <= 1)
                    total = sum(totals.values()) + (shards - len(totals)) * max(totals.values(), default=0)
                    progress.update(sum(done.values()), total, force=state.get("state") != "Running")

            return report

        outcomes = []
        for shard in range(shards):
            self.sink.shard = shard
            # Progress several times a second, for the bar (which draws at most 10 a second).
            io = WorkerIO(
                input_parts=self.input_parts,
                store_chunk=self.sink.store_chunk,
                report=reporter(shard),
                progress_interval=PROGRESS_SECONDS,
            )
            # The whole machine's memory is this worker's: the limit only guards against runaway batches.
            limits = WorkerLimits(memory_bytes=_memory_bytes())
            outcome = run_shard(
                resolved.manifest, shard, io, limits, tokens=resolved.tokens, verify=resolved.verify, cancel=cancel
            )
            io.report(outcome)  # the shard's outcome is its last report, as the worker command does
            outcomes.append(outcome)
        record = merge_shard_records(outcomes, spec.results.inline_limit_bytes)
        summary = {
            "job": self.name,
            "runId": self.run_id,
            "workspace": spec.workspace,
            "workspaceId": resolved.manifest.workspace_id,
            "pipeline": spec.pipeline,
            "inferenceUrl": outcomes[-1].get("inferenceUrl", resolved.manifest.inference_url),
            "format": spec.inference.format,
            "startedAt": started_at,
            "completedAt": _now(),
            "durationSeconds": round(time.monotonic() - started, 3),
            **{k: record[k] for k in ("rows", "batches", "retries", "summary")},
        }
        summary["results"] = self.sink.finish(summary)
        return summary


def _memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError, AttributeError):
        return 2**31


def _now() -> str:
    from wallaroo_operator.rfc3339 import now_rfc3339

    return now_rfc3339()


def _one_line(text: str) -> str:
    return " ".join(text.split())


def print_summary(summary: dict[str, Any], stream: Any) -> None:
    rows, seconds = summary["rows"], summary["durationSeconds"]
    rate = f", {rows / seconds:,.0f} rows/s" if seconds > 0 else ""
    lines = [
        f"Succeeded: {rows:,} rows in {summary['batches']:,} batches, {summary['retries']} retries, "
        f"{seconds:.1f}s{rate}",
        f"pipeline {summary['pipeline']} in workspace {summary['workspace']} ({summary['inferenceUrl']})",
    ]
    stats = summary.get("summary") or {}
    if stats:
        width = max(len(name) for name in stats)
        lines.append(f"{'output':<{width}}  {'min':>10}  {'mean':>10}  {'max':>10}")
        for name, s in stats.items():
            lines.append(f"{name:<{width}}  {s['min']:>10.4g}  {s['mean']:>10.4g}  {s['max']:>10.4g}")
    lines += [f"results: {path}" for path in summary["results"]]
    stream.write("\n".join(lines) + "\n")
    stream.flush()
