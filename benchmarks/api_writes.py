"""The operator's own cost per run: Kubernetes API requests per run of a 1-row scheduled job, counted by
the kube-apiserver itself (`apiserver_request_total` from its /metrics, by verb and resource), before and
after N runs. Prints one JSON line.

The operator runs in this process (kopf's KopfRunner, as in the tests) against a throwaway local control
plane, or the cluster of `--kubeconfig`, with the Wallaroo simulator. The job is `* * * * *` (Forbid) with
the test clock sped up (WALLAROO_OPERATOR_TEST_CLOCK_SPEEDUP, default 15: a slot every 4 s, longer than a
run takes here, so slots rarely overlap). The window opens after its first run (so the finalizer, the
connection check and the first Resolved event are not counted) and closes after N more, each boundary
taken while no run is active. Writes are POST, PUT, PATCH and DELETE; coordination leases (the control
plane's leader election) are left out. On a shared cluster, other clients' writes to the same resources
are counted too.

    .venv/bin/python benchmarks/api_writes.py [--runs 10] [--speedup 15] [--kubeconfig PATH]

`measure(runs=..., kubeconfig=...) -> dict` is what `make bench-quick` calls.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
WRITE_VERBS = {"POST", "PUT", "PATCH", "DELETE", "DELETECOLLECTION", "APPLY"}
READ_VERBS = {"GET", "LIST"}
IGNORED_RESOURCES = {"leases"}  # the control plane's own leader election, every few seconds
OPERATOR_RESOURCES = ("inferencejobs", "events")  # what the controller itself writes per run


def request_counts(api: Any) -> Counter[tuple[str, str, str]]:
    """apiserver_request_total summed by (verb, resource, subresource)."""
    response = api.call_api(
        "/metrics", "GET", auth_settings=["BearerToken"], _preload_content=False, _return_http_data_only=True
    )
    counts: Counter[tuple[str, str, str]] = Counter()
    for line in response.data.decode().splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels_text, _, value = line.rpartition(" ")
        labels = dict(
            part.split("=", 1) for part in labels_text[len("apiserver_request_total{") : -1].split(",") if "=" in part
        )
        labels = {k: v.strip('"') for k, v in labels.items()}
        counts[(labels.get("verb", ""), labels.get("resource", ""), labels.get("subresource", ""))] += int(float(value))
    return counts


@contextlib.contextmanager
def cluster(kubeconfig: str | None) -> Iterator[Path]:
    """The kubeconfig of the given cluster, or of a throwaway local control plane with the CRDs."""
    if kubeconfig:
        yield Path(kubeconfig)
        return
    from localcluster import LocalCluster, build_binaries
    from tests.support.kube import client_for, install_crds

    with tempfile.TemporaryDirectory(prefix="bench-api-writes-") as state:
        local = LocalCluster(Path(state) / "cluster", build_binaries())
        local.start(before_controllers=lambda c: install_crds(client_for(c.kubeconfig), REPO / "crds"))
        try:
            yield local.kubeconfig
        finally:
            local.stop()


def _finished_runs(namespace: str) -> float:
    from prometheus_client import REGISTRY

    return sum(
        REGISTRY.get_sample_value("wallaroo_operator_runs_total", {"namespace": namespace, "outcome": o}) or 0.0
        for o in ("Succeeded", "Failed", "Cancelled")
    )


def _quiet_point(get_job: Any, namespace: str, at_least: float, timeout: float) -> float:
    """Wait until `at_least` runs have finished and none is active; return the finished count."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        finished = _finished_runs(namespace)
        idle = not (get_job().get("status") or {}).get("active")
        if finished >= at_least and idle and _finished_runs(namespace) == finished:
            return finished
        time.sleep(0.05)  # a benchmark's poll, not a test's synchronisation
    raise TimeoutError(f"fewer than {at_least} runs finished in {timeout:.0f} s")


def measure(runs: int = 10, kubeconfig: str | None = None, speedup: float = 15.0) -> dict[str, Any]:
    sys.path.insert(0, str(REPO))
    with cluster(kubeconfig) as config_path:
        previous = {k: os.environ.get(k) for k in ("KUBECONFIG", "WALLAROO_OPERATOR_TEST_CLOCK_SPEEDUP")}
        os.environ["KUBECONFIG"] = str(config_path)
        os.environ["WALLAROO_OPERATOR_TEST_CLOCK_SPEEDUP"] = str(speedup)
        try:
            return _measure(runs, config_path, speedup)
        finally:
            for key, value in previous.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def _measure(runs: int, config_path: Path, speedup: float) -> dict[str, Any]:
    import kubernetes

    from tests.support.data import aloha_rows
    from tests.support.kube import Kube, client_for
    from tests.support.operator import (
        create_connection,
        create_credentials,
        create_input,
        job_manifest,
        running_operator,
    )
    from wallaroo_operator import constants as c
    from wallaroo_simulator import run_simulator

    kube = Kube(config_path, client_for(config_path))
    namespace = f"bench-writes-{uuid.uuid4().hex[:6]}"
    kube.core.create_namespace({"metadata": {"name": namespace}})
    try:
        with run_simulator() as sim, running_operator(namespace):
            create_credentials(kube, namespace, sim)
            create_connection(kube, namespace, sim)
            create_input(kube, namespace, "input", {"text_input": aloha_rows(1)})
            kube.custom.create_namespaced_custom_object(
                c.GROUP,
                c.VERSION,
                namespace,
                c.JOB_PLURAL,
                job_manifest("writes", schedule="* * * * *", concurrencyPolicy="Forbid", successfulRunsHistoryLimit=1),
            )

            own_gets = Counter[str]()

            def get_job() -> dict[str, Any]:
                own_gets["window"] += 1  # this script's reads, subtracted below
                return kube.custom.get_namespaced_custom_object(c.GROUP, c.VERSION, namespace, c.JOB_PLURAL, "writes")

            slot = 60.0 / speedup
            start = _quiet_point(get_job, namespace, 1, timeout=120 + 4 * slot)
            before = request_counts(kube.api)
            own_gets.clear()
            started = time.monotonic()
            end = _quiet_point(get_job, namespace, start + runs, timeout=60 + 4 * slot * runs)
            after = request_counts(kube.api)
            after[("GET", "inferencejobs", "")] -= own_gets["window"]
            elapsed = time.monotonic() - started
            reasons = Counter(
                e.reason
                for e in kube.core.list_namespaced_event(namespace).items
                for _ in range(e.count or 1)
                if e.involved_object.name == "writes"
            )
            kube.custom.delete_namespaced_custom_object(c.GROUP, c.VERSION, namespace, c.JOB_PLURAL, "writes")
    finally:
        with contextlib.suppress(kubernetes.client.ApiException):
            kube.core.delete_namespace(namespace)
    return {**summarize(before, after, end - start, elapsed), "events_since_creation": dict(sorted(reasons.items()))}


def summarize(
    before: Counter[tuple[str, str, str]], after: Counter[tuple[str, str, str]], runs: float, elapsed: float
) -> dict[str, Any]:
    delta = {key: after[key] - before.get(key, 0) for key in after if after[key] - before.get(key, 0) > 0}
    writes = {k: v for k, v in delta.items() if k[0] in WRITE_VERBS and k[1] not in IGNORED_RESOURCES}
    reads = {k: v for k, v in delta.items() if k[0] in READ_VERBS and k[1] not in IGNORED_RESOURCES}
    operator_writes = sum(v for k, v in writes.items() if k[1] in OPERATOR_RESOURCES)
    status_writes = sum(v for k, v in writes.items() if k[1] == "inferencejobs" and k[2] == "status")
    event_writes = sum(v for k, v in writes.items() if k[1] == "events")
    return {
        "runs": runs,
        "api_writes_per_run": round(sum(writes.values()) / runs, 2),
        "controller_writes_per_run": round(operator_writes / runs, 2),
        "status_writes_per_run": round(status_writes / runs, 2),
        "event_writes_per_run": round(event_writes / runs, 2),
        "reads_per_run": round(sum(reads.values()) / runs, 2),
        "writes_by_verb_resource": {
            f"{verb} {resource}{'/' + sub if sub else ''}": round(n / runs, 2)
            for (verb, resource, sub), n in sorted(writes.items())
        },
        "reads_by_verb_resource": {
            f"{verb} {resource}{'/' + sub if sub else ''}": round(n / runs, 2)
            for (verb, resource, sub), n in sorted(reads.items())
        },
        "seconds": round(elapsed, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--speedup", type=float, default=15.0)
    parser.add_argument("--kubeconfig", default=None, help="an existing cluster with the CRDs (default: a local one)")
    args = parser.parse_args()
    print(json.dumps(measure(args.runs, args.kubeconfig, args.speedup)))


if __name__ == "__main__":
    main()
