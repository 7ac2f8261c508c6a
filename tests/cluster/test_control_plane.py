"""The cluster under test is a real one: each Kubernetes behaviour the operator relies on, proven."""

from __future__ import annotations

import base64

import kubernetes
import pytest
from kubernetes.client import ApiException

from tests.support.kube import Kube, crd_established, unique_name
from tests.support.waiting import wait_for

pytestmark = pytest.mark.cluster

WIDGET_GROUP = "test.inferops.dev"


def widget_crd(plural: str) -> dict:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{WIDGET_GROUP}"},
        "spec": {
            "group": WIDGET_GROUP,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": plural[:-1], "kind": plural[:-1].capitalize() + "X"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "required": ["size"],
                                    "properties": {"size": {"type": "integer", "minimum": 1, "maximum": 10}},
                                }
                            },
                        }
                    },
                }
            ],
        },
    }


def test_server_reports_its_real_version(kube: Kube):
    version = kubernetes.client.VersionApi(kube.api).get_code()
    assert version.major == "1"
    assert version.git_version.startswith("v1.")
    assert "master" not in version.git_version and "$Format" not in version.git_version


def test_crd_is_established_and_the_server_validates_its_schema(kube: Kube, namespace: str):
    plural = unique_name("widgets").replace("-", "")
    crd = widget_crd(plural)
    kube.extensions.create_custom_resource_definition(crd)
    try:
        wait_for(lambda: crd_established(kube.extensions, crd["metadata"]["name"]), timeout=30, what="Established")
        kind = crd["spec"]["names"]["kind"]
        good = {"apiVersion": f"{WIDGET_GROUP}/v1", "kind": kind, "metadata": {"name": "ok"}, "spec": {"size": 3}}
        wait_for(
            lambda: kube.custom.create_namespaced_custom_object(WIDGET_GROUP, "v1", namespace, plural, good),
            timeout=30,
            what="the new resource to be served",
        )
        bad = {**good, "metadata": {"name": "too-big"}, "spec": {"size": 99}}
        with pytest.raises(ApiException) as rejected:
            kube.custom.create_namespaced_custom_object(WIDGET_GROUP, "v1", namespace, plural, bad)
        assert rejected.value.status == 422
        assert "spec.size" in rejected.value.body and "less than or equal to 10" in rejected.value.body
    finally:
        kube.extensions.delete_custom_resource_definition(crd["metadata"]["name"])


def test_garbage_collector_deletes_what_an_owner_owned(kube: Kube, namespace: str):
    core = kube.core
    owner = core.create_namespaced_config_map(namespace, {"metadata": {"name": "owner"}})
    core.create_namespaced_config_map(
        namespace,
        {
            "metadata": {
                "name": "dependent",
                "ownerReferences": [
                    {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}
                ],
            }
        },
    )
    core.delete_namespaced_config_map("owner", namespace)

    def dependent_gone() -> bool:
        try:
            core.read_namespaced_config_map("dependent", namespace)
            return False
        except ApiException as error:
            return error.status == 404

    wait_for(dependent_gone, timeout=60, what="the dependent ConfigMap to be garbage-collected")


def test_namespace_deletion_completes(kube: Kube):
    name = unique_name("t-doomed")
    kube.core.create_namespace({"metadata": {"name": name}})
    kube.core.create_namespaced_config_map(name, {"metadata": {"name": "content"}})
    kube.core.delete_namespace(name)

    def namespace_gone() -> bool:
        try:
            kube.core.read_namespace(name)
            return False
        except ApiException as error:
            return error.status == 404

    wait_for(namespace_gone, timeout=60, what=f"namespace {name} to finish deleting")


def test_token_request_gives_a_token_bound_to_a_narrow_role(kube: Kube, namespace: str):
    core, rbac = kube.core, kubernetes.client.RbacAuthorizationV1Api(kube.api)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "reader"}})
    rbac.create_namespaced_role(
        namespace,
        {
            "metadata": {"name": "configmap-reader"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}],
        },
    )
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": "reader"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "configmap-reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": namespace}],
        },
    )
    token = core.create_namespaced_service_account_token(
        "reader", namespace, {"spec": {"expirationSeconds": 600}}
    ).status.token
    assert token.count(".") == 2 and base64.urlsafe_b64decode(token.split(".")[0] + "==")

    as_reader = kubernetes.client.Configuration()
    as_reader.host = kube.api.configuration.host
    as_reader.ssl_ca_cert = kube.api.configuration.ssl_ca_cert
    as_reader.api_key = {"authorization": f"Bearer {token}"}
    reader = kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(as_reader))

    # RBAC changes propagate to the authorizer's cache quickly but not instantly.
    wait_for(
        lambda: reader.list_namespaced_config_map(namespace) is not None,
        timeout=30,
        what="the Role to allow listing ConfigMaps",
    )
    with pytest.raises(ApiException) as denied:
        reader.list_namespaced_secret(namespace)
    assert denied.value.status == 403
    with pytest.raises(ApiException) as elsewhere:
        reader.list_namespaced_config_map("default")
    assert elsewhere.value.status == 403
