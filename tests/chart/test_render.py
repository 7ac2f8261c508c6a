"""`helm lint` and `helm template`: the chart renders what manifests/ and crds/ hold, and every value lands."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.chart.conftest import NAMESPACE, RELEASE, Helm, of_kind, only
from tests.support.kube import REPO_ROOT, load_yaml_documents

MANIFESTS = REPO_ROOT / "manifests"
CHART_DIR = REPO_ROOT / "charts" / "wallaroo-inference-operator"

VALUE_SETS = {
    "default": {},
    "namespaced": {"watchNamespaces": ["team-a", "team-b"]},
    "service-monitor": {"metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}}},
    "job-executor": {"executor": {"type": "job"}},
    "no-admission-policy": {"admissionPolicy": {"create": False}},
    "everything": {
        "watchNamespaces": ["team-a"],
        "argocd": {"healthCheckConfigMap": True},
        "metrics": {"serviceMonitor": {"enabled": True}},
        "commonLabels": {"team": "ml"},
        "securityContext": {"runAsUser": None, "runAsGroup": None},
    },
}


def manifest(name: str, kind: str, object_name: str | None = None) -> dict:
    found = [
        d
        for d in load_yaml_documents(MANIFESTS / name)
        if d["kind"] == kind and (object_name is None or d["metadata"]["name"] == object_name)
    ]
    assert len(found) == 1
    return found[0]


def env_of(deployment: dict) -> dict[str, str | None]:
    return {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_helm_lint_is_clean(helm: Helm, tmp_path: Path, values: dict):
    result = helm.run("lint", "--strict", str(CHART_DIR), values=values, tmp_path=tmp_path)
    assert "0 chart(s) failed" in result.stdout, result.stdout


def test_lint_fails_on_a_broken_value(helm: Helm, tmp_path: Path):
    """The lint above can fail: a value the schema (or a template, without it) refuses is reported."""
    result = helm.run(
        "lint", "--strict", str(CHART_DIR), values={"executor": {"type": "cron"}}, tmp_path=tmp_path, check=False
    )
    assert result.returncode != 0
    assert "at '/executor/type': value must be one of '', 'job', 'local'" in result.stdout
    unchecked = helm.run(
        "template",
        RELEASE,
        str(CHART_DIR),
        "--skip-schema-validation",
        tmp_path=tmp_path,
        values={"executor": {"type": "cron"}},
        check=False,
    )
    assert unchecked.returncode != 0 and 'executor.type: "cron" is neither job nor local' in unchecked.stderr


def test_defaults_render_the_deployment_of_manifests(helm: Helm, tmp_path: Path):
    """Same Pod as `kubectl apply -k manifests/`: what differs is only Helm's labels and the selector."""
    objects = helm.template(tmp_path, {"serviceAccount": {"name": "wallaroo-operator"}})
    ours = manifest("deployment.yaml", "Deployment")
    theirs = only(objects, "Deployment")
    assert theirs["metadata"]["name"] == RELEASE and theirs["metadata"]["namespace"] == NAMESPACE
    assert theirs["spec"]["template"]["spec"] == ours["spec"]["template"]["spec"]
    for key in ("replicas", "strategy"):
        assert theirs["spec"][key] == ours["spec"][key]
    pod_labels = theirs["spec"]["template"]["metadata"]["labels"]
    assert ours["spec"]["template"]["metadata"]["labels"].items() <= pod_labels.items()
    assert theirs["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert ours["spec"]["selector"]["matchLabels"].items() <= theirs["spec"]["selector"]["matchLabels"].items()


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_pod_security_is_always_restricted(helm: Helm, tmp_path: Path, values: dict):
    pod = only(helm.template(tmp_path, values), "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC")
    for container in pod["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False and context["runAsNonRoot"] is True
        assert context["readOnlyRootFilesystem"] is True
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert all("hostPath" not in volume for volume in pod["volumes"])


def test_user_and_group_can_be_left_to_the_platform(helm: Helm, tmp_path: Path):
    """OpenShift assigns its own UID: both can be unset, the rest of the restricted settings stay."""
    values = {"securityContext": {"runAsUser": None, "runAsGroup": None}}
    context = only(helm.template(tmp_path, values), "Deployment")["spec"]["template"]["spec"]["securityContext"]
    assert context == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}


def test_cluster_wide_rbac_is_the_cluster_role_of_manifests(helm: Helm, tmp_path: Path):
    objects = helm.template(tmp_path)
    ours = manifest("rbac.yaml", "ClusterRole", "wallaroo-inference-operator")
    role = only(objects, "ClusterRole", RELEASE)
    assert role["rules"] == ours["rules"]
    binding = only(objects, "ClusterRoleBinding", RELEASE)
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": RELEASE}
    account = only(objects, "ServiceAccount")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": NAMESPACE}
    ]
    assert account["metadata"]["name"] == only(objects, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"]
    assert not of_kind(objects, "Role") and not of_kind(objects, "RoleBinding")
    # The cluster-wide install watches every namespace: only the executor of manifests/deployment.yaml is given.
    assert only(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"] == ["--executor=job"]


def test_namespaced_mode_is_the_namespaced_component_of_manifests(helm: Helm, tmp_path: Path):
    """A Role and RoleBinding per namespace with the rules of manifests/namespaced/roles.yaml, and the read-only
    ClusterRole of manifests/namespaced/cluster-role.yaml instead of the cluster-wide one."""
    objects = helm.template(tmp_path, VALUE_SETS["namespaced"])
    ours = next(d for d in load_yaml_documents(MANIFESTS / "namespaced" / "roles.yaml") if d["kind"] == "Role")
    container = only(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert [a for a in container["args"] if a.startswith("--namespace")] == ["--namespace=team-a", "--namespace=team-b"]
    roles, bindings = of_kind(objects, "Role"), of_kind(objects, "RoleBinding")
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["team-a", "team-b"]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["team-a", "team-b"]
    for role in roles:
        assert role["rules"] == ours["rules"]
    cluster_role = only(objects, "ClusterRole", f"{RELEASE}-cluster")
    assert cluster_role["rules"] == manifest("namespaced/cluster-role.yaml", "ClusterRole")["rules"]
    assert all(set(rule["verbs"]) <= {"list", "watch"} for rule in cluster_role["rules"]), "read-only cluster-wide"
    assert only(objects, "ClusterRoleBinding")["roleRef"]["name"] == f"{RELEASE}-cluster"
    for binding in bindings:
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": RELEASE}
    assert not [r for r in of_kind(objects, "ClusterRole") if r["metadata"]["name"] == RELEASE]


def test_a_namespace_glob_is_refused_with_a_reason(helm: Helm, tmp_path: Path):
    result = helm.run(
        "template", RELEASE, str(CHART_DIR), values={"watchNamespaces": ["team-*"]}, tmp_path=tmp_path, check=False
    )
    assert result.returncode != 0
    assert 'watchNamespaces: "team-*" is not a namespace name' in result.stderr


def test_the_crds_are_those_of_crds(helm: Helm, tmp_path: Path):
    rendered = of_kind(helm.template(tmp_path, {}, "--include-crds"), "CustomResourceDefinition")
    committed = [doc for path in sorted((REPO_ROOT / "crds").glob("*.yaml")) for doc in load_yaml_documents(path)]
    assert sorted(rendered, key=lambda c: c["metadata"]["name"]) == committed
    for path in (REPO_ROOT / "crds").glob("*.yaml"):
        assert (CHART_DIR / "crds" / path.name).read_bytes() == path.read_bytes()


def test_user_roles_are_those_of_manifests(helm: Helm, tmp_path: Path):
    objects = helm.template(tmp_path)
    for suffix in ("view", "edit"):
        ours = manifest("user-roles.yaml", "ClusterRole", f"wallaroo-inference-operator-{suffix}")
        theirs = only(objects, "ClusterRole", f"{RELEASE}-{suffix}")
        assert theirs["rules"] == ours["rules"]
        labels = ours["metadata"]["labels"]
        aggregation = {k: v for k, v in labels.items() if k.startswith("rbac.authorization.k8s.io/")}
        assert aggregation and aggregation.items() <= theirs["metadata"]["labels"].items()
    names = {
        r["metadata"]["name"] for r in of_kind(helm.template(tmp_path, {"userRoles": {"create": False}}), "ClusterRole")
    }
    assert names == {RELEASE}, "userRoles.create: false leaves only the operator's ClusterRole"


def test_metrics_service_and_service_monitor(helm: Helm, tmp_path: Path):
    objects = helm.template(
        tmp_path, {"metrics": {"port": 9100, "serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}}}
    )
    deployment, service = only(objects, "Deployment"), only(objects, "Service")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 9100, "targetPort": "metrics", "protocol": "TCP"}]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "metrics", "containerPort": 9100, "protocol": "TCP"} in container["ports"]
    assert env_of(deployment)["WALLAROO_OPERATOR_METRICS_PORT"] == "9100"
    monitor = only(objects, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert not of_kind(helm.template(tmp_path), "ServiceMonitor"), "off by default"


def test_metrics_off_removes_port_env_and_service(helm: Helm, tmp_path: Path):
    objects = helm.template(tmp_path, {"metrics": {"enabled": False}})
    deployment = only(objects, "Deployment")
    assert "WALLAROO_OPERATOR_METRICS_PORT" not in env_of(deployment)
    assert [p["name"] for p in deployment["spec"]["template"]["spec"]["containers"][0]["ports"]] == ["health"]
    assert not of_kind(objects, "Service")
    result = helm.run(
        "template",
        RELEASE,
        str(CHART_DIR),
        tmp_path=tmp_path,
        check=False,
        values={"metrics": {"enabled": False, "serviceMonitor": {"enabled": True}}},
    )
    assert result.returncode != 0 and "metrics.serviceMonitor.enabled needs metrics.enabled" in result.stderr


def test_values_reach_the_pod(helm: Helm, tmp_path: Path):
    values = {
        "image": {"repository": "registry.example.com/wio", "tag": "1.2.3", "pullPolicy": "Always"},
        "imagePullSecrets": [{"name": "pull"}],
        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "2Gi"}},
        "nodeSelector": {"pool": "ops"},
        "tolerations": [{"key": "ops", "operator": "Exists", "effect": "NoSchedule"}],
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]
                }
            }
        },
        "priorityClassName": "platform",
        "operator": {
            "logFormat": "plain",
            "maxConcurrentRuns": 3,
            "extraArgs": ["--verbose"],
            "extraEnv": [{"name": "WALLAROO_OPERATOR_RETRY_CAP_SECONDS", "value": "30"}],
        },
        "podLabels": {"team": "ml"},
        "podAnnotations": {"note": "pod"},
        "commonLabels": {"cost-centre": "42"},
        "commonAnnotations": {"owner": "platform"},
    }
    objects = helm.template(tmp_path, values)
    deployment = only(objects, "Deployment")
    pod = deployment["spec"]["template"]
    container = pod["spec"]["containers"][0]
    assert container["image"] == "registry.example.com/wio:1.2.3" and container["imagePullPolicy"] == "Always"
    assert container["resources"] == values["resources"], "replaces manifests/' resources as a whole"
    assert container["args"] == ["--executor=job", "--verbose"]
    for key in ("imagePullSecrets", "tolerations", "affinity", "priorityClassName"):
        assert pod["spec"][key] == values[key], key
    assert pod["spec"]["nodeSelector"] == {"pool": "ops"}, "replaces manifests/' nodeSelector"
    env = env_of(deployment)
    assert env["KOPF_RUN_LOG_FORMAT"] == "plain" and env["WALLAROO_OPERATOR_MAX_CONCURRENT_RUNS"] == "3"
    assert env["WALLAROO_OPERATOR_RETRY_CAP_SECONDS"] == "30"
    assert pod["metadata"]["labels"]["team"] == "ml"
    assert pod["metadata"]["annotations"] == {"note": "pod", "owner": "platform"}
    for obj in objects:
        assert obj["metadata"]["labels"]["cost-centre"] == "42", obj["kind"]
        assert obj["metadata"]["annotations"]["owner"] == "platform", obj["kind"]
    digest = "sha256:" + "a" * 64
    pinned = only(helm.template(tmp_path, {"image": {"digest": digest}}), "Deployment")
    assert pinned["spec"]["template"]["spec"]["containers"][0]["image"] == f"wallaroo-inference-operator@{digest}"


def container_of(objects: list[dict]) -> dict:
    return only(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]


def test_executor_values_become_the_operators_flag_and_env(helm: Helm, tmp_path: Path):
    ours = manifest("deployment.yaml", "Deployment")["spec"]["template"]["spec"]["containers"][0]
    default = container_of(helm.template(tmp_path))
    assert default.get("args") == ours.get("args"), "no executor value: what manifests/ sets"
    for executor in ("job", "local"):
        container = container_of(helm.template(tmp_path, {"executor": {"type": executor}}))
        assert [a for a in container["args"] if a.startswith("--executor")] == [f"--executor={executor}"]
    job = container_of(helm.template(tmp_path, {"executor": {"type": "job"}, "image": {"tag": "9.9.9"}}))
    assert {"name": "WALLAROO_OPERATOR_WORKER_IMAGE", "value": "wallaroo-inference-operator:9.9.9"} in job["env"]
    own = container_of(helm.template(tmp_path, {"executor": {"type": "job", "job": {"image": "reg/worker:1"}}}))
    assert {"name": "WALLAROO_OPERATOR_WORKER_IMAGE", "value": "reg/worker:1"} in own["env"]
    assert [e["name"] for e in own["env"]].count("WALLAROO_OPERATOR_WORKER_IMAGE") == 1


def test_argocd_health_config_map_holds_the_script_unchanged(helm: Helm, tmp_path: Path):
    script = (MANIFESTS / "argocd" / "health-inferencejob.lua").read_text()
    config_map = only(helm.template(tmp_path, {"argocd": {"healthCheckConfigMap": True}}), "ConfigMap")
    assert config_map["data"] == {
        "resource.customizations.health.wallaroo.inferops.dev_InferenceJob": script,
        "resource.customizations.health.wallaroo.inferops.dev_WallarooConnection": script,
    }
    assert not of_kind(helm.template(tmp_path), "ConfigMap"), "off by default"


def test_values_file_documents_every_top_level_value():
    """values.yaml is the chart's reference: each top-level key has a comment in its paragraph."""
    paragraphs = (CHART_DIR / "values.yaml").read_text().split("\n\n")
    for key in yaml.safe_load("\n\n".join(paragraphs)):
        paragraph = next(p for p in paragraphs if f"\n{key}:" in f"\n{p}")
        assert "#" in paragraph, f"values.yaml: document {key}"


@pytest.mark.parametrize(
    "values",
    [
        {"securityContext": {"privileged": True}},
        {"securityContext": {"runAsUser": 0}},
        {"replicaCount": 2},
        {"operator": {"logFormat": "xml"}},
        {"executor": {"type": "cron"}},
    ],
    ids=["privileged", "root", "replicas", "log-format", "executor"],
)
def test_values_outside_the_schema_are_refused(helm: Helm, tmp_path: Path, values: dict):
    """values.schema.json: a typo or a setting the chart does not have fails instead of being ignored."""
    result = helm.run("template", RELEASE, str(CHART_DIR), values=values, tmp_path=tmp_path, check=False)
    assert result.returncode != 0 and "values don't meet the specifications of the schema" in result.stderr


def test_the_admission_policy_is_that_of_manifests_for_this_releases_account(helm: Helm, tmp_path: Path):
    objects = helm.template(tmp_path, {"serviceAccount": {"name": "op"}})
    ours = manifest("admission-policy.yaml", "ValidatingAdmissionPolicy")
    policy, binding = only(objects, "ValidatingAdmissionPolicy"), only(objects, "ValidatingAdmissionPolicyBinding")
    expression = policy["spec"]["matchConditions"][0]["expression"]
    assert expression == "request.userInfo.username == 'system:serviceaccount:wallaroo-operator:op'"
    policy["spec"]["matchConditions"][0]["expression"] = ours["spec"]["matchConditions"][0]["expression"]
    assert policy["spec"] == ours["spec"]
    assert binding["spec"] == {"policyName": policy["metadata"]["name"], "validationActions": ["Deny"]}
    assert not of_kind(helm.template(tmp_path, VALUE_SETS["no-admission-policy"]), "ValidatingAdmissionPolicy")


def test_a_change_to_manifests_reaches_the_chart_through_make_chart(helm: Helm, tmp_path: Path, monkeypatch):
    """What another change to manifests/ does (here: the Job executor's flag and env, more concurrent runs,
    other resources, one verb less) is in the chart after `make chart`, with no template edited."""
    import hack.chart.generate as generate

    manifests, chart = tmp_path / "manifests", tmp_path / "chart"
    shutil.copytree(MANIFESTS, manifests)
    shutil.copytree(CHART_DIR, chart)
    docs = load_yaml_documents(manifests / "deployment.yaml")
    container = docs[0]["spec"]["template"]["spec"]["containers"][0]
    container["args"] = ["--executor=job"]
    container["env"].insert(0, {"name": "WALLAROO_OPERATOR_WORKER_IMAGE", "value": "wallaroo-inference-operator:0.1.0"})
    next(e for e in container["env"] if e["name"] == "WALLAROO_OPERATOR_MAX_CONCURRENT_RUNS")["value"] = "64"
    container["resources"] = {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}}
    (manifests / "deployment.yaml").write_text(yaml.safe_dump_all(docs))
    rbac = load_yaml_documents(manifests / "rbac.yaml")
    rbac[0]["rules"][0]["verbs"].remove("patch")
    (manifests / "rbac.yaml").write_text(yaml.safe_dump_all(rbac))
    monkeypatch.setattr(generate, "MANIFESTS", manifests)
    generate.generate(chart)

    result = helm.run(
        "template",
        RELEASE,
        str(chart),
        "--namespace",
        NAMESPACE,
        tmp_path=tmp_path,
        values={"serviceAccount": {"name": "wallaroo-operator"}},
    )
    objects = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    assert only(objects, "Deployment")["spec"]["template"]["spec"] == docs[0]["spec"]["template"]["spec"]
    assert only(objects, "ClusterRole", RELEASE)["rules"] == rbac[0]["rules"]
