"""Latency of a one-row InferenceJob, from create to `Succeeded`, with the Job executor (a batch/v1 Job whose
Pod runs on the local node: scheduling, the container's start and the worker's interpreter included) and
with the local executor (a child process of the operator), in the same run on the same cluster.

Starts a local cluster with its node (root and containerd needed, as for `make demo`), loads this checkout's
operator image into it, and serves the Wallaroo simulator on the node's gateway. For each executor it starts
the operator as a process (`python -m wallaroo_operator run`, `--executor=...`), then creates `--runs`
InferenceJobs one after another, each timed from its create call until its status says Succeeded (watched,
not polled). The first job after the operator's start is timed apart (`first_run_s`): it also waits for the
operator's own start (its imports, kopf's first listing) and, with the Job executor, the node's first Pod of
the image. Prints a line per run, then one JSON line: p50, p95, min and max per executor of the runs after it.

    .venv/bin/python benchmarks/job_latency.py [--runs 10]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "hack"))  # deploy.kubectl_for
sys.path.insert(0, str(REPO))  # tests.support.manifests

NAMESPACE = "latency"
ROW = [[0] * 40 + [28, 16, 32, 23, 29, 32, 30, 19, 26, 17]]  # data-1.json's shape: one row of 50 token ids


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def operator_environment(executor: str, kubeconfig: Path, image: str) -> dict[str, str]:
    from localcluster import node

    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "WALLAROO_OPERATOR_EXECUTOR": executor}
    if executor == "job":  # the local node's route to the API server, as hack/overlays/local/ sets it
        env.update(
            WALLAROO_OPERATOR_WORKER_IMAGE=image,
            WALLAROO_OPERATOR_WORKER_HOST_ALIASES=json.dumps([{"ip": node.GATEWAY, "hostnames": ["kubernetes"]}]),
            WALLAROO_OPERATOR_WORKER_ENV=json.dumps(
                {"KUBERNETES_SERVICE_HOST": "kubernetes", "KUBERNETES_SERVICE_PORT": str(node.APISERVER_PORT_FOR_PODS)}
            ),
        )
    return env


def time_one_run(api, name: str, timeout: float = 600) -> float:
    """Seconds from creating the InferenceJob to its status saying Succeeded."""
    import kubernetes

    from wallaroo_operator import constants as c

    custom = kubernetes.client.CustomObjectsApi(api)
    body = {
        "apiVersion": c.API_VERSION,
        "kind": c.JOB_KIND,
        "metadata": {"name": name},
        "spec": {
            "connectionRef": {"name": "wallaroo"},
            "workspace": "urldemoworkspace",
            "pipeline": "urldemopipeline",
            "input": {"configMaps": [{"name": "input"}]},
        },
    }
    started = time.monotonic()
    created = custom.create_namespaced_custom_object(c.GROUP, c.VERSION, NAMESPACE, c.JOB_PLURAL, body)
    watch = kubernetes.watch.Watch()
    for event in watch.stream(
        custom.list_namespaced_custom_object,
        c.GROUP,
        c.VERSION,
        NAMESPACE,
        c.JOB_PLURAL,
        field_selector=f"metadata.name={name}",
        resource_version=created["metadata"]["resourceVersion"],
        timeout_seconds=int(timeout),
    ):
        phase = (event["object"].get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed"):
            watch.stop()
            if phase == "Failed":
                sys.exit(f"{name} failed: {event['object']['status']}")
            return time.monotonic() - started
    sys.exit(f"{name} did not finish within {timeout:.0f} s")


def measure(executor: str, runs: int, cluster, image: str, workdir: Path) -> list[float]:
    import kubernetes

    log_path = workdir / f"operator-{executor}.log"
    with log_path.open("w") as log:
        operator = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "wallaroo_operator",
                "run",
                "--namespace",
                NAMESPACE,
                "--liveness=http://127.0.0.1:0/healthz",
            ],
            env=operator_environment(executor, cluster.kubeconfig, image),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        api = kubernetes.config.new_client_from_config(config_file=str(cluster.kubeconfig))
        first = time_one_run(api, f"{executor}-first")
        print(f"{executor} first run (with the operator's start): {first:.2f} s", flush=True)
        seconds = [first]
        for index in range(runs):
            seconds.append(time_one_run(api, f"{executor}-{index}"))
            print(f"{executor} run {index}: {seconds[-1]:.2f} s", flush=True)
        return seconds
    finally:
        operator.terminate()
        operator.wait(timeout=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="runs per executor")
    args = parser.parse_args()

    from deploy import kubectl_for
    from localcluster import LocalCluster, build_binaries, images, node
    from localcluster.build import build_node_binaries
    from tests.support.manifests import connection_manifest, rows_config_map
    from wallaroo_simulator import run_simulator

    if reason := node.why_not_here() or (node.live_owner() and "another local node runs on this machine"):
        sys.exit(f"needs the local node: {reason}")
    binaries = build_binaries()
    build_node_binaries()
    with tempfile.TemporaryDirectory(prefix="job-latency-") as workdir:
        cluster = LocalCluster(Path(workdir) / "cluster", binaries, with_node=True)
        cluster.start()
        try:
            k = kubectl_for(binaries.kubectl, cluster.kubeconfig)
            k("apply", "--server-side", "-f", str(REPO / "crds"))
            k("wait", "--for=condition=Established", "--timeout=60s", "-f", str(REPO / "crds"))
            image = images.build_operator_image()
            cluster.node.load_image(image)
            with run_simulator(host=node.GATEWAY) as sim:
                k("create", "namespace", NAMESPACE)
                k(
                    "apply",
                    "-n",
                    NAMESPACE,
                    "-f",
                    "-",
                    stdin=json.dumps(
                        {
                            "apiVersion": "v1",
                            "kind": "List",
                            "items": [
                                {
                                    "apiVersion": "v1",
                                    "kind": "Secret",
                                    "metadata": {
                                        "name": "wallaroo-credentials",
                                        "annotations": {"wallaroo.inferops.dev/allowed-connections": "wallaroo"},
                                    },
                                    "stringData": {
                                        "clientSecret": sim.secret,
                                        "username": sim.username,
                                        "password": sim.password,
                                    },
                                },
                                connection_manifest(sim),
                                rows_config_map("input", ROW),
                            ],
                        }
                    ),
                )
                results = {
                    executor: measure(executor, args.runs, cluster, image, Path(workdir))
                    for executor in ("local", "job")
                }
        finally:
            cluster.stop()
    summary = {
        executor: {
            "first_run_s": round(first, 2),
            "p50_s": round(statistics.median(seconds), 2),
            "p95_s": round(percentile(seconds, 0.95), 2),
            "min_s": round(min(seconds), 2),
            "max_s": round(max(seconds), 2),
            "runs": len(seconds),
        }
        for executor, (first, *seconds) in results.items()
    }
    print(json.dumps({"benchmark": "job_latency", "rows": 1, **summary, "load_average_1m": os.getloadavg()[0]}))


if __name__ == "__main__":
    main()
