"""Check InferenceJob and WallarooConnection manifests offline, as the API server would on apply.

The same CRDs the cluster gets (generated from the pydantic models): the OpenAPI schema with
jsonschema, unknown fields as kubectl's strict field validation reports them, the schema's defaults
applied, then every x-kubernetes-validations CEL rule evaluated with cel-python. On top, what the
operator itself would refuse with a condition (a cron schedule or time zone that only parses as a
pattern). Needs the `cli` extra (jsonschema, cel-python); the operator image does without it.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import celpy
import jsonschema
from celpy import celtypes
from celpy.adapter import json_to_cel

from wallaroo_operator import constants as c
from wallaroo_operator.models.crd import inference_job_crd, wallaroo_connection_crd
from wallaroo_operator.schedule.cron import InvalidSchedule, validate_schedule

# celpy's debug log prints every evaluation's activation, the manifest's values included (an apiUrl with a
# password among them): kept at INFO even when the root logger is at DEBUG.
logging.getLogger("celpy").setLevel(logging.INFO)

DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# What the API server appends to metadata.generateName.
GENERATED_SUFFIX = "x" * 5

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    path: str  # e.g. "spec.input.configMaps[0].name"; "" for the document itself
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


@dataclass(frozen=True)
class Rule:
    """One CEL rule of the CRD, where it applies."""

    schema_path: tuple[str, ...]  # property names from the root; "[]" for array items
    rule: str
    message: str
    # FieldValueForbidden: the API server then leaves the value out of its error, as we do (a URL
    # rule must not echo the password it refuses).
    reason: str = ""


def field_path(path: Iterable[str | int]) -> str:
    """("spec", "input", "configMaps", 0, "name") -> "spec.input.configMaps[0].name"."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


@cache
def _schemas() -> dict[str, dict[str, Any]]:
    return {
        crd["spec"]["names"]["kind"]: crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        for crd in (inference_job_crd(), wallaroo_connection_crd())
    }


def kinds() -> tuple[str, ...]:
    return tuple(_schemas())


def is_ours(document: Mapping[str, Any]) -> bool:
    """Whether the document claims to be one of this operator's kinds (any version of its group)."""
    return str(document.get("apiVersion", "")).split("/")[0] == c.GROUP


def check_manifest(document: Any) -> list[Problem]:
    """Every problem the API server (and then the operator) would report for this object."""
    if not isinstance(document, Mapping):
        return [Problem("", f"expected a Kubernetes object (a mapping), got {type(document).__name__}")]
    header = _check_header(document)
    if header:
        return header
    schema = _schemas()[document["kind"]]
    problems = _check_metadata(document.get("metadata"))
    problems += _schema_problems(schema, document)
    problems += _unknown_fields(schema, document, ())
    # As the server: defaults first, then the rules. A rule that cannot be evaluated because a
    # value has the wrong type is noise next to the schema's own message, so it is left out then.
    defaulted = apply_defaults(schema, document)
    problems += _rule_problems(defaulted, report_errors=not problems)
    problems += _operator_problems(defaulted)
    return problems


def _check_header(document: Mapping[str, Any]) -> list[Problem]:
    api_version, kind = document.get("apiVersion"), document.get("kind")
    if api_version != c.API_VERSION:
        return [Problem("apiVersion", f"Unsupported value: {api_version!r}: {c.GROUP} serves {c.API_VERSION} only")]
    if kind not in _schemas():
        return [Problem("kind", f"Unsupported value: {kind!r}: supported values: {', '.join(map(repr, kinds()))}")]
    return []


def _check_metadata(metadata: Any) -> list[Problem]:
    if not isinstance(metadata, Mapping):
        return [Problem("metadata.name", "Required value: name or generateName is required")]
    problems = []
    name = metadata.get("name")
    if name is None and not metadata.get("generateName"):
        problems.append(Problem("metadata.name", "Required value: name or generateName is required"))
    if name is not None and (not isinstance(name, str) or len(name) > 253 or not DNS_SUBDOMAIN.match(name)):
        problems.append(
            Problem(
                "metadata.name",
                f"Invalid value: {name!r}: must be a lowercase RFC 1123 subdomain "
                "(a-z, 0-9, '-' and '.', starting and ending "
                "with a letter or digit)",
            )
        )
    namespace = metadata.get("namespace")
    if namespace is not None and (
        not isinstance(namespace, str) or len(namespace) > 63 or not DNS_LABEL.match(namespace)
    ):
        problems.append(Problem("metadata.namespace", f"Invalid value: {namespace!r}: a lowercase RFC 1123 label"))
    return problems


# -- the OpenAPI schema ------------------------------------------------------------------------------


def _schema_problems(schema: dict[str, Any], document: Mapping[str, Any]) -> list[Problem]:
    # CRD schemas are OpenAPI v3.0: JSON Schema draft 4's keywords (boolean exclusiveMinimum).
    validator = jsonschema.Draft4Validator(_without_cel(schema))
    problems = []
    for error in sorted(validator.iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path]):
        path = list(error.absolute_path)
        if error.validator == "required":
            missing = re.match(r"'([^']+)'", error.message)
            problems.append(Problem(field_path([*path, missing[1] if missing else "?"]), "Required value"))
        else:
            problems.append(Problem(field_path(path), f"Invalid value: {_describe(error)}"))
    return problems


def _describe(error: jsonschema.ValidationError) -> str:
    """The API server's wording where it is short: `Invalid value: 0: must be greater than or equal to 1`."""
    value, keyword = error.instance, str(error.validator)
    limit: Any = error.validator_value
    schema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    if keyword in ("minimum", "maximum"):
        exclusive = bool(schema.get("exclusiveMinimum" if keyword == "minimum" else "exclusiveMaximum"))
        relation = {
            ("minimum", False): "greater than or equal to",
            ("minimum", True): "greater than",
            ("maximum", False): "less than or equal to",
            ("maximum", True): "less than",
        }[(keyword, exclusive)]
        return f"{value!r}: must be {relation} {limit}"
    if keyword == "type":
        return f"{_shown(value)}: must be of type {limit}"
    if keyword == "enum":
        return f"{value!r}: supported values: {', '.join(map(repr, limit))}"
    if keyword == "pattern":
        return f"{value!r}: must match the pattern {limit!r}"
    if keyword in ("maxLength", "minLength"):
        return f"{value!r}: must be {'at most' if keyword == 'maxLength' else 'at least'} {limit} characters long"
    if keyword in ("maxItems", "minItems", "maxProperties", "minProperties"):
        what = "items" if keyword.endswith("Items") else "entries"
        return f"must have {'at most' if keyword.startswith('max') else 'at least'} {limit} {what}"
    return error.message


def _shown(value: Any) -> str:
    return '"object"' if isinstance(value, Mapping) else '"array"' if isinstance(value, list) else repr(value)


def _without_cel(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _without_cel(v) for k, v in schema.items() if not k.startswith("x-kubernetes-")}
    if isinstance(schema, list):
        return [_without_cel(item) for item in schema]
    return schema


def _unknown_fields(schema: Mapping[str, Any], value: Any, path: Path) -> list[Problem]:
    """kubectl's strict field validation: a field the schema does not know is an error, not pruned."""
    problems: list[Problem] = []
    if isinstance(value, Mapping) and "properties" in schema:
        properties = schema["properties"]
        for key, item in value.items():
            if key in properties:
                problems += _unknown_fields(properties[key], item, (*path, key))
            elif not schema.get("x-kubernetes-preserve-unknown-fields"):
                problems.append(Problem(field_path((*path, key)), f'unknown field "{field_path((*path, key))}"'))
    elif isinstance(value, Mapping) and isinstance(schema.get("additionalProperties"), Mapping):
        for key, item in value.items():
            problems += _unknown_fields(schema["additionalProperties"], item, (*path, key))
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for index, item in enumerate(value):
            problems += _unknown_fields(schema["items"], item, (*path, index))
    return problems


def apply_defaults(schema: Mapping[str, Any], value: Any) -> Any:
    """The object with the schema's defaults filled in, as the API server stores it."""
    if isinstance(value, Mapping) and "properties" in schema:
        filled = dict(value)
        for key, prop in schema["properties"].items():
            if key not in filled and "default" in prop:
                filled[key] = copy.deepcopy(prop["default"])
            if key in filled:
                filled[key] = apply_defaults(prop, filled[key])
        return filled
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        return [apply_defaults(schema["items"], item) for item in value]
    return value


# -- the CEL rules -----------------------------------------------------------------------------------


def rules(schema: Mapping[str, Any] | None = None, at: tuple[str, ...] = ()) -> Iterator[Rule]:
    """Every x-kubernetes-validations rule of a schema (default: of both CRDs)."""
    if schema is None:
        for root in _schemas().values():
            yield from rules(root)
        return
    for entry in schema.get("x-kubernetes-validations", ()):
        message = entry.get("message") or f"failed rule: {entry['rule']}"
        yield Rule(at, entry["rule"], message, entry.get("reason", ""))
    for key, prop in (schema.get("properties") or {}).items():
        yield from rules(prop, (*at, key))
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), Mapping):
            yield from rules(schema[key], (*at, "[]"))


@cache
def _program(rule: str) -> Any:
    environment = celpy.Environment()
    return environment.program(environment.compile(rule))


def evaluate(rule: str, value: Any) -> bool:
    """A CEL rule with `self` bound to the value; raises ValueError when it cannot be evaluated."""
    try:
        result = _program(rule).evaluate({"self": json_to_cel(value)})
    except Exception as error:  # celpy raises its own hierarchy, not all of it public
        raise ValueError(f"rule {rule!r} could not be evaluated: {error}") from None
    if not isinstance(result, celtypes.BoolType):  # a CELEvalError is returned, not raised, for some errors
        raise ValueError(f"rule {rule!r} could not be evaluated: {result}")
    return bool(result)


def _rule_problems(document: Mapping[str, Any], report_errors: bool) -> list[Problem]:
    root = dict(document)
    metadata = dict(root.get("metadata") or {})
    if "name" not in metadata and metadata.get("generateName"):
        metadata["name"] = metadata["generateName"] + GENERATED_SUFFIX
    root["metadata"] = metadata
    problems = []
    for rule in rules(_schemas()[document["kind"]]):
        for path, value in _values_at(root, rule.schema_path, ()):
            try:
                holds = evaluate(rule.rule, value)
            except ValueError as error:
                if report_errors:
                    problems.append(Problem(field_path(path), str(error)))
                continue
            if not holds and rule.reason == "FieldValueForbidden":
                problems.append(Problem(field_path(path), f"Forbidden: {rule.message}"))
            elif not holds:
                problems.append(Problem(field_path(path), f"Invalid value: {_shown(value)}: {rule.message}"))
    return problems


def _values_at(value: Any, schema_path: Sequence[str], path: Path) -> Iterator[tuple[Path, Any]]:
    if not schema_path:
        yield path, value
        return
    step, rest = schema_path[0], schema_path[1:]
    if step == "[]":
        items = enumerate(value) if isinstance(value, list) else (value.items() if isinstance(value, Mapping) else ())
        for key, item in items:
            yield from _values_at(item, rest, (*path, key))
    elif isinstance(value, Mapping) and step in value:
        yield from _values_at(value[step], rest, (*path, step))


# -- what the operator checks beyond the API server -----------------------------------------------


def _operator_problems(document: Mapping[str, Any]) -> list[Problem]:
    spec = document.get("spec") or {}
    schedule, time_zone = spec.get("schedule"), spec.get("timeZone", "UTC")
    if document["kind"] != c.JOB_KIND or not isinstance(schedule, str) or not isinstance(time_zone, str):
        return []
    try:
        validate_schedule(schedule, time_zone)
    except InvalidSchedule as error:
        return [Problem(f"spec.{error.field}", f"the operator would refuse it ({error.reason}): {error}")]
    return []
