"""Faults, at start-up and at run time: errors of every shape, Retry-After, latency, hangs, drops,
payload limits, undeploy/redeploy, and faults of the MLOps API and Keycloak."""

from __future__ import annotations

import time

import pytest
import requests

from tests.simulator.conftest import password_grant
from tests.support.data import ccfraud_rows
from tests.support.waiting import wait_for
from wallaroo_simulator import KEYCLOAK_TARGET, MLOPS_TARGET, FaultSpec, RunningSimulator, default_config, run_simulator

PIPELINE = "ccfraudpipeline"
LOAD_BALANCER_503 = {
    "source": "load-balancer",
    "status": 503,
    "message": "The resources required to run this request are not available. "
    "Please check the inference endpoint status and try again",
}
ENGINE_500 = {"status": "Error", "error": 'Error running inference: "Error getting tensor from inference data"'}


def infer(
    sim: RunningSimulator, auth: dict[str, str], rows: int = 1, timeout: float = 10, url: str | None = None
) -> requests.Response:
    return requests.post(
        url or sim.external_url(PIPELINE), json={"tensor": ccfraud_rows(rows)}, headers=auth, timeout=timeout
    )


def test_fail_next_is_deterministic_with_retry_after(sim: RunningSimulator, auth: dict[str, str]) -> None:
    sim.admin.set_faults(PIPELINE, fail_next=2, status=503, retry_after=3)
    first, second, third = (infer(sim, auth) for _ in range(3))
    for failed in (first, second):
        assert (failed.status_code, failed.json()) == (503, LOAD_BALANCER_503)
        assert failed.headers["Retry-After"] == "3"
    assert third.status_code == 200
    assert sim.admin.faults()[PIPELINE]["remaining_failures"] == 0


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, ENGINE_500),
        (503, LOAD_BALANCER_503),
        (429, {"code": 429, "status": "error", "error": "Too Many Requests", "source": "platform"}),
    ],
)
def test_rate_one_fails_every_request_with_the_status_body(
    sim: RunningSimulator, auth: dict[str, str], status: int, body: dict
) -> None:
    sim.admin.set_faults(PIPELINE, rate=1.0, status=status, retry_after=1)
    for _ in range(3):
        response = infer(sim, auth)
        assert (response.status_code, response.json(), response.headers["Retry-After"]) == (status, body, "1")


def test_seeded_rate_repeats_the_same_failures(sim: RunningSimulator, auth: dict[str, str]) -> None:
    def pattern() -> list[int]:
        sim.admin.set_faults(PIPELINE, rate=0.5, seed=1234, status=503)
        return [infer(sim, auth).status_code for _ in range(20)]

    first = pattern()
    assert first == pattern()
    assert {200, 503} == set(first)


@pytest.mark.parametrize(
    ("body", "status", "message", "expected"),
    [
        ("plain-text", 401, None, "Jwt is missing"),
        ("platform", 401, None, {"code": 401, "status": "error", "error": "Jwt is missing", "source": "platform"}),
        (
            "engine",
            409,
            "OpenAI request sent to a native pipeline",
            {"code": 409, "status": "error", "error": "OpenAI request sent to a native pipeline", "source": "engine"},
        ),
        ("engine-500", 500, None, ENGINE_500),
        ("load-balancer", 503, None, LOAD_BALANCER_503),
        ("legacy-engine", 500, "model crashed", [{"error": "model crashed", "error_type": "InferenceError"}]),
        (
            "mlops",
            500,
            "Internal Server Error: Insufficient memory",
            {"msg": "Internal Server Error: Insufficient memory", "code": 500},
        ),
    ],
)
def test_every_error_shape(
    sim: RunningSimulator, auth: dict[str, str], body: str, status: int, message: str | None, expected: object
) -> None:
    sim.admin.set_faults(PIPELINE, fail_next=1, status=status, body=body, message=message)
    response = infer(sim, auth)
    assert response.status_code == status
    assert (response.text if body == "plain-text" else response.json()) == expected


def test_latency_fixed_and_per_row(sim: RunningSimulator, auth: dict[str, str]) -> None:
    sim.admin.set_faults(PIPELINE, latency_seconds=0.2, latency_per_row_seconds=0.002)
    started = time.monotonic()
    assert infer(sim, auth, rows=100).status_code == 200
    assert time.monotonic() - started >= 0.4


def test_hang_outlasts_the_client_timeout(sim: RunningSimulator, auth: dict[str, str]) -> None:
    sim.admin.set_faults(PIPELINE, fail_next=1, failure="hang", hang_seconds=30)
    with pytest.raises(requests.Timeout):
        infer(sim, auth, timeout=0.5)
    assert infer(sim, auth).status_code == 200
    # The hung handler is cancelled when the client goes away, not left running for 30 s.
    wait_for(
        lambda: sim.admin.counters()["statuses"]["infer"] == {"client-closed": 1, "200": 1},
        timeout=10,
        what="the abandoned request to be counted",
    )


def test_slow_answer_within_the_client_timeout_succeeds(sim: RunningSimulator, auth: dict[str, str]) -> None:
    sim.admin.set_faults(PIPELINE, fail_next=1, failure="hang", hang_seconds=0.3)
    assert infer(sim, auth, timeout=10).status_code == 200


def test_dropped_connection(sim: RunningSimulator, auth: dict[str, str]) -> None:
    sim.admin.set_faults(PIPELINE, fail_next=1, failure="drop")
    with pytest.raises(requests.ConnectionError):
        infer(sim, auth)
    assert infer(sim, auth).status_code == 200
    assert sim.admin.counters()["statuses"]["infer"] == {"dropped": 1, "200": 1}


def test_payload_limit_answers_like_the_load_balancer(sim: RunningSimulator, auth: dict[str, str]) -> None:
    sim.admin.set_faults(PIPELINE, max_payload_bytes=10_000)
    assert infer(sim, auth, rows=10).status_code == 200
    too_big = infer(sim, auth, rows=100)
    assert (too_big.status_code, too_big.json()) == (503, LOAD_BALANCER_503)


def test_undeploy_then_redeploy_changes_the_url(sim: RunningSimulator, auth: dict[str, str]) -> None:
    old_url = sim.external_url(PIPELINE)
    sim.admin.undeploy(PIPELINE)
    gone = infer(sim, auth, url=old_url)
    assert (gone.status_code, gone.json()["error"]) == (404, "Deployment not found")

    redeployed = sim.admin.redeploy(PIPELINE)
    assert redeployed["url"] != old_url and redeployed["deployment_id"] != 14
    assert infer(sim, auth, url=old_url).status_code == 404
    assert infer(sim, auth, url=redeployed["url"]).status_code == 200
    api_url = requests.post(
        sim.api_url + "/admin/get_pipeline_external_url",
        headers=auth,
        timeout=10,
        json={"workspace_id": 17, "pipeline_name": PIPELINE},
    ).json()["url"]
    assert api_url == redeployed["url"]


def test_starting_deployment_answers_503_until_running(sim: RunningSimulator, auth: dict[str, str]) -> None:
    url = sim.admin.redeploy(PIPELINE, starting_seconds=3)["url"]
    first = infer(sim, auth, url=url)
    assert (first.status_code, first.json()) == (503, LOAD_BALANCER_503)
    wait_for(lambda: infer(sim, auth, url=url).status_code == 200, timeout=10, what="the deployment to start")


def test_mlops_faults(sim: RunningSimulator, auth: dict[str, str]) -> None:
    sim.admin.set_faults(MLOPS_TARGET, fail_next=1, status=500, message="Internal Server Error: Insufficient memory")
    failed = requests.post(sim.api_url + "/workspaces/list", json={}, headers=auth, timeout=10)
    assert (failed.status_code, failed.json()) == (
        500,
        {"msg": "Internal Server Error: Insufficient memory", "code": 500},
    )
    assert requests.post(sim.api_url + "/workspaces/list", json={}, headers=auth, timeout=10).status_code == 200


def test_keycloak_faults_on_both_listeners(sim: RunningSimulator) -> None:
    sim.admin.set_faults(KEYCLOAK_TARGET, fail_next=2, status=503, retry_after=2)
    form = {"grant_type": "password", "username": sim.username, "password": sim.password}
    for url in (sim.token_url, sim.keycloak_token_url):
        failed = requests.post(url, data=form, auth=(sim.client, sim.secret), timeout=10)
        assert failed.status_code == 503 and failed.headers["Retry-After"] == "2"
        assert failed.json()["error"] == "temporarily_unavailable"
    assert password_grant(sim)["access_token"]


def test_clear_faults(sim: RunningSimulator, auth: dict[str, str]) -> None:
    sim.admin.set_faults(PIPELINE, rate=1.0)
    sim.admin.set_faults(MLOPS_TARGET, rate=1.0)
    sim.admin.clear_faults(PIPELINE)
    assert list(sim.admin.faults()) == [MLOPS_TARGET]
    assert infer(sim, auth).status_code == 200
    sim.admin.clear_faults()
    assert sim.admin.faults() == {}


def test_faults_from_the_config_at_start_up() -> None:
    config = default_config()
    config.pipeline(PIPELINE).faults = FaultSpec(fail_next=1, status=500, body="legacy-engine", message="boom")
    with run_simulator(config) as sim:
        auth = {"Authorization": f"Bearer {password_grant(sim)['access_token']}"}
        failed = infer(sim, auth)
        assert (failed.status_code, failed.json()) == (500, [{"error": "boom", "error_type": "InferenceError"}])
        assert infer(sim, auth).status_code == 200


def test_admin_refuses_bad_fault_specs(sim: RunningSimulator) -> None:
    with pytest.raises(RuntimeError, match="404"):
        sim.admin.set_faults("nosuchpipeline", rate=0.5)
    with pytest.raises(RuntimeError, match="400"):
        sim.admin.set_faults(PIPELINE, rate=2)
    with pytest.raises(RuntimeError, match="400"):
        sim.admin.set_faults(PIPELINE, unknown_key=1)
