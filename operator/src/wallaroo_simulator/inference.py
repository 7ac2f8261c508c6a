"""Inference at a deployment's URL, in the legacy tensor format, pandas-records and Arrow (reference section 4).

Order of checks, outermost first, as the layers of a real install meet a request: the gateway's JWT check
(401 plain text), routing to a deployment (404), the load balancer (payload limit, "Starting": 503),
injected faults, then the engine (content type, JSON, input shape: 400), latency, and the answer.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

from aiohttp import web
from aiohttp.helpers import parse_mimetype

from .arrow import ARROW_CONTENT_TYPE, arrow_response, arrow_rows
from .config import InputSpec
from .endpoints import STATE, verified_claims
from .errors import (
    ErrorAnswer,
    InvalidToken,
    deployment_not_found,
    engine_bad_request,
    error_response,
    json_response,
    jwt_rejected,
    load_balancer_unavailable,
)
from .faults import add_latency, check_payload_size, inject_failure
from .keycloak import REALM_PATH
from .model import infer_columns, row_means
from .world import PipelineState

LEGACY_FORMATS = ("", "wallaroo")  # application/json (2022) and application/json; format=wallaroo
RECORDS_FORMAT = "pandas-records"
RECORD_COLUMNS = ("time", "in", "out", "anomaly", "metadata")


async def infer(request: web.Request) -> web.Response:
    state = request.app[STATE]
    _authenticate(request)
    pipeline = _deployment(request)
    faults = state.faults_for_pipeline(pipeline)
    body = await request.read()
    check_payload_size(faults, len(body))
    if pipeline.is_starting():
        raise load_balancer_unavailable()
    await inject_failure(faults, "inference")
    started = time.perf_counter_ns()
    request_format = _request_format(request)
    if request_format == "arrow":
        rows, input_column = arrow_rows(body, pipeline.config.input)
    else:
        rows = (_records_rows if request_format == "records" else _tensor_rows)(body, pipeline.config.input)
    means = validate_rows(rows, pipeline.config.input)
    await add_latency(faults, len(rows))
    columns = infer_columns(pipeline.config, means)
    state.counters.record_inference(pipeline.name, len(rows))
    if request_format == "arrow":
        return arrow_response(pipeline, input_column, columns, _record_selection(request), _metadata(pipeline, started))
    if request_format == "records":
        selection = _record_selection(request)
        return json_response(records_result(pipeline, rows, columns, selection, started))
    return json_response(legacy_result(pipeline, len(rows), columns, started))


def _authenticate(request: web.Request) -> None:
    try:
        verified_claims(request)
    except InvalidToken as refused:
        raise jwt_rejected(refused.reason, f"{request.scheme}://{request.host}{REALM_PATH}") from None


def _deployment(request: web.Request) -> PipelineState:
    """The deployed pipeline this URL names, in the URL form it is configured with."""
    pipeline = request.app[STATE].world.find_deployment(request.match_info["deployment"])
    if pipeline is None or request.path != pipeline.infer_path:
        raise deployment_not_found()
    return pipeline


def _request_format(request: web.Request) -> str:
    """legacy, records (pandas-records) or arrow; any other type gets the platform's refusal."""
    mimetype = parse_mimetype(request.headers.get("Content-Type", ""))
    if f"{mimetype.type}/{mimetype.subtype}" == ARROW_CONTENT_TYPE:
        return "arrow"
    if (mimetype.type, mimetype.subtype) == ("application", "json"):
        requested = mimetype.parameters.get("format", "")
        if requested in LEGACY_FORMATS or requested == RECORDS_FORMAT:
            return "records" if requested == RECORDS_FORMAT else "legacy"
    shown = request.headers.get("Content-Type", "(none)")
    raise ErrorAnswer(error_response("platform", 415, f"unsupported Content-Type: {shown}"))


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError
        raise engine_bad_request(f"failed to parse the request body as JSON: {error}") from None


def _tensor_rows(body: bytes, spec: InputSpec) -> Any:
    """Legacy body ``{"<input name>": [[row], ...]}``."""
    data = _parse_json(body)
    if not isinstance(data, dict) or spec.name not in data:
        raise engine_bad_request(f'input "{spec.name}" not found in the request')
    return data[spec.name]


def _records_rows(body: bytes, spec: InputSpec) -> Any:
    """pandas-records body ``[{"<input name>": [row]}, ...]``, one object per row."""
    data = _parse_json(body)
    if not isinstance(data, list):
        raise engine_bad_request("expected a JSON array of records (pandas-records)")
    try:
        return [record[spec.name] for record in data]
    except (KeyError, TypeError):
        raise engine_bad_request(f'input "{spec.name}" not found in every record') from None


def validate_rows(rows: Any, spec: InputSpec) -> list[float]:
    """The row means, or the engine's 400 for input that does not fit the pipeline."""
    if not isinstance(rows, list) or not rows or not all(type(row) is list for row in rows):
        raise engine_bad_request(f'"{spec.name}" must be a non-empty list of rows of {spec.width} values')
    width = spec.width
    for index, row in enumerate(rows):  # a plain loop costs less than building a list of lengths
        if len(row) != width:
            raise engine_bad_request(f'"{spec.name}" row {index} has {len(row)} values; the model expects {width}')
    try:
        means = row_means(rows, width)
    except TypeError:
        raise engine_bad_request(_bad_value_message(rows)) from None
    if not math.isfinite(sum(means)):
        raise engine_bad_request("tensor values must be finite numbers")
    return means


def _bad_value_message(rows: list[list[Any]]) -> str:
    if any(value is None for row in rows for value in row):
        return "tensor values may not be null"
    return "tensor values must be numbers"


def legacy_result(
    pipeline: PipelineState, row_count: int, columns: dict[str, list[float]], started_ns: int
) -> list[dict[str, Any]]:
    """One InferenceResult for the batch; each output has ``dim [N, k]`` and row-major ``data``."""
    config = pipeline.config
    outputs = [
        {output.type: {"v": 1, "dim": [row_count, output.width], "data": columns[output.name]}}
        for output in config.outputs
    ]
    return [
        {
            "model_name": config.model.name,
            "model_version": config.model.version,
            "pipeline_name": pipeline.name,
            "outputs": outputs,
            "elapsed": time.perf_counter_ns() - started_ns,
            "time": int(time.time() * 1000),
            "original_data": None,
            "check_failures": [],
            "shadow_data": {},
        }
    ]


def _record_selection(request: web.Request) -> tuple[list[str], str | None]:
    """Top-level columns kept (``dataset[]`` minus ``dataset.exclude[]``) and the flattening separator."""
    wanted = request.query.getall("dataset[]", [])
    excluded = set(request.query.getall("dataset.exclude[]", []))
    keep = [c for c in RECORD_COLUMNS if (not wanted or "*" in wanted or c in wanted) and c not in excluded]
    return keep, request.query.get("dataset.separator") or None


def records_result(
    pipeline: PipelineState,
    rows: list[list[Any]],
    columns: dict[str, list[float]],
    selection: tuple[list[str], str | None],
    started_ns: int,
) -> list[dict[str, Any]]:
    """One record per row: ``time``, ``in``, ``out`` (each value a list), ``anomaly`` and ``metadata``."""
    config = pipeline.config
    keep, separator = selection
    now_ms = int(time.time() * 1000)
    input_name = config.input.name
    outputs = [(o.name, o.width, columns[o.name]) for o in config.outputs]
    shared = {"anomaly": {"count": 0}, "metadata": _metadata(pipeline, started_ns)}  # the same for every row
    records = []
    for index, row in enumerate(rows):
        out = {name: values[index * width : (index + 1) * width] for name, width, values in outputs}
        record = {"time": now_ms, "in": {input_name: row}, "out": out, **shared}
        records.append(_shape_record(record, keep, separator))
    return records


def _metadata(pipeline: PipelineState, started_ns: int) -> dict[str, Any]:
    model = pipeline.config.model
    last_model = json.dumps({"model_name": model.name, "model_sha": model.sha}, separators=(",", ":"))
    elapsed = time.perf_counter_ns() - started_ns
    return {
        "last_model": last_model,
        "pipeline_version": pipeline.config.version,
        "elapsed": [elapsed // 4, elapsed],
        "dropped": [],
        "partition": pipeline.engine_name,
    }


def _shape_record(record: dict[str, Any], keep: list[str], separator: str | None) -> dict[str, Any]:
    """Keep the selected columns; with a separator, flatten nested keys (``out.dense_1``)."""
    if separator is None:
        return {column: record[column] for column in keep}
    flat: dict[str, Any] = {}
    for column in keep:
        value = record[column]
        if isinstance(value, dict):
            for key, item in value.items():
                flat[f"{column}{separator}{key}"] = item
        else:
            flat[column] = value
    return flat
