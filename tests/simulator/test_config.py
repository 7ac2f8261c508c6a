"""The configuration file: the documented example loads and runs, JSON works, mistakes are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from pydantic import ValidationError

import wallaroo_simulator
from wallaroo_simulator import default_config, load_config, run_simulator

EXAMPLE = Path(wallaroo_simulator.__file__).parent / "example-config.yaml"


def test_example_config_serves_its_world() -> None:
    config = load_config(EXAMPLE)
    with run_simulator(config) as sim:
        assert (sim.username, sim.client, sim.secret) == ("alice@example.com", "api-client", "example-client-secret")
        world = sim.admin.world()
        assert world["pipelines"]["urldemopipeline"]["url"].endswith("/infer/urldemopipeline-5")
        assert world["pipelines"]["ccfraudpipeline"]["url"].endswith("/infer/ccfraudpipeline-14/ccfraudpipeline")
        assert sim.admin.faults()["ccfraudpipeline"]["seed"] == 42
        form = {
            "grant_type": "password",
            "username": "bob@example.com",
            "password": "bob-password",
            "client_id": "sdk-client",
        }
        body = requests.post(sim.token_url, data=form, timeout=10).json()
        assert body["expires_in"] == 60 and body["refresh_expires_in"] == 7200


def test_world_summary_reveals_no_secrets() -> None:
    with run_simulator() as sim:
        text = json.dumps(sim.admin.world())
        assert sim.password not in text and sim.secret not in text


def test_json_config(tmp_path: Path) -> None:
    path = tmp_path / "world.json"
    path.write_text(default_config().model_dump_json())
    assert load_config(path) == default_config()


@pytest.mark.parametrize(
    "mistake",
    [
        {"users": [{"username": "a", "password": "b", "pasword": "typo"}]},
        {"users": [{"username": "a", "password": "b"}, {"username": "a", "password": "c"}]},
        {"users": []},
        {"tokens": {"access_seconds": 0}},
    ],
)
def test_config_mistakes_are_refused(mistake: dict) -> None:
    data = {**json.loads(default_config().model_dump_json()), **mistake}
    with pytest.raises(ValidationError):
        wallaroo_simulator.SimulatorConfig.model_validate(data)


def test_duplicate_pipeline_names_across_workspaces_are_refused() -> None:
    data = json.loads(default_config().model_dump_json())
    data["workspaces"][1]["pipelines"][0]["name"] = "urldemopipeline"
    with pytest.raises(ValidationError, match="duplicate pipeline name"):
        wallaroo_simulator.SimulatorConfig.model_validate(data)


def test_secrets_stay_out_of_reprs() -> None:
    config = default_config()
    assert config.users[0].password not in repr(config)
    assert config.confidential_client.secret not in repr(config)


def test_example_config_has_keycloaks_account_and_client_states() -> None:
    config = load_config(EXAMPLE)
    with run_simulator(config) as sim:

        def login(username: str, password: str, client: tuple[str, str] = ("api-client", "example-client-secret")):
            form = {"grant_type": "password", "username": username, "password": password}
            return requests.post(sim.token_url, data=form, auth=client, timeout=10)

        assert login("carol@example.com", "carol-password").json()["error_description"] == "Account disabled"
        assert login("dave@example.com", "dave-password").json()["error_description"] == "Account is not fully set up"
        refused = login("alice@example.com", "alice-password", ("inference-only", "example+inference%secret"))
        assert refused.status_code == 400  # a raw "%se" is no escape; and the password grant is off anyway
        service = {"grant_type": "client_credentials"}
        encoded = {"Authorization": "Basic aW5mZXJlbmNlLW9ubHk6ZXhhbXBsZSUyQmluZmVyZW5jZSUyNXNlY3JldA=="}
        assert requests.post(sim.token_url, data=service, headers=encoded, timeout=10).status_code == 200
