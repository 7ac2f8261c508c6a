"""Inference in both request formats, at both URL forms, and every refusal a client can meet."""

from __future__ import annotations

import json
import math

import pytest
import requests

from tests.support.data import aloha_rows, ccfraud_rows
from wallaroo_simulator import RunningSimulator, default_config, expected_outputs
from wallaroo_simulator.config import OutputSpec
from wallaroo_simulator.model import infer_columns, row_means

RECORDS = "application/json; format=pandas-records"
SDK_QUERY = "?dataset[]=*&dataset.exclude[]=metadata&dataset.separator=."


def infer(
    sim: RunningSimulator, auth: dict[str, str], pipeline: str, body: object, content_type: str, query: str = ""
) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {**auth, "Content-Type": content_type} if content_type else auth
    return requests.post(sim.external_url(pipeline) + query, data=data, headers=headers, timeout=10)


@pytest.mark.parametrize("content_type", ["application/json", "application/json; format=wallaroo"])
def test_legacy_tensor_format(sim: RunningSimulator, auth: dict[str, str], content_type: str) -> None:
    rows = ccfraud_rows(3)
    response = infer(sim, auth, "ccfraudpipeline", {"tensor": rows}, content_type)
    assert response.status_code == 200
    [result] = response.json()
    pipeline = sim.config.pipeline("ccfraudpipeline")
    assert result["model_name"] == "ccfraud" and result["model_version"] == pipeline.model.version
    assert result["outputs"] == [
        {"Float": {"v": 1, "dim": [3, 1], "data": [expected_outputs(pipeline, row)["dense_1"][0] for row in rows]}}
    ]
    assert isinstance(result["elapsed"], int) and isinstance(result["time"], int)


def test_outputs_wider_than_one_are_flattened_row_major() -> None:
    pipeline = (
        default_config()
        .pipeline("ccfraudpipeline")
        .model_copy(update={"outputs": [OutputSpec(name="a", width=2), OutputSpec(name="b", width=3)]})
    )
    rows = ccfraud_rows(2)
    values = infer_columns(pipeline, row_means(rows, 29))
    assert len(values["a"]) == 4 and len(values["b"]) == 6
    assert values["b"][3:] == expected_outputs(pipeline, rows[1])["b"]
    assert expected_outputs(pipeline, rows[1])["b"][0] == 0.5 + 0.5 * math.tanh((sum(rows[1]) / 29 - 2) / 2)


def test_pandas_records_nested(sim: RunningSimulator, auth: dict[str, str]) -> None:
    rows = ccfraud_rows(2)
    response = infer(sim, auth, "ccfraudpipeline", [{"tensor": row} for row in rows], RECORDS)
    assert response.status_code == 200
    records = response.json()
    pipeline = sim.config.pipeline("ccfraudpipeline")
    assert len(records) == 2
    for record, row in zip(records, rows, strict=True):
        assert list(record) == ["time", "in", "out", "anomaly", "metadata"]
        assert record["in"] == {"tensor": row} and record["anomaly"] == {"count": 0}
        assert record["out"] == {"dense_1": expected_outputs(pipeline, row)["dense_1"]}
        metadata = record["metadata"]
        assert json.loads(metadata["last_model"]) == {"model_name": "ccfraud", "model_sha": pipeline.model.sha}
        assert metadata["pipeline_version"] == pipeline.version and metadata["dropped"] == []
        assert len(metadata["elapsed"]) == 2 and metadata["partition"].startswith("engine-")


def test_pandas_records_flattened_as_the_sdk_asks(sim: RunningSimulator, auth: dict[str, str]) -> None:
    rows = aloha_rows(3)
    response = infer(sim, auth, "urldemopipeline", [{"text_input": row} for row in rows], RECORDS, SDK_QUERY)
    pipeline = sim.config.pipeline("urldemopipeline")
    for record, row in zip(response.json(), rows, strict=True):
        expected = {f"out.{name}": values for name, values in expected_outputs(pipeline, row).items()}
        assert record == {"time": record["time"], "in.text_input": row, **expected, "anomaly.count": 0}


def test_pandas_records_column_selection(sim: RunningSimulator, auth: dict[str, str]) -> None:
    body = [{"tensor": row} for row in ccfraud_rows(1)]
    only_out = infer(sim, auth, "ccfraudpipeline", body, RECORDS, "?dataset[]=out&dataset[]=time").json()
    assert list(only_out[0]) == ["time", "out"]
    flat = infer(sim, auth, "ccfraudpipeline", body, RECORDS, "?dataset[]=*&dataset.separator=.").json()
    assert "metadata.last_model" in flat[0] and "metadata" not in flat[0]


def test_service_account_token_can_infer(sim: RunningSimulator) -> None:
    token = requests.post(
        sim.token_url, data={"grant_type": "client_credentials"}, auth=(sim.client, sim.secret), timeout=10
    ).json()["access_token"]
    response = infer(
        sim, {"Authorization": f"Bearer {token}"}, "ccfraudpipeline", {"tensor": ccfraud_rows(1)}, "application/json"
    )
    assert response.status_code == 200


def engine_400(message: str) -> dict:
    return {"code": 400, "status": "error", "error": message, "source": "engine"}


@pytest.mark.parametrize(
    ("body", "content_type", "error"),
    [
        ({"tensor": [[None] * 29]}, "application/json", "tensor values may not be null"),
        ([{"tensor": [1.0] * 28 + [None]}], RECORDS, "tensor values may not be null"),
        ({"dense_input": [[0.0] * 29]}, "application/json", 'input "tensor" not found in the request'),
        ([{"dense_input": [0.0] * 29}], RECORDS, 'input "tensor" not found in every record'),
        (
            {"tensor": [[0.0] * 29, [0.0] * 28]},
            "application/json",
            '"tensor" row 1 has 28 values; the model expects 29',
        ),
        ({"tensor": [["a"] * 29]}, "application/json", "tensor values must be numbers"),
        ({"tensor": [[[0.0]] * 29]}, "application/json", "tensor values must be numbers"),
        ({"tensor": [0.0] * 29}, "application/json", None),
        ({"tensor": []}, "application/json", None),
        ({"tensor": 5}, "application/json", None),
        ([1, 2], "application/json", None),
        ({"tensor": [[0.0] * 29]}, RECORDS, None),
        (b'{"tensor": [[1e999' + b", 0" * 28 + b"]]}", "application/json", "tensor values must be finite numbers"),
        (b"{not json", "application/json", None),
        (b"\xff\xfe", RECORDS, None),
    ],
)
def test_engine_refuses_input_that_does_not_fit(
    sim: RunningSimulator, auth: dict[str, str], body: object, content_type: str, error: str | None
) -> None:
    response = infer(sim, auth, "ccfraudpipeline", body, content_type)
    assert response.status_code == 400
    assert response.json() == engine_400(error or response.json()["error"])
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    "content_type", ["", "text/plain", "application/vnd.apache.arrow.stream", "application/json; format=split"]
)
def test_unsupported_content_type(sim: RunningSimulator, auth: dict[str, str], content_type: str) -> None:
    response = infer(sim, auth, "ccfraudpipeline", {"tensor": ccfraud_rows(1)}, content_type)
    assert response.status_code == 415
    assert response.json()["source"] == "platform" and response.json()["code"] == 415


def test_missing_token_is_plain_text(sim: RunningSimulator) -> None:
    response = infer(sim, {}, "ccfraudpipeline", {"tensor": ccfraud_rows(1)}, "application/json")
    assert (response.status_code, response.text) == (401, "Jwt is missing")
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.headers["WWW-Authenticate"].startswith("Bearer realm=")


def test_invalid_token_is_refused(sim: RunningSimulator) -> None:
    response = infer(
        sim, {"Authorization": "Bearer abc.def.ghi"}, "ccfraudpipeline", {"tensor": ccfraud_rows(1)}, "application/json"
    )
    assert (response.status_code, response.text) == (401, "Jwt verification fails")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


NOT_FOUND = {"code": 404, "status": "error", "error": "Deployment not found", "source": "platform"}


@pytest.mark.parametrize(
    "path",
    [
        "/v1/api/pipelines/infer/ccfraudpipeline-99/ccfraudpipeline",
        "/v1/api/pipelines/infer/ccfraudpipeline-14",  # the legacy form of a pipeline using the current one
        "/v1/api/pipelines/infer/ccfraudpipeline-14/urldemopipeline",
        "/v1/api/pipelines/infer/urldemopipeline-5/urldemopipeline",  # the current form of a legacy one
    ],
)
def test_unknown_deployment_path(sim: RunningSimulator, auth: dict[str, str], path: str) -> None:
    response = requests.post(sim.base_url + path, json={"tensor": ccfraud_rows(1)}, headers=auth, timeout=10)
    assert (response.status_code, response.json()) == (404, NOT_FOUND)


def test_rows_are_counted_per_pipeline(sim: RunningSimulator, auth: dict[str, str]) -> None:
    infer(sim, auth, "ccfraudpipeline", {"tensor": ccfraud_rows(7)}, "application/json")
    infer(sim, auth, "ccfraudpipeline", [{"tensor": r} for r in ccfraud_rows(3)], RECORDS)
    infer(sim, auth, "ccfraudpipeline", {"tensor": [[None] * 29]}, "application/json")
    counters = sim.admin.counters()
    assert counters["pipelines"] == {"ccfraudpipeline": {"requests": 2, "rows": 10}}
    assert counters["statuses"]["infer"] == {"200": 2, "400": 1}
