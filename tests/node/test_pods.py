"""The local cluster's node is a real one: it is Ready, and Pods and batch/v1 Jobs run to completion."""

from __future__ import annotations

import http.server
import json
import threading

import pytest

from tests.support.node import NodeSession
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.node]


def test_the_node_is_ready_and_schedulable(node: NodeSession):
    nodes = json.loads(node.kubectl("get", "nodes", "-o", "json"))["items"]
    assert [n["metadata"]["name"] for n in nodes] == ["localhost"]
    conditions = {c["type"]: c["status"] for c in nodes[0]["status"]["conditions"]}
    assert conditions["Ready"] == "True"
    assert not nodes[0]["spec"].get("taints")


def test_a_pod_runs_to_completion_and_its_logs_are_readable(node: NodeSession, namespace: str):
    image = node.base_image()
    node.kubectl(
        "run",
        "hello",
        "-n",
        namespace,
        f"--image={image}",
        "--image-pull-policy=Never",
        "--restart=Never",
        "--command",
        "--",
        "python3",
        "-c",
        "import socket; print('hello from', socket.gethostname())",
    )

    wait_for(
        lambda: node.kubectl("get", "pod", "hello", "-n", namespace, "-o", "jsonpath={.status.phase}") == "Succeeded",
        timeout=120,
        what="the pod to succeed",
    )
    assert node.kubectl("logs", "hello", "-n", namespace).strip() == "hello from hello"


def test_a_batch_job_completes(node: NodeSession, namespace: str):
    image = node.base_image()
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "count"},
        "spec": {
            "completions": 2,
            "parallelism": 2,
            "completionMode": "Indexed",
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "main",
                            "image": image,
                            "imagePullPolicy": "Never",
                            "command": ["sh", "-c", "echo index $JOB_COMPLETION_INDEX"],
                        }
                    ],
                }
            },
        },
    }
    node.kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(job))

    node.kubectl("wait", "-n", namespace, "--for=condition=Complete", "--timeout=120s", "job/count", timeout=150)
    logs = node.kubectl("logs", "-n", namespace, "-l", "batch.kubernetes.io/job-name=count", "--prefix=false")
    assert sorted(logs.split("\n")[:-1]) == ["index 0", "index 1"]


def test_a_pod_reaches_a_loopback_service_through_the_helper(node: NodeSession, namespace: str):
    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"hello from the host's loopback")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    image = node.base_image()
    try:
        with node.reachable_from_pods(server.server_address[1]) as address:
            assert address.startswith(f"{node.gateway}:")
            node.kubectl(
                "run",
                "caller",
                "-n",
                namespace,
                f"--image={image}",
                "--image-pull-policy=Never",
                "--restart=Never",
                "--command",
                "--",
                "python3",
                "-c",
                f"import urllib.request; print(urllib.request.urlopen('http://{address}/').read().decode())",
            )
            wait_for(
                lambda: (
                    node.kubectl("get", "pod", "caller", "-n", namespace, "-o", "jsonpath={.status.phase}")
                    in ("Succeeded", "Failed")
                ),
                timeout=120,
                what="the pod to finish",
            )
            assert node.kubectl("logs", "caller", "-n", namespace).strip() == "hello from the host's loopback"
    finally:
        server.shutdown()
        server.server_close()
