"""The seed tutorial (External Pipeline Inference URL), written with plain `requests` as it is."""

from __future__ import annotations

import json

import pytest
import requests
from requests.auth import HTTPBasicAuth

from tests.support.data import aloha_rows
from wallaroo_simulator import RunningSimulator, expected_outputs


def get_jwt_token(url: str, client: str, secret: str, username: str, password: str) -> str:
    auth = HTTPBasicAuth(client, secret)
    data = {"grant_type": "password", "username": username, "password": password}
    response = requests.post(url, auth=auth, data=data, verify=True)
    return response.json()["access_token"]


def get_wallaroo_response(url: str, api_request: str, token: str, data: dict) -> dict:
    headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    return requests.post(f"{url}{api_request}", json=data, headers=headers, verify=True).json()


@pytest.mark.parametrize("rows", [1, 1000])
def test_seed_tutorial_flow(sim: RunningSimulator, rows: int) -> None:
    # The seed-era install: tokens from the separate keycloak host, the API on its own host.
    token = get_jwt_token(sim.keycloak_token_url, sim.client, sim.secret, sim.username, sim.password)

    workspaces = get_wallaroo_response(sim.api_url, "/workspaces/list", token, {})["workspaces"]
    workspace_id = next(w for w in workspaces if w["name"] == "urldemoworkspace")["id"]
    assert isinstance(workspace_id, int)

    response = get_wallaroo_response(
        sim.api_url,
        "/admin/get_pipeline_external_url",
        token,
        {"workspace_id": workspace_id, "pipeline_name": "urldemopipeline"},
    )
    external_url = response["url"]
    assert external_url == f"{sim.base_url}/v1/api/pipelines/infer/urldemopipeline-5"

    data = {"text_input": aloha_rows(rows)}
    response = requests.post(external_url, json=data, headers={"Authorization": "Bearer " + token})

    assert response.status_code == 200
    results = response.json()
    assert len(results) == 1
    result = results[0]
    assert result["model_name"] == "urldemomodel" and result["pipeline_name"] == "urldemopipeline"
    assert result["original_data"] is None and result["check_failures"] == [] and result["shadow_data"] == {}
    pipeline = sim.config.pipeline("urldemopipeline")
    assert len(result["outputs"]) == 15
    for position, output in enumerate(result["outputs"]):
        assert output["Float"]["v"] == 1 and output["Float"]["dim"] == [rows, 1]
        name = pipeline.outputs[position].name
        assert output["Float"]["data"] == [expected_outputs(pipeline, row)[name][0] for row in data["text_input"]]
    print(json.dumps(results)[0:300])
