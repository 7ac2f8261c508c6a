"""manifests/admission-policy.yaml on the real API server: the operator's ServiceAccount may create,
and delete, only ConfigMaps labelled and owned as results, whatever its RBAC allows."""

from __future__ import annotations

from pathlib import Path

import kubernetes
import pytest

from tests.support.kube import USE_EXISTING_CLUSTER, Kube, client_for
from tests.support.operator import job_manifest
from tests.support.rbac import apply_manifests, service_account_kubeconfig
from tests.support.waiting import wait_for
from wallaroo_operator import constants as c

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(USE_EXISTING_CLUSTER, reason="installs a cluster-wide policy: local cluster only"),
]

POLICY = "wallaroo-inference-operator-configmaps"


def results_manifest(job: dict, name: str) -> dict:
    return {
        "metadata": {
            "name": name,
            "labels": {c.JOB_LABEL: job["metadata"]["name"], c.RUN_LABEL: "gen-1", c.MANAGED_BY_LABEL: c.MANAGED_BY},
            "ownerReferences": [
                {
                    "apiVersion": c.API_VERSION,
                    "kind": c.JOB_KIND,
                    "controller": True,
                    "name": job["metadata"]["name"],
                    "uid": job["metadata"]["uid"],
                }
            ],
        },
        "data": {"results.json": "[]"},
        "immutable": True,
    }


def denied_by_policy(call) -> str:
    with pytest.raises(kubernetes.client.ApiException) as failure:
        call()
    assert failure.value.status in (403, 422), failure.value.body
    assert POLICY in failure.value.body, failure.value.body
    return failure.value.body


@pytest.fixture
def operator_core(kube: Kube, tmp_path: Path) -> kubernetes.client.CoreV1Api:
    """The core API as the operator's ServiceAccount, once the policy is in force."""
    apply_manifests(kube, "namespace.yaml", "serviceaccount.yaml", "rbac.yaml", "admission-policy.yaml")
    core = kubernetes.client.CoreV1Api(client_for(service_account_kubeconfig(kube, tmp_path / "sa.kubeconfig")))
    return core


def policy_in_force(kube: Kube, core: kubernetes.client.CoreV1Api, namespace: str) -> bool:
    """The API server loads policies asynchronously: probe with a create the policy must refuse."""
    try:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "probe"}, "data": {}})
    except kubernetes.client.ApiException as error:
        return error.status in (403, 422) and POLICY in error.body
    kube.core.delete_namespaced_config_map("probe", namespace)  # not yet: clean up and probe again
    return False


def test_the_operator_cannot_touch_a_users_config_map(kube: Kube, namespace: str, operator_core):
    wait_for(lambda: policy_in_force(kube, operator_core, namespace), timeout=60, what="the policy in force")
    kube.core.create_namespaced_config_map(namespace, {"metadata": {"name": "users"}, "data": {"mine": "x"}})
    # Labelled like results, without an InferenceJob owner: still the user's.
    kube.core.create_namespaced_config_map(
        namespace,
        {
            "metadata": {
                "name": "lookalike",
                "labels": {c.JOB_LABEL: "j", c.RUN_LABEL: "gen-1", c.MANAGED_BY_LABEL: c.MANAGED_BY},
            },
            "data": {"mine": "y"},
        },
    )

    for name in ("users", "lookalike"):
        body = denied_by_policy(lambda name=name: operator_core.delete_namespaced_config_map(name, namespace))
        assert f"{namespace}/{name}" in body
    denied_by_policy(
        lambda: operator_core.create_namespaced_config_map(namespace, {"metadata": {"name": "unlabelled"}, "data": {}})
    )

    assert {cm.metadata.name for cm in kube.core.list_namespaced_config_map(namespace).items} >= {"users", "lookalike"}


def test_the_operator_may_create_and_delete_its_results(kube: Kube, namespace: str, operator_core):
    wait_for(lambda: policy_in_force(kube, operator_core, namespace), timeout=60, what="the policy in force")
    job = kube.custom.create_namespaced_custom_object(c.GROUP, c.VERSION, namespace, c.JOB_PLURAL, job_manifest("j"))

    operator_core.create_namespaced_config_map(namespace, results_manifest(job, "j-gen-1-0"))
    operator_core.delete_namespaced_config_map("j-gen-1-0", namespace)

    # RBAC grants no update at all: results are immutable and never replaced.
    operator_core.create_namespaced_config_map(namespace, results_manifest(job, "j-gen-1-1"))
    with pytest.raises(kubernetes.client.ApiException) as failure:
        operator_core.replace_namespaced_config_map("j-gen-1-1", namespace, results_manifest(job, "j-gen-1-1"))
    assert failure.value.status == 403


def test_nobody_else_is_affected(kube: Kube, namespace: str, operator_core):
    wait_for(lambda: policy_in_force(kube, operator_core, namespace), timeout=60, what="the policy in force")
    kube.core.create_namespaced_config_map(namespace, {"metadata": {"name": "admins"}, "data": {}})
    kube.core.delete_namespaced_config_map("admins", namespace)
