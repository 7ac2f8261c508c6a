"""Every example in examples/ is valid, consistent, and works against the simulator's default world.

Each InferenceJob and WallarooConnection (including the commented-out variants in the files) is
checked three ways: by the pydantic models the operator itself parses specs with, against the CRD's
OpenAPI schema (unknown fields, types, patterns, enums, bounds: the models ignore unknown fields, the
API server rejects or prunes them), and against the CRD's CEL rules (x-kubernetes-validations). Then
the examples must fit together (names they refer to exist, the Secret has the keys the connection
reads, the input decodes the way the operator reads it) and fit the simulator's default world.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from wallaroo_operator import constants as c
from wallaroo_operator.data.inputs import InputPart, decode_input
from wallaroo_operator.kube.references import allowed_connections
from wallaroo_operator.models import InferenceJobSpec, WallarooConnectionSpec
from wallaroo_operator.models.job import InputSpec
from wallaroo_operator.schedule import validate_schedule
from wallaroo_operator.wallaroo import token_url_for

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "examples"
CRDS = REPO_ROOT / "crds"

# In the order a user applies them (kubectl apply -f examples/ applies files in name order).
FILES = [
    "00-secret.yaml",
    "01-connection.yaml",
    "02-input-configmap.yaml",
    "03-inferencejob.yaml",
    "04-scheduled-inferencejob.yaml",
]
SPEC_MODELS = {c.JOB_KIND: InferenceJobSpec, c.CONNECTION_KIND: WallarooConnectionSpec}


# -- loading -----------------------------------------------------------------------------------------


def applied_documents(name: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all((EXAMPLES / name).read_text()) if doc]


def commented_documents(name: str) -> list[dict]:
    """Commented-out variants: a block of `# `-prefixed lines starting at `# apiVersion:` and ending
    at a bare `#` or a line that is not a comment."""
    variants, block = [], None
    for line in (EXAMPLES / name).read_text().splitlines():
        if line.startswith("# apiVersion:"):
            block = []
        if block is not None:
            if line.startswith("# "):
                block.append(line[2:])
                continue
            variants.append(yaml.safe_load("\n".join(block)))
            block = None
    if block:
        variants.append(yaml.safe_load("\n".join(block)))
    return variants


def all_documents() -> list[tuple[str, dict]]:
    return [(f"{name}[{i}]", doc) for name in FILES for i, doc in enumerate(applied_documents(name))]


def custom_resources() -> list[tuple[str, dict]]:
    found = [(label, doc) for label, doc in all_documents() if doc.get("kind") in SPEC_MODELS]
    for name in FILES:
        found += [(f"{name}[variant {i}]", doc) for i, doc in enumerate(commented_documents(name))]
    return found


def of_kind(kind: str) -> list[dict]:
    return [doc for _, doc in all_documents() if doc["kind"] == kind]


def crd_schema(kind: str) -> dict:
    for path in sorted(CRDS.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        if crd["spec"]["names"]["kind"] == kind:
            version = next(v for v in crd["spec"]["versions"] if v["name"] == c.VERSION)
            return version["schema"]["openAPIV3Schema"]
    raise AssertionError(f"no CRD for {kind} in {CRDS}")


# -- the CRD's schema and CEL rules, as the API server applies them -----------------------------------

_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "integer": int, "number": (int, float)}


def schema_errors(value, schema: dict, path: str = "spec") -> list[str]:
    """A structural-schema validator for the keywords our generated CRDs use."""
    errors = []
    expected = schema.get("type")
    if expected and (not isinstance(value, _TYPES[expected]) or (isinstance(value, bool) and expected != "boolean")):
        return [f"{path}: expected {expected}, got {type(value).__name__} {value!r}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} not in {schema['enum']}")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{path}: {value!r} does not match {schema['pattern']}")
        if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", len(value)):
            errors.append(f"{path}: length {len(value)} out of bounds")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and (
            value < schema["minimum"] or (schema.get("exclusiveMinimum") and value == schema["minimum"])
        ):
            errors.append(f"{path}: {value} below the minimum {schema['minimum']}")
        if "maximum" in schema and (
            value > schema["maximum"] or (schema.get("exclusiveMaximum") and value == schema["maximum"])
        ):
            errors.append(f"{path}: {value} above the maximum {schema['maximum']}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", len(value)):
            errors.append(f"{path}: {len(value)} items out of bounds")
        for index, item in enumerate(value):
            errors += schema_errors(item, schema.get("items", {}), f"{path}[{index}]")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{path}.{key}: required")
        if len(value) < schema.get("minProperties", 0):
            errors.append(f"{path}: fewer than {schema['minProperties']} entries")
        for key, item in value.items():
            if key in properties:
                errors += schema_errors(item, properties[key], f"{path}.{key}")
            elif isinstance(schema.get("additionalProperties"), dict):
                errors += schema_errors(item, schema["additionalProperties"], f"{path}.{key}")
            elif not schema.get("x-kubernetes-preserve-unknown-fields"):
                errors.append(f"{path}.{key}: unknown field (the API server would reject or prune it)")
        for rule in schema.get("x-kubernetes-validations", []):
            if not cel(rule["rule"], value):
                errors.append(f"{path}: {rule['message']} ({rule['rule']})")
    return errors


def cel(rule: str, obj: dict) -> bool:
    """The CEL subset our CRDs use: has(self.field) joined by ==, !=, !, || and &&."""
    expr = re.sub(r"!has\(self\.(\w+)\)", lambda m: f"({m.group(1)!r} not in obj)", rule)
    expr = re.sub(r"has\(self\.(\w+)\)", lambda m: f"({m.group(1)!r} in obj)", expr)
    expr = expr.replace("||", " or ").replace("&&", " and ")
    leftover = re.sub(r"\('\w+' (not )?in obj\)|==|!=|\bor\b|\band\b|\s", "", expr)
    assert not leftover, f"this test's CEL subset cannot evaluate {rule!r}: extend cel()"
    return eval(expr, {"__builtins__": {}}, {"obj": obj})


def test_the_schema_checker_catches_what_the_api_server_would():
    job = crd_schema(c.JOB_KIND)["properties"]["spec"]
    good = {"connectionRef": {"name": "w"}, "workspace": "w", "pipeline": "p", "input": {"configMaps": [{"name": "i"}]}}
    assert schema_errors(good, job) == []
    assert schema_errors({**good, "timezone": "UTC"}, job) == [
        "spec.timezone: unknown field (the API server would reject or prune it)"
    ]
    assert schema_errors({**good, "concurrencyPolicy": "Skip"}, job)
    assert schema_errors({**good, "backoffLimit": -1}, job)
    assert schema_errors({**good, "input": {}}, job)  # CEL: exactly one of configMaps and selector
    connection = crd_schema(c.CONNECTION_KIND)["properties"]["spec"]
    both = {"apiUrl": "https://x/v1/api", "urlPrefix": "a", "urlSuffix": "b", "credentialsSecretRef": {"name": "s"}}
    assert any("not both" in e for e in schema_errors(both, connection))


# -- the examples --------------------------------------------------------------------------------------


def test_examples_are_the_documented_set_in_apply_order():
    assert sorted(p.name for p in EXAMPLES.glob("*.y*ml")) == FILES
    readme = (EXAMPLES / "README.md").read_text()
    headings = re.findall(r"^### `([^`]+)`", readme, flags=re.M)
    assert headings == FILES, "README.md should explain every example, in apply order, under its own heading"


@pytest.mark.parametrize("label,doc", all_documents(), ids=[label for label, _ in all_documents()])
def test_each_document_is_a_namespaced_object_without_a_namespace(label, doc):
    assert {"apiVersion", "kind", "metadata"} <= set(doc), label
    assert doc["metadata"].get("name"), label
    assert "namespace" not in doc["metadata"], f"{label}: examples are applied with `kubectl apply -n ...`"


@pytest.mark.parametrize("label,doc", custom_resources(), ids=[label for label, _ in custom_resources()])
def test_custom_resources_match_the_models_and_the_crds(label, doc):
    assert doc["apiVersion"] == c.API_VERSION, label
    assert doc["kind"] in (c.JOB_KIND, c.CONNECTION_KIND), label
    spec = doc["spec"]
    parsed = SPEC_MODELS[doc["kind"]].model_validate(spec)
    assert not (errors := schema_errors(spec, crd_schema(doc["kind"])["properties"]["spec"])), errors

    def keys(node, prefix=""):
        if isinstance(node, dict):
            return {k for key, value in node.items() for k in {f"{prefix}{key}"} | keys(value, f"{prefix}{key}.")}
        if isinstance(node, list):
            return {k for item in node for k in keys(item, prefix)}
        return set()

    # The models ignore unknown fields; make sure none of the example's fields was ignored.
    assert keys(spec) <= keys(parsed.to_kube()), f"{label}: fields the model does not know"


def test_both_commented_connection_variants_are_found_and_checked():
    variants = commented_documents("01-connection.yaml")
    assert [bool(v["spec"].get("urlPrefix")) for v in variants] == [True, False]
    assert "caBundle" in variants[1]["spec"]


def test_the_secret_holds_what_the_connection_reads():
    from wallaroo_simulator.config import default_config

    world = default_config()
    (secret,) = of_kind("Secret")
    assert "data" not in secret and secret["type"] == "Opaque"
    values = secret["stringData"]
    for connection in of_kind(c.CONNECTION_KIND):
        spec = WallarooConnectionSpec.model_validate(connection["spec"])
        assert spec.credentials_secret_ref.name == secret["metadata"]["name"]
        needed = [c.CLIENT_SECRET_KEY] + ([c.USERNAME_KEY, c.PASSWORD_KEY] if spec.grant == "password" else [])
        assert set(needed) <= set(values)
        allowed = allowed_connections(secret["metadata"].get("annotations"))
        assert connection["metadata"]["name"] in allowed, "the Secret must consent to the connection"
        client = world.client(spec.client_id)
        assert not client.is_public and values[c.CLIENT_SECRET_KEY] == client.secret
    user = world.users[0]
    assert (values["username"], values["password"]) == (user.username, user.password)
    assert "never go into Git" in (EXAMPLES / "00-secret.yaml").read_text()


def test_the_connection_urls_are_the_simulators():
    (connection,) = of_kind(c.CONNECTION_KIND)
    spec = connection["spec"]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1/api", spec["apiUrl"])
    assert spec["tokenUrl"] == token_url_for(spec["apiUrl"]), "the example says tokenUrl is the derived default"


def test_jobs_refer_to_objects_that_exist_in_the_examples():
    connections = {d["metadata"]["name"] for d in of_kind(c.CONNECTION_KIND)}
    config_maps = {d["metadata"]["name"]: d for d in of_kind("ConfigMap")}
    jobs = of_kind(c.JOB_KIND)
    assert len(jobs) == 2
    for job in jobs:
        spec = InferenceJobSpec.model_validate(job["spec"])
        assert spec.connection_ref.name in connections
        for ref in spec.input.config_maps or []:
            assert ref.name in config_maps
            assert (ref.key or spec.input.key) in config_maps[ref.name]["data"]


def test_input_decodes_to_the_pipelines_shape():
    from wallaroo_simulator.config import default_config

    world = default_config()
    (config_map,) = of_kind("ConfigMap")
    key = InputSpec.model_fields["key"].default
    name = config_map["metadata"]["name"]
    data = decode_input([InputPart(f"{name}/{key}", text=config_map["data"][key])])
    for job in of_kind(c.JOB_KIND):
        pipeline = world.pipeline(job["spec"]["pipeline"])
        workspace = next(w for w in world.workspaces if pipeline in w.pipelines)
        assert job["spec"]["workspace"] == workspace.name
        assert data.input_name == pipeline.input.name
        assert data.width == pipeline.input.width
        assert 3 <= len(data.rows) <= 10
        if pipeline.input.dtype == "int":
            assert all(isinstance(v, int) for row in data.rows for v in row)


def test_run_once_and_scheduled_jobs():
    once, scheduled = (InferenceJobSpec.model_validate(d["spec"]) for d in of_kind(c.JOB_KIND))
    assert once.schedule is None
    assert scheduled.schedule == "*/5 * * * *"
    validate_schedule(scheduled.schedule, scheduled.time_zone)
    raw = applied_documents("04-scheduled-inferencejob.yaml")[0]["spec"]
    assert raw["timeZone"] and raw["concurrencyPolicy"] == "Forbid"
    assert {"successfulRunsHistoryLimit", "failedRunsHistoryLimit"} <= set(raw)
    assert scheduled.active_deadline_seconds < 5 * 60, "a run should end before the next slot"


def test_readme_shows_the_run_now_annotation():
    readme = (EXAMPLES / "README.md").read_text()
    assert f'{c.RUN_NOW_ANNOTATION}="$(date -u +%FT%TZ)" --overwrite' in readme
    assert "kubectl annotate inferencejob" in readme
