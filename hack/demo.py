"""`make demo`: the main job, end to end, on a fresh machine, the way users run it.

Starts the local cluster with its node, builds the operator's image and loads it into the node,
deploys it from manifests/ (`make deploy`: the local overlay), starts the Wallaroo simulator where
pods reach it, applies the examples (Secret, WallarooConnection, input ConfigMap, InferenceJob) with
kubectl, waits for the job to succeed, prints `kubectl get inferencejobs`, a sample of the results
and `kubectl get deployments,pods,jobs`, and cleans everything up.

Where no node can run (not root, no containerd, ...) it says why and runs the operator as a process
instead (the way `make run` does).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from deploy import OPERATOR_NAMESPACE, deploy, kubectl_for
from localcluster import LocalCluster, build_binaries, images, node
from localcluster.build import build_node_binaries
from wallaroo_operator import constants as c
from wallaroo_operator.data.inputs import natural_key
from wallaroo_simulator import run_simulator

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
NAMESPACE = "wallaroo-demo"
RUN_ONCE_EXAMPLES = ("00-secret.yaml", "01-connection.yaml", "02-input-configmap.yaml", "03-inferencejob.yaml")


def say(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def example_documents(sim) -> list[dict]:
    """The run-once examples, pointed at this simulator instead of the placeholder URLs."""
    documents = []
    for name in RUN_ONCE_EXAMPLES:
        for doc in yaml.safe_load_all((EXAMPLES / name).read_text()):
            if doc and doc["kind"] == c.CONNECTION_KIND:
                doc["spec"].update(apiUrl=sim.api_url, tokenUrl=sim.token_url)
            if doc:
                documents.append(doc)
    return documents


def wait_for_job(kubectl_run, name: str, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = json.loads(kubectl_run("get", c.JOB_PLURAL, name, "-n", NAMESPACE, "-o", "json"))
        phase = (job.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed"):
            return job
        time.sleep(0.5)
    sys.exit(f"the job did not finish within {timeout:.0f} s")


def why_no_node() -> str | None:
    if reason := node.why_not_here():
        return reason
    if owner := node.live_owner():
        return f"another local node runs on this machine ({owner}); only one can"
    return None


def main() -> None:
    say("building (or reusing) the control-plane binaries")
    binaries = build_binaries()
    reason = why_no_node()
    if reason is None:
        build_node_binaries()
    else:
        say(f"no node here ({reason}): running the operator as a process instead")
    with tempfile.TemporaryDirectory(prefix="wallaroo-demo-") as workdir:
        cluster = LocalCluster(Path(workdir) / "cluster", binaries, with_node=reason is None)
        parts = "etcd, kube-apiserver, kube-controller-manager" + (
            ", containerd, kube-scheduler, kubelet" if reason is None else ""
        )
        say(f"starting {parts} (Kubernetes {binaries.kubernetes_version})")
        cluster.start()
        try:
            k = kubectl_for(binaries.kubectl, cluster.kubeconfig)
            if cluster.node:
                demo_in_the_node(k, cluster)
            else:
                demo_with_a_process(k, cluster, Path(workdir))
        finally:
            say("stopping the local cluster (and restoring the host)")
            cluster.stop()
    say("done: nothing is left running")


def demo_in_the_node(k, cluster: LocalCluster) -> None:
    say("building the operator image with buildah and loading it into the node")
    image = images.build_operator_image()
    cluster.node.load_image(image)
    say(f"deploying {image} from manifests/ (hack/overlays/local)")
    deploy(k, REPO / "hack" / "overlays" / "local")
    with run_simulator(host=node.GATEWAY) as sim:
        say(f"Wallaroo simulator serving {sim.api_url} (the node's bridge: pods reach it there)")
        ok = run_the_examples(
            k, sim, lambda: k("logs", "-n", OPERATOR_NAMESPACE, "deployment/wallaroo-operator", "--tail=60")
        )
        for namespace in (OPERATOR_NAMESPACE, NAMESPACE):
            say(f"kubectl get deployments,pods,jobs -n {namespace}")
            listed = k("get", "deployments,pods,jobs", "-n", namespace)
            print(listed or f"No resources found in {namespace} namespace.\n", end="")
    if not ok:
        sys.exit("the demo job failed")


def demo_with_a_process(k, cluster: LocalCluster, workdir: Path) -> None:
    say("installing the CRDs")
    print(k("apply", "--server-side", "-f", str(REPO / "crds")), end="")
    k("wait", "--for=condition=Established", "--timeout=60s", "-f", str(REPO / "crds"))
    with run_simulator() as sim:
        say(f"Wallaroo simulator serving {sim.api_url}")
        log_path = workdir / "operator.log"
        say(f"starting the operator (log: {log_path})")
        env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
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
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            ok = run_the_examples(k, sim, lambda: log_path.read_text()[-4000:])
        finally:
            operator.terminate()
            operator.wait(timeout=60)
    if not ok:
        sys.exit("the demo job failed")


def run_the_examples(k, sim, operator_log) -> bool:
    say(f"applying the examples into namespace {NAMESPACE}")
    k("create", "namespace", NAMESPACE)
    documents = example_documents(sim)
    print(k("apply", "-n", NAMESPACE, "-f", "-", stdin=yaml.safe_dump_all(documents)), end="")
    job_name = next(d["metadata"]["name"] for d in documents if d["kind"] == c.JOB_KIND)

    say("waiting for the job to finish")
    job = wait_for_job(k, job_name)
    say("kubectl get inferencejobs,wallarooconnections")
    print(k("get", "inferencejobs,wallarooconnections", "-n", NAMESPACE), end="")
    show_status(job)
    if job["status"]["phase"] != "Succeeded":
        print(operator_log())
        return False
    show_results(k, job)
    return True


def show_status(job: dict) -> None:
    status = job["status"]
    say("status (conditions and the last run)")
    for condition in status.get("conditions", []):
        print(f"  {condition['type']:<10} {condition['status']:<6} {condition['reason']}: {condition['message']}")
    last = {k: v for k, v in status["lastRun"].items() if k not in ("outputs", "summary")}
    print("  lastRun: " + json.dumps(last))
    summary = status["lastRun"].get("summary") or {}
    for name in sorted(summary, key=natural_key)[:3]:
        print(f"  summary {name}: " + json.dumps(summary[name]))
    if len(summary) > 3:
        print(f"  ... and {len(summary) - 3} more outputs")


def show_results(k, job: dict) -> None:
    last = job["status"]["lastRun"]
    names = last.get("resultConfigMaps") or []
    if names:
        rows = json.loads(k("get", "configmap", names[0], "-n", NAMESPACE, "-o", "jsonpath={.data.results\\.json}"))
        say(f"results: {last['rows']} rows in ConfigMap(s) {', '.join(names)}; the first 3:")
    else:  # small enough for the status alone (results.configMaps: IfNotInline, the default)
        rows = [{"row": index, **outputs} for index, outputs in enumerate(last.get("outputs") or [])]
        say(f"results: {last['rows']} rows, in status.lastRun.outputs (small outputs need no ConfigMap); the first 3:")
    for row in rows[:3]:
        shown = dict(list(row.items())[:4])
        print("  " + json.dumps(shown)[:-1] + (", ...}" if len(row) > 4 else "}"))


if __name__ == "__main__":
    main()
