"""How an objectStore block's keys and CA bundle reach a worker: as Pod variables the kubelet resolves
(secretKeyRef / configMapKeyRef), never as values in the Job, the run manifest or the plan."""

from __future__ import annotations

import json
from pathlib import Path

from wallaroo_operator.controller.connection import ResolvedConnection
from wallaroo_operator.executors.base import RunPlan
from wallaroo_operator.executors.job_spec import job_object
from wallaroo_operator.kube import object_stores
from wallaroo_operator.models.connection import WallarooConnectionSpec
from wallaroo_operator.models.job import InferenceJobSpec
from wallaroo_operator.wallaroo import Credentials
from wallaroo_operator.worker.manifest import RunManifest

STORE = {"endpoint": "https://s3.example.internal:9000", "bucket": "data-team", "pathStyle": True}
SPEC = InferenceJobSpec.model_validate(
    {
        "connectionRef": {"name": "w"},
        "workspace": "ws",
        "pipeline": "p",
        "execution": {"shards": 2},
        "input": {
            "objectStore": {
                **STORE,
                "prefix": "in/",
                "credentialsSecretRef": {"name": "reader"},
                "caBundle": {"configMapRef": {"name": "s3-ca", "key": "ca.crt"}},
            }
        },
        "results": {
            "objectStore": {
                **STORE,
                "prefix": "out",
                "credentialsSecretRef": {
                    "name": "writer",
                    "accessKeyIdKey": "id",
                    "secretAccessKeyKey": "key",
                    "sessionTokenKey": "token",
                },
            }
        },
    }
)


def test_pod_variables_refer_to_the_secrets_and_the_ca_config_map() -> None:
    env = {item["name"]: item["valueFrom"] for item in object_stores.pod_env(SPEC)}
    assert env == {
        "WALLAROO_S3_INPUT_ACCESS_KEY_ID": {"secretKeyRef": {"name": "reader", "key": "accessKeyId"}},
        "WALLAROO_S3_INPUT_SECRET_ACCESS_KEY": {"secretKeyRef": {"name": "reader", "key": "secretAccessKey"}},
        "WALLAROO_S3_INPUT_CA_PEM": {"configMapKeyRef": {"name": "s3-ca", "key": "ca.crt"}},
        "WALLAROO_S3_RESULTS_ACCESS_KEY_ID": {"secretKeyRef": {"name": "writer", "key": "id"}},
        "WALLAROO_S3_RESULTS_SECRET_ACCESS_KEY": {"secretKeyRef": {"name": "writer", "key": "key"}},
        "WALLAROO_S3_RESULTS_SESSION_TOKEN": {"secretKeyRef": {"name": "writer", "key": "token"}},
    }


def test_the_job_of_a_run_carries_references_not_values() -> None:
    plan_dict = {
        "bucket": "data-team",
        "byRows": False,
        "objects": [{"key": "in/a.jsonl", "size": 10, "etag": '"e"', "format": "jsonl", "splittable": True}],
    }
    manifest = RunManifest(
        namespace="team-a",
        job_name="nightly",
        job_uid="uid-1",
        run_id="gen-3",
        spec=SPEC.to_kube(),
        input_parts=[],
        workspace_id=7,
        inference_url="https://w/infer",
        api_url="https://w/v1/api",
        token_url="https://w/token",
        client_id="c",
        grant="password",
        progress_config_map="nightly-gen-3-progress",
        shards=2,
        object_input=plan_dict,
    )
    connection = WallarooConnectionSpec.model_validate(
        {"apiUrl": "https://w/v1/api", "clientId": "c", "credentialsSecretRef": {"name": "wallaroo"}}
    )
    resolved = ResolvedConnection(
        "https://w/v1/api", "https://w/token", Credentials("c", "s3cret", "password", "user", "pw"), True, 30.0
    )
    job = job_object(
        RunPlan(
            manifest,
            {"metadata": {"name": "nightly", "namespace": "team-a", "uid": "uid-1"}},
            resolved,
            connection,
            SPEC.execution,
        ),
        "nightly-gen-3",
        "operator:1",
    )
    env = job["spec"]["template"]["spec"]["containers"][0]["env"]
    s3 = [item for item in env if item["name"].startswith("WALLAROO_S3_")]
    assert len(s3) == 6 and all("value" not in item for item in s3)
    (carried,) = [json.loads(item["value"]) for item in env if item["name"] == "WALLAROO_RUN_MANIFEST"]
    assert carried["object_input"] == plan_dict  # the plan: keys, sizes and ETags, no rows, no keys


def test_a_worker_builds_its_store_from_its_environment(tmp_path: Path) -> None:
    environ = {
        "WALLAROO_S3_RESULTS_ACCESS_KEY_ID": "AKIA1",
        "WALLAROO_S3_RESULTS_SECRET_ACCESS_KEY": "sekret",
        "WALLAROO_S3_RESULTS_SESSION_TOKEN": "tok",
    }
    store = object_stores.store_from_env(SPEC.results.object_store, "results", environ)
    credentials = store.settings.credentials
    assert (credentials.access_key_id, credentials.secret_access_key, credentials.session_token) == (
        "AKIA1",
        "sekret",
        "tok",
    )
    assert "sekret" not in repr(store.settings) and "tok" not in repr(store.settings)
    assert store.settings.path_style and store.settings.endpoint == STORE["endpoint"]

    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
    with_ca = object_stores.store_from_env(SPEC.input.object_store, "input", {"WALLAROO_S3_INPUT_CA_PEM": pem})
    assert with_ca.settings.credentials is None  # no keys: the AWS default chain (IRSA)
    assert Path(with_ca.settings.ca_bundle_file).read_text() == pem
