"""`helm install` into the real local control plane: objects, CRDs, RBAC that grants what it says,
and `helm uninstall` removing what it installed (and not the CRDs)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

import kubernetes
import pytest
import yaml

from hack.chart.generate import CHART
from tests.chart.conftest import Helm
from tests.support.kube import (
    REPO_ROOT,
    USE_EXISTING_CLUSTER,
    Kube,
    client_for,
    crd_established,
    load_yaml_documents,
    unique_name,
)
from tests.support.rbac import service_account_kubeconfig
from tests.support.waiting import wait_for
from wallaroo_operator import constants as c

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(USE_EXISTING_CLUSTER, reason="installs cluster-wide RBAC: local cluster only"),
]

CRD_NAMES = [f"{c.JOB_PLURAL}.{c.GROUP}", f"{c.CONNECTION_PLURAL}.{c.GROUP}"]
RESTRICTED = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "warn", "audit")}


def rbac(kube: Kube) -> kubernetes.client.RbacAuthorizationV1Api:
    return kubernetes.client.RbacAuthorizationV1Api(kube.api)


def allowed(
    kube: Kube,
    user: str,
    verb: str,
    resource: str,
    namespace: str = "",
    group: str = c.GROUP,
    subresource: str = "",
    groups: list[str] | None = None,
) -> bool:
    """Ask the API server's authorizer, as a SubjectAccessReview, whether `user` may do this."""
    review = kubernetes.client.V1SubjectAccessReview(
        spec=kubernetes.client.V1SubjectAccessReviewSpec(
            user=user,
            groups=groups or ["system:authenticated"],
            resource_attributes=kubernetes.client.V1ResourceAttributes(
                namespace=namespace, verb=verb, group=group, resource=resource, subresource=subresource
            ),
        )
    )
    return kubernetes.client.AuthorizationV1Api(kube.api).create_subject_access_review(review).status.allowed


def granted(kube: Kube, user: str, verb: str, resource: str, namespace: str = "", **kwargs) -> None:
    """Wait until the authorizer allows it: RBAC objects just created reach its cache a moment later."""
    wait_for(
        lambda: allowed(kube, user, verb, resource, namespace, **kwargs),
        timeout=30,
        what=f"{user} to be allowed to {verb} {resource} in {namespace or 'the cluster'}",
    )


def service_account(namespace: str, name: str) -> dict:
    return {
        "user": f"system:serviceaccount:{namespace}:{name}",
        "groups": ["system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"],
    }


def gone(read) -> bool:
    try:
        read()
    except kubernetes.client.ApiException as error:
        if error.status == 404:
            return True
        raise
    return False


def create_namespace(kube: Kube, name: str, labels: dict | None = None) -> None:
    kube.core.create_namespace(
        kubernetes.client.V1Namespace(metadata=kubernetes.client.V1ObjectMeta(name=name, labels=labels))
    )


@contextmanager
def installed(helm: Helm, kubeconfig: Path, kube: Kube, tmp_path: Path, values: dict | None = None):
    """The chart installed as a fresh release in a fresh restricted namespace; uninstalled afterwards."""
    # A release name containing the chart's name is the objects' name too (see _helpers.tpl).
    release, namespace = unique_name("wallaroo-inference-operator"), unique_name("wio-system")
    create_namespace(kube, namespace, RESTRICTED)
    try:
        helm.run(
            "install",
            release,
            str(CHART),
            "--namespace",
            namespace,
            values=values or {},
            kubeconfig=kubeconfig,
            tmp_path=tmp_path,
        )
        try:
            yield release, namespace
        finally:
            helm.run("uninstall", release, "--namespace", namespace, kubeconfig=kubeconfig, check=False)
    finally:
        kube.core.delete_namespace(namespace)


def policy_refuses(as_operator: kubernetes.client.CoreV1Api, kube: Kube, namespace: str, policy: str) -> bool:
    """The API server loads policies asynchronously: probe with a create the policy must refuse."""
    try:
        as_operator.create_namespaced_config_map(namespace, {"metadata": {"name": "probe"}, "data": {}})
    except kubernetes.client.ApiException as error:
        return error.status in (403, 422) and policy in error.body
    kube.core.delete_namespaced_config_map("probe", namespace)  # not in force yet: clean up, probe again
    return False


def operator_rules() -> list[dict]:
    docs = load_yaml_documents(REPO_ROOT / "manifests" / "rbac.yaml")
    return next(d for d in docs if d["kind"] == "ClusterRole")["rules"]


def test_install_creates_the_operator_and_uninstall_removes_it(helm: Helm, kube: Kube, tmp_path: Path):
    with installed(helm, kube.kubeconfig, kube, tmp_path) as (release, namespace):
        deployment = kubernetes.client.AppsV1Api(kube.api).read_namespaced_deployment(release, namespace)
        assert deployment.spec.template.spec.security_context.run_as_non_root is True
        kube.core.read_namespaced_service_account(release, namespace)
        kube.core.read_namespaced_service(f"{release}-metrics", namespace)
        role = rbac(kube).read_cluster_role(release)
        assert kube.api.sanitize_for_serialization(role.rules) == operator_rules()
        rbac(kube).read_cluster_role_binding(release)
        for name in CRD_NAMES:
            assert crd_established(kube.extensions, name)

        operator = service_account(namespace, release)
        anywhere = unique_name("any")  # the cluster-wide binding covers namespaces that do not exist yet
        granted(kube, **operator, verb="get", resource="secrets", group="", namespace=anywhere)
        assert allowed(
            kube, **operator, verb="patch", resource="inferencejobs", subresource="status", namespace=anywhere
        )
        assert allowed(
            kube, **operator, verb="watch", resource="customresourcedefinitions", group="apiextensions.k8s.io"
        )
        assert not allowed(kube, **operator, verb="list", resource="secrets", group="", namespace=anywhere)
        assert not allowed(kube, **operator, verb="delete", resource="inferencejobs", namespace=anywhere)
        as_operator = kubernetes.client.CoreV1Api(
            client_for(service_account_kubeconfig(kube, tmp_path / "sa.kubeconfig", namespace, release))
        )
        wait_for(
            lambda: policy_refuses(as_operator, kube, namespace, f"{release}-configmaps"),
            timeout=60,
            what="the admission policy to refuse the release's ServiceAccount a ConfigMap that is not results",
        )

        helm.run("uninstall", release, "--namespace", namespace, kubeconfig=kube.kubeconfig)
        apps = kubernetes.client.AppsV1Api(kube.api)
        admission = kubernetes.client.AdmissionregistrationV1Api(kube.api)
        for what, read in {
            "Deployment": lambda: apps.read_namespaced_deployment(release, namespace),
            "ServiceAccount": lambda: kube.core.read_namespaced_service_account(release, namespace),
            "Service": lambda: kube.core.read_namespaced_service(f"{release}-metrics", namespace),
            "ClusterRole": lambda: rbac(kube).read_cluster_role(release),
            "ClusterRoleBinding": lambda: rbac(kube).read_cluster_role_binding(release),
            "view ClusterRole": lambda: rbac(kube).read_cluster_role(f"{release}-view"),
            "edit ClusterRole": lambda: rbac(kube).read_cluster_role(f"{release}-edit"),
            "ValidatingAdmissionPolicy": lambda: admission.read_validating_admission_policy(f"{release}-configmaps"),
            "ValidatingAdmissionPolicyBinding": lambda: admission.read_validating_admission_policy_binding(
                f"{release}-configmaps"
            ),
        }.items():
            wait_for(lambda read=read: gone(read), timeout=30, what=f"the {what} to be deleted by helm uninstall")
        wait_for(
            lambda: not allowed(kube, **operator, verb="get", resource="secrets", group="", namespace=anywhere),
            timeout=30,
            what="the operator's grants to be gone",
        )
        for name in CRD_NAMES:  # CRDs outlive the release: deleting them would delete every job
            assert crd_established(kube.extensions, name)


def test_namespaced_install_grants_only_the_chosen_namespaces(helm: Helm, kube: Kube, namespace: str, tmp_path: Path):
    with installed(helm, kube.kubeconfig, kube, tmp_path, {"watchNamespaces": [namespace]}) as (release, system):
        operator = service_account(system, release)
        other = unique_name("other")
        granted(kube, **operator, verb="get", resource="secrets", group="", namespace=namespace)
        granted(kube, **operator, verb="watch", resource="namespaces", group="")
        assert allowed(kube, **operator, verb="create", resource="configmaps", group="", namespace=namespace)
        assert not allowed(kube, **operator, verb="get", resource="secrets", group="", namespace=other)
        assert not allowed(kube, **operator, verb="list", resource="inferencejobs", namespace=other)
        assert allowed(kube, **operator, verb="list", resource="inferencejobs", namespace=namespace)
        assert allowed(kube, **operator, verb="watch", resource="namespaces", group="")
        assert not allowed(kube, **operator, verb="get", resource="secrets", group="")  # not cluster-wide
        container = (
            kubernetes.client.AppsV1Api(kube.api)
            .read_namespaced_deployment(release, system)
            .spec.template.spec.containers[0]
        )
        assert container.args == ["--executor=job", f"--namespace={namespace}"]  # manifests/deployment.yaml's executor


def test_user_roles_grant_what_they_say(helm: Helm, kube: Kube, namespace: str, tmp_path: Path):
    """A user bound to the chart's view or edit role in a namespace can do exactly that there."""
    with installed(helm, kube.kubeconfig, kube, tmp_path) as (release, _):
        for user, role in (("viewer", f"{release}-view"), ("editor", f"{release}-edit")):
            bind(kube, namespace, user, role)
        granted(kube, "viewer", "get", c.JOB_PLURAL, namespace)
        granted(kube, "editor", "create", c.JOB_PLURAL, namespace)
        for plural in (c.JOB_PLURAL, c.CONNECTION_PLURAL):
            for verb in ("get", "list", "watch"):
                assert allowed(kube, "viewer", verb, plural, namespace)
            for verb in ("create", "update", "patch", "delete", "deletecollection"):
                assert not allowed(kube, "viewer", verb, plural, namespace)
                assert allowed(kube, "editor", verb, plural, namespace)
            assert allowed(kube, "viewer", "get", plural, namespace, subresource="status")
            assert not allowed(kube, "editor", "patch", plural, namespace, subresource="status"), "the operator's"
            assert not allowed(kube, "viewer", "get", plural, unique_name("elsewhere"))
        assert not allowed(kube, "viewer", "get", "secrets", namespace, group="")
        assert not allowed(kube, "editor", "get", "secrets", namespace, group="")


def test_built_in_view_and_edit_include_the_user_roles(helm: Helm, kube: Kube, namespace: str, tmp_path: Path):
    """kube-controller-manager's clusterrole-aggregation controller (in localcluster's CONTROLLERS) copies
    the chart's user roles into the built-in view/edit/admin through their aggregation labels."""
    with installed(helm, kube.kubeconfig, kube, tmp_path):
        for user, role in (("builtin-viewer", "view"), ("builtin-editor", "edit"), ("builtin-admin", "admin")):
            bind(kube, namespace, user, role)
        for user in ("builtin-viewer", "builtin-editor", "builtin-admin"):  # once aggregated, and cached
            granted(kube, user, "list", c.JOB_PLURAL, namespace)
        for user in ("builtin-editor", "builtin-admin"):
            granted(kube, user, "create", c.JOB_PLURAL, namespace)
        assert not allowed(kube, "builtin-viewer", "create", c.JOB_PLURAL, namespace)


@pytest.mark.node
def test_the_operator_becomes_available(helm: Helm, kube: Kube, tmp_path: Path, operator_image: str):
    """On the real node, from this checkout's image. The node has no kube-proxy: like
    hack/overlays/local/, the Pod reaches the API server at the node's gateway by the name `kubernetes`
    (a hostAlias, patched in: the chart has no value for it) and KUBERNETES_SERVICE_HOST/PORT."""
    from localcluster import node as local_node

    repository, _, tag = operator_image.rpartition(":")
    route = [
        {"name": "KUBERNETES_SERVICE_HOST", "value": "kubernetes"},
        {"name": "KUBERNETES_SERVICE_PORT", "value": str(local_node.APISERVER_PORT_FOR_PODS)},
    ]
    values = {"image": {"repository": repository, "tag": tag, "pullPolicy": "Never"}, "operator": {"extraEnv": route}}
    with installed(helm, kube.kubeconfig, kube, tmp_path, values) as (release, namespace):
        apps = kubernetes.client.AppsV1Api(kube.api)
        apps.patch_namespaced_deployment(
            release,
            namespace,
            {
                "spec": {
                    "template": {"spec": {"hostAliases": [{"ip": local_node.GATEWAY, "hostnames": ["kubernetes"]}]}}
                }
            },
        )

        def available_and_current():
            deployment = apps.read_namespaced_deployment_status(release, namespace)
            status = deployment.status
            return (
                status.observed_generation == deployment.metadata.generation
                and status.updated_replicas == 1
                and status.ready_replicas == 1
                and (status.replicas or 0) == 1
                and any(cond.type == "Available" and cond.status == "True" for cond in status.conditions or [])
            )

        wait_for(available_and_current, timeout=240, what="the operator's Deployment to become Available")
        pods = kube.core.list_namespaced_pod(namespace).items
        assert [p.status.container_statuses[0].restart_count for p in pods if p.status.phase == "Running"] == [0]


def bind(kube: Kube, namespace: str, user: str, cluster_role: str) -> None:
    rbac(kube).create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": f"{user}-{cluster_role}"[:63]},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster_role},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
        },
    )


def test_helm_installs_missing_crds_but_upgrading_them_is_up_to_kubectl(helm: Helm, tmp_path: Path):
    """On a cluster of its own (the shared one has the CRDs already): `helm install` creates the chart's
    crds/ and they become Established; the upgrade docs/install.md gives (server-side apply, which has to
    take the fields over from the manager `helm`) changes them; `helm uninstall` leaves them."""
    from localcluster import LocalCluster, build_binaries

    binaries = build_binaries()
    with (
        tempfile.TemporaryDirectory(prefix="localcluster-chart-") as state,
        LocalCluster(Path(state) / "cluster", binaries) as cluster,
    ):
        extensions = kubernetes.client.ApiextensionsV1Api(client_for(cluster.kubeconfig))
        assert all(gone(lambda name=name: extensions.read_custom_resource_definition(name)) for name in CRD_NAMES)
        helm.run(
            "install",
            "wio",
            str(CHART),
            "--namespace",
            "default",
            kubeconfig=cluster.kubeconfig,
            tmp_path=tmp_path,
            values={},
        )
        for name in CRD_NAMES:
            wait_for(lambda name=name: crd_established(extensions, name), timeout=30, what=f"CRD {name} Established")

        newer = load_yaml_documents(next((CHART / "crds").glob(f"*_{c.JOB_PLURAL}.yaml")))[0]
        newer["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["description"] = "A newer InferenceJob."
        path = tmp_path / "newer-crd.yaml"
        path.write_text(yaml.safe_dump(newer))
        kubectl = [str(binaries.kubectl), "--kubeconfig", str(cluster.kubeconfig), "apply", "--server-side"]
        refused = subprocess.run([*kubectl, "-f", str(path)], capture_output=True, text=True, check=False)
        assert refused.returncode != 0 and 'conflict with "helm"' in refused.stderr, refused.stderr
        forced = subprocess.run(
            [*kubectl, "--force-conflicts", "-f", str(path)], capture_output=True, text=True, check=False
        )
        assert forced.returncode == 0, forced.stderr
        schema = extensions.read_custom_resource_definition(CRD_NAMES[0]).spec.versions[0].schema
        assert schema.open_apiv3_schema.description == "A newer InferenceJob."

        helm.run("uninstall", "wio", "--namespace", "default", kubeconfig=cluster.kubeconfig)
        assert all(crd_established(extensions, name) for name in CRD_NAMES)


@pytest.mark.skipif(shutil.which("jq") is None, reason="the documented merge command uses jq, not on PATH")
def test_the_documented_merge_puts_the_health_check_into_argocd_cm(
    helm: Helm, kube: Kube, namespace: str, tmp_path: Path
):
    """docs/install.md and the install notes merge the chart's ConfigMap into argocd-cm: the two keys arrive
    with the script unchanged, and argocd-cm's other keys stay."""
    from localcluster import build_binaries

    kube.core.create_namespaced_config_map(namespace, {"metadata": {"name": "argocd-cm"}, "data": {"url": "x"}})
    with installed(helm, kube.kubeconfig, kube, tmp_path, {"argocd": {"healthCheckConfigMap": True}}) as (
        release,
        system,
    ):
        kubectl = f"{build_binaries().kubectl} --kubeconfig {kube.kubeconfig}"
        merge = (
            f"{kubectl} -n {system} get configmap {release}-argocd-health -o json"
            f" | jq '{{data: .data}}' | {kubectl} -n {namespace} patch configmap argocd-cm --type merge"
            " --patch-file /dev/stdin"
        )
        result = subprocess.run(["bash", "-o", "pipefail", "-c", merge], capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr
    script = (REPO_ROOT / "manifests" / "argocd" / "health-inferencejob.lua").read_text()
    assert kube.core.read_namespaced_config_map("argocd-cm", namespace).data == {
        "url": "x",
        f"resource.customizations.health.{c.GROUP}_{c.JOB_KIND}": script,
        f"resource.customizations.health.{c.GROUP}_{c.CONNECTION_KIND}": script,
    }


def test_upgrade_from_namespaced_to_cluster_wide_swaps_the_rbac(helm: Helm, kube: Kube, namespace: str, tmp_path: Path):
    """`helm upgrade` as docs/install.md shows it: new values replace the objects they render, and the Roles a
    namespaced release had are removed when it becomes cluster-wide."""
    with installed(helm, kube.kubeconfig, kube, tmp_path, {"watchNamespaces": [namespace]}) as (release, system):
        operator = service_account(system, release)
        granted(kube, **operator, verb="get", resource="secrets", group="", namespace=namespace)
        helm.run(
            "upgrade",
            release,
            str(CHART),
            "--namespace",
            system,
            "--reuse-values",
            "--set",
            "image.tag=0.2.0",
            "--set-json",
            "watchNamespaces=[]",
            kubeconfig=kube.kubeconfig,
        )
        container = (
            kubernetes.client.AppsV1Api(kube.api)
            .read_namespaced_deployment(release, system)
            .spec.template.spec.containers[0]
        )
        assert container.image == "wallaroo-inference-operator:0.2.0"
        assert not [a for a in container.args or [] if a.startswith("--namespace")]
        wait_for(
            lambda: gone(lambda: rbac(kube).read_namespaced_role(release, namespace)),
            timeout=30,
            what="the namespaced Role to be removed by the upgrade",
        )
        granted(kube, **operator, verb="get", resource="secrets", group="", namespace=unique_name("any"))
