"""The RBAC modes and the admission policy in manifests/ agree with each other and with the code."""

from __future__ import annotations

import yaml

from tests.support.kube import REPO_ROOT, load_yaml_documents
from wallaroo_operator import constants as c

MANIFESTS = REPO_ROOT / "manifests"


def of_kind(path, kind: str) -> list[dict]:
    return [d for d in load_yaml_documents(path) if d["kind"] == kind]


def rules_by_resource(rules: list[dict]) -> dict[tuple[str, str], set[str]]:
    return {
        (group, resource): set(rule["verbs"])
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }


def cluster_role() -> dict:
    (role,) = of_kind(MANIFESTS / "rbac.yaml", "ClusterRole")
    return role


def test_results_config_maps_are_never_updated_nor_deleted_by_selector():
    verbs = rules_by_resource(cluster_role()["rules"])[("", "configmaps")]
    # patch: the local worker's progress ConfigMap (and the per-run Roles the operator grants must be
    # within its own); results are immutable, so patch cannot change them.
    assert verbs == {"get", "list", "create", "patch", "delete"}


def test_each_namespaced_role_grants_what_the_cluster_role_grants_inside_a_namespace():
    namespaced = {
        k: v
        for k, v in rules_by_resource(cluster_role()["rules"]).items()
        if k != ("apiextensions.k8s.io", "customresourcedefinitions")
    }
    roles = of_kind(MANIFESTS / "namespaced" / "roles.yaml", "Role")
    assert len(roles) >= 1
    for role in roles:
        assert rules_by_resource(role["rules"]) == namespaced, role["metadata"]["namespace"]


def test_the_namespaced_mode_binds_a_role_in_each_namespace_it_watches():
    roles = {r["metadata"]["namespace"] for r in of_kind(MANIFESTS / "namespaced" / "roles.yaml", "Role")}
    bindings = of_kind(MANIFESTS / "namespaced" / "roles.yaml", "RoleBinding")
    assert {b["metadata"]["namespace"] for b in bindings} == roles
    (account,) = load_yaml_documents(MANIFESTS / "serviceaccount.yaml")
    for binding in bindings:
        assert binding["subjects"] == [
            {
                "kind": "ServiceAccount",
                "name": account["metadata"]["name"],
                "namespace": account["metadata"]["namespace"],
            }
        ]
    kustomization = yaml.safe_load((MANIFESTS / "namespaced" / "kustomization.yaml").read_text())
    (args_patch,) = [p for p in kustomization["patches"] if p.get("target", {}).get("kind") == "Deployment"]
    (operation,) = yaml.safe_load(args_patch["patch"])
    assert {arg.removeprefix("--namespace=") for arg in operation["value"]} == roles


def test_the_namespaced_mode_reads_nothing_with_data_cluster_wide():
    (role,) = of_kind(MANIFESTS / "namespaced" / "cluster-role.yaml", "ClusterRole")
    assert rules_by_resource(role["rules"]) == {
        ("apiextensions.k8s.io", "customresourcedefinitions"): {"list", "watch"},
        ("", "namespaces"): {"list", "watch"},
    }


def test_the_admission_policy_matches_the_operators_account_and_the_results_labels():
    text = (MANIFESTS / "admission-policy.yaml").read_text()
    policy, binding = load_yaml_documents(MANIFESTS / "admission-policy.yaml")
    (account,) = load_yaml_documents(MANIFESTS / "serviceaccount.yaml")
    username = f"system:serviceaccount:{account['metadata']['namespace']}:{account['metadata']['name']}"
    assert policy["apiVersion"] == "admissionregistration.k8s.io/v1"
    assert f"'{username}'" in policy["spec"]["matchConditions"][0]["expression"]
    for label in (c.MANAGED_BY_LABEL, c.JOB_LABEL, c.RUN_LABEL, c.MANAGED_BY, c.JOB_KIND, c.GROUP):
        assert f"'{label}" in text, label
    assert binding["spec"] == {"policyName": policy["metadata"]["name"], "validationActions": ["Deny"]}
    assert policy["spec"]["failurePolicy"] == "Fail"
    assert "admission-policy.yaml" in yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())["resources"]
