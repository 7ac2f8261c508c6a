"""The MLOps API: config, workspaces, external URLs (both forms), deployment status, pipelines, errors."""

from __future__ import annotations

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.simulator.conftest import password_grant
from wallaroo_simulator import RunningSimulator, default_config, run_simulator


def api(sim: RunningSimulator, path: str, body: object, headers: dict[str, str]) -> requests.Response:
    return requests.post(sim.api_url + path, json=body, headers=headers, verify=sim.verify, timeout=10)


def external_url(sim: RunningSimulator, auth: dict[str, str], workspace_id: int, pipeline: str) -> requests.Response:
    return api(sim, "/admin/get_pipeline_external_url", {"workspace_id": workspace_id, "pipeline_name": pipeline}, auth)


def test_config_needs_no_token(sim: RunningSimulator) -> None:
    response = requests.get(sim.api_url + "/config", timeout=10)
    assert response.status_code == 200 and response.json()["default_arch"] == "x86"


def test_workspaces_list(sim: RunningSimulator, auth: dict[str, str]) -> None:
    workspaces = api(sim, "/workspaces/list", {}, auth).json()["workspaces"]
    by_name = {w["name"]: w for w in workspaces}
    assert set(by_name) == {f"{sim.username} - Default Workspace", "urldemoworkspace", "ccfraudworkspace"}
    seed = by_name["urldemoworkspace"]
    assert seed["id"] == 16 and seed["pipelines"] == [8] and isinstance(seed["models"][0], int)
    assert seed["created_by"] == sim.config.users[0].id and seed["archived"] is False
    assert all(isinstance(w["id"], int) for w in workspaces)


def test_external_url_forms(sim: RunningSimulator, auth: dict[str, str]) -> None:
    legacy = external_url(sim, auth, 16, "urldemopipeline").json()["url"]
    current = external_url(sim, auth, 17, "ccfraudpipeline").json()["url"]
    assert legacy == f"{sim.base_url}/v1/api/pipelines/infer/urldemopipeline-5"
    assert current == f"{sim.base_url}/v1/api/pipelines/infer/ccfraudpipeline-14/ccfraudpipeline"


def test_external_url_uses_the_public_url() -> None:
    with run_simulator(public_url="https://acme.api.example.test/") as sim:
        auth = {"Authorization": f"Bearer {password_grant(sim)['access_token']}"}
        url = external_url(sim, auth, 16, "urldemopipeline").json()["url"]
        assert url == "https://acme.api.example.test/v1/api/pipelines/infer/urldemopipeline-5"


def test_undeployed_pipeline_still_has_its_url(sim: RunningSimulator, auth: dict[str, str]) -> None:
    sim.admin.undeploy("urldemopipeline")
    response = external_url(sim, auth, 16, "urldemopipeline")
    assert response.status_code == 200 and response.json()["url"].endswith("/urldemopipeline-5")


@pytest.mark.parametrize(
    ("body", "status", "msg"),
    [
        ({"workspace_id": 99, "pipeline_name": "urldemopipeline"}, 404, "Workspace 99 not found"),
        (
            {"workspace_id": 16, "pipeline_name": "nosuchpipeline"},
            404,
            "Pipeline nosuchpipeline not found in workspace 16",
        ),
        (
            {"workspace_id": 17, "pipeline_name": "urldemopipeline"},
            404,
            "Pipeline urldemopipeline not found in workspace 17",
        ),
        ({"pipeline_name": "urldemopipeline"}, 400, None),
        ({"workspace_id": "16", "pipeline_name": "urldemopipeline"}, 400, None),
        ([1, 2], 400, None),
    ],
)
def test_external_url_errors(
    sim: RunningSimulator, auth: dict[str, str], body: object, status: int, msg: str | None
) -> None:
    response = api(sim, "/admin/get_pipeline_external_url", body, auth)
    assert response.status_code == status
    assert set(response.json()) == {"msg", "code"} and response.json()["code"] == status
    if msg:
        assert response.json()["msg"] == msg


def test_malformed_json_body(sim: RunningSimulator, auth: dict[str, str]) -> None:
    response = requests.post(
        sim.api_url + "/workspaces/list",
        data=b"{not json",
        timeout=10,
        headers={**auth, "Content-Type": "application/json"},
    )
    assert response.status_code == 400 and response.json()["code"] == 400
    assert "Traceback" not in response.text


def badly_signed_token(sim: RunningSimulator) -> str:
    claims = jwt.decode(password_grant(sim)["access_token"], options={"verify_signature": False})
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, other_key, algorithm="RS256")


@pytest.mark.parametrize(
    ("token", "msg"),
    [(None, "Jwt is missing"), ("not-a-jwt", "Jwt verification fails"), ("badly-signed", "Jwt verification fails")],
)
def test_token_refused(sim: RunningSimulator, token: str | None, msg: str) -> None:
    if token == "badly-signed":
        token = badly_signed_token(sim)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = api(sim, "/workspaces/list", {}, headers)
    assert (response.status_code, response.json()) == (401, {"msg": msg, "code": 401})


def test_refresh_token_is_not_an_access_token(sim: RunningSimulator) -> None:
    refresh = password_grant(sim)["refresh_token"]
    response = api(sim, "/workspaces/list", {}, {"Authorization": f"Bearer {refresh}"})
    assert response.status_code == 401


def test_service_account_sees_no_workspaces(sim: RunningSimulator) -> None:
    body = requests.post(
        sim.token_url, data={"grant_type": "client_credentials"}, auth=(sim.client, sim.secret), timeout=10
    ).json()
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert api(sim, "/workspaces/list", {}, headers).json() == {"workspaces": []}
    assert external_url(sim, headers, 16, "urldemopipeline").status_code == 404


def test_get_deployment_follows_the_pipeline(sim: RunningSimulator, auth: dict[str, str]) -> None:
    running = api(sim, "/status/get_deployment", {"name": "urldemopipeline-5"}, auth).json()
    assert running["status"] == "Running" and running["sidekicks"] == []
    assert running["engines"][0]["model_statuses"]["models"][0]["name"] == "urldemomodel"
    assert running["engine_lbs"][0]["status"] == "Running"

    redeployed = sim.admin.redeploy("urldemopipeline", starting_seconds=60)
    assert api(sim, "/status/get_deployment", {"name": "urldemopipeline-5"}, auth).status_code == 404
    starting = api(sim, "/status/get_deployment", {"name": redeployed["deployment_name"]}, auth).json()
    assert starting["status"] == "Starting"

    sim.admin.undeploy("urldemopipeline")
    gone = api(sim, "/status/get_deployment", {"name": redeployed["deployment_name"]}, auth)
    assert gone.status_code == 404 and gone.json()["code"] == 404


def test_get_pipeline_by_name(sim: RunningSimulator, auth: dict[str, str]) -> None:
    body = api(
        sim, "/pipelines/get_pipeline_by_name", {"pipeline_name": "ccfraudpipeline", "workspace_id": 17}, auth
    ).json()
    assert body["pipeline"]["id"] == 9 and body["pipeline"]["name"] == "ccfraudpipeline"
    assert body["workspace"]["id"] == 17 and body["workspace"]["name"] == "ccfraudworkspace"


def test_external_urls_disabled() -> None:
    config = default_config().model_copy(update={"external_urls_enabled": False})
    with run_simulator(config) as sim:
        auth = {"Authorization": f"Bearer {password_grant(sim)['access_token']}"}
        response = external_url(sim, auth, 16, "urldemopipeline")
        assert response.status_code == 403 and response.json()["code"] == 403


def test_requests_are_counted_per_endpoint_and_client(sim: RunningSimulator, auth: dict[str, str]) -> None:
    sim.admin.reset_counters()
    api(sim, "/workspaces/list", {}, auth)
    api(sim, "/workspaces/list", {}, {})
    external_url(sim, auth, 16, "urldemopipeline")
    counters = sim.admin.counters()
    assert counters["requests"] == {"workspaces/list": 2, "admin/get_pipeline_external_url": 1}
    assert counters["statuses"]["workspaces/list"] == {"200": 1, "401": 1}
    assert counters["clients"] == {
        "api-client": {"workspaces/list": 1, "admin/get_pipeline_external_url": 1},
        "-": {"workspaces/list": 1},
    }
