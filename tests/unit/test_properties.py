"""Property-based tests: whatever bytes, JSON or spec a user writes, the operator answers with its own
errors (a condition's reason and message), never an unhandled exception that would end as InternalError."""

from __future__ import annotations

import base64
import gzip
import json

import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wallaroo_operator.controller.errors import Disposition, classify
from wallaroo_operator.data.inputs import InputData, InputError, InputPart, decode_input
from wallaroo_operator.models import InferenceJobSpec, WallarooConnectionSpec
from wallaroo_operator.models.job import InferenceJobStatus
from wallaroo_operator.schedule import InvalidSchedule, validate_schedule

# Enough examples to find the edge cases above, few enough for a shared 2-core machine.
PROPERTY_SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SOURCE = "input/data.json"

# Any JSON value, with the numbers JSON forbids (NaN, Infinity) and ones beyond float64.
json_scalars = (
    st.none()
    | st.booleans()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.integers()
    | st.integers(min_value=10**300, max_value=10**500)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=40,
)
# Documents shaped like the accepted formats, so the row checks are reached too.
rows = st.lists(st.lists(json_scalars, max_size=4) | json_values, max_size=6)
tutorial_like = st.builds(lambda name, r: {name: r}, st.text(max_size=10), rows)
records_like = st.lists(
    st.dictionaries(st.sampled_from(["tensor", "t", ""]), st.lists(json_scalars, max_size=3) | json_values, max_size=2),
    max_size=6,
)
documents = json_values | tutorial_like | records_like


def decodes_or_refuses(part: InputPart) -> None:
    """The property: rows, or an InputError whose message names the part; nothing else."""
    try:
        data = decode_input([part])
    except InputError as error:
        assert str(error).startswith(SOURCE) and error.reason in ("InvalidInput", "InputTooLarge")
        assert classify(error).disposition is Disposition.FAIL
        return
    assert isinstance(data, InputData) and data.rows


def binary(raw: bytes) -> InputPart:
    return InputPart(SOURCE, binary_b64=base64.b64encode(raw).decode())


@PROPERTY_SETTINGS
@given(st.binary(max_size=512))
def test_arbitrary_bytes_in_binary_data(raw: bytes) -> None:
    decodes_or_refuses(binary(raw))


@PROPERTY_SETTINGS
@given(st.binary(max_size=512))
def test_arbitrary_bytes_gzipped(raw: bytes) -> None:
    decodes_or_refuses(binary(gzip.compress(raw)))


@PROPERTY_SETTINGS
@given(st.binary(max_size=64), st.integers(min_value=0, max_value=64))
def test_truncated_or_corrupted_gzip(raw: bytes, cut: int) -> None:
    compressed = gzip.compress(raw)
    decodes_or_refuses(binary(compressed[: max(2, len(compressed) - cut)]))


@PROPERTY_SETTINGS
@given(st.text(max_size=256))
def test_arbitrary_text_in_data(text: str) -> None:
    decodes_or_refuses(InputPart(SOURCE, text=text))


@PROPERTY_SETTINGS
@given(st.text(max_size=64))
def test_arbitrary_text_in_binary_data_as_base64(text: str) -> None:
    decodes_or_refuses(InputPart(SOURCE, binary_b64=text))


@PROPERTY_SETTINGS
@given(documents)
def test_arbitrary_json_documents(document) -> None:
    decodes_or_refuses(InputPart(SOURCE, text=json.dumps(document)))


@PROPERTY_SETTINGS
@given(documents)
def test_arbitrary_json_documents_gzipped(document) -> None:
    decodes_or_refuses(binary(gzip.compress(json.dumps(document).encode())))


@PROPERTY_SETTINGS
@given(documents, st.integers(min_value=0, max_value=200))
def test_truncated_json(document, cut: int) -> None:
    text = json.dumps(document)
    decodes_or_refuses(InputPart(SOURCE, text=text[: max(0, len(text) - cut)]))


# ---- spec models -------------------------------------------------------------------------------

JOB_FIELDS = [
    "connectionRef",
    "workspace",
    "pipeline",
    "input",
    "inference",
    "results",
    "backoffLimit",
    "activeDeadlineSeconds",
    "schedule",
    "timeZone",
    "suspend",
    "concurrencyPolicy",
    "startingDeadlineSeconds",
    "successfulRunsHistoryLimit",
    "failedRunsHistoryLimit",
    "configMaps",
    "selector",
    "matchLabels",
    "name",
    "key",
    "format",
    "batchSize",
    "parallelism",
]
CONNECTION_FIELDS = [
    "apiUrl",
    "tokenUrl",
    "clientId",
    "credentialsSecretRef",
    "caBundle",
    "grant",
    "configMapRef",
    "name",
    "key",
    "insecureSkipTLSVerify",
]


def spec_dicts(fields: list[str]):
    """Dicts whose keys are mostly the models' own field names, nested, with any JSON values."""
    keys = st.sampled_from(fields) | st.text(max_size=8)
    values = st.recursive(
        json_scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=4),
        max_leaves=20,
    )
    return st.dictionaries(keys, values, max_size=8)


@pytest.mark.parametrize(
    "model, fields",
    [
        (InferenceJobSpec, JOB_FIELDS),
        (WallarooConnectionSpec, CONNECTION_FIELDS),
        (InferenceJobStatus, ["lastRun", "history", "active", "conditions"]),
    ],
    ids=["InferenceJobSpec", "WallarooConnectionSpec", "InferenceJobStatus"],
)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_arbitrary_dicts_through_the_models(model, fields, data) -> None:
    value = data.draw(spec_dicts(fields))
    try:
        model.model_validate(value)
    except pydantic.ValidationError as error:
        classified = classify(error)
        assert (classified.reason, classified.disposition) == ("InvalidSpec", Disposition.FAIL)
        assert classified.message


@PROPERTY_SETTINGS
@given(
    st.text(max_size=40) | st.sampled_from(["* * * * *", "0 2 * * *", "@daily", "61 * * * *"]),
    st.text(max_size=30) | st.sampled_from(["UTC", "Europe/Berlin", "../etc/passwd", "Mars/Olympus"]),
)
def test_arbitrary_schedules_and_time_zones(schedule: str, time_zone: str) -> None:
    try:
        validate_schedule(schedule, time_zone)
    except InvalidSchedule as error:
        assert classify(error).reason == "InvalidSchedule"
