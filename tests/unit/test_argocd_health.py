"""The Argo CD health check (manifests/argocd/health-inferencejob.lua), run by a real Lua interpreter.

Argo CD runs health checks with gopher-lua, a Lua 5.1. The script runs here in the Lua 5.1 that
lupa (a test dependency from PyPI) embeds, and in its Lua 5.4 too, so that it relies on nothing
5.1 alone allows; no interpreter needs to be on PATH, so these tests never skip. As in Argo CD, the
script sees only the base, string, table and math libraries. Objects come from two places:
hand-written edge cases, and statuses built by the operator's own `derive_phase_and_conditions`,
so the script and the controller cannot drift apart unnoticed. The README's argocd-cm snippet is
checked to embed the script unchanged.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import lupa.lua51
import lupa.lua54
import pytest
import yaml

from wallaroo_operator import constants as c
from wallaroo_operator.controller.job_status import derive_phase_and_conditions

REPO_ROOT = Path(__file__).resolve().parents[2]
ARGOCD_DIR = REPO_ROOT / "manifests" / "argocd"
SCRIPT = ARGOCD_DIR / "health-inferencejob.lua"
HEALTH_KEY = f"resource.customizations.health.{c.GROUP}_{c.JOB_KIND}"
ARGO_STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}

# Argo CD's Lua 5.1 first; 5.4 catches reliance on what later versions removed.
INTERPRETERS = {"lua5.1": lupa.lua51, "lua5.4": lupa.lua54}
# What gopher-lua in Argo CD does not open for a health check.
UNAVAILABLE = (
    "io",
    "os",
    "require",
    "dofile",
    "loadfile",
    "load",
    "loadstring",
    "package",
    "debug",
    "coroutine",
    "utf8",
    "python",
)


# -- running the script ------------------------------------------------------------------------------


def to_lua(runtime: Any, value: Any) -> Any:
    """A decoded Kubernetes object as Argo CD hands it over: objects and arrays become tables
    (arrays 1-based), JSON null becomes an absent key."""
    if isinstance(value, dict):
        return runtime.table_from({k: to_lua(runtime, v) for k, v in value.items() if v is not None})
    if isinstance(value, list):
        return runtime.table_from([to_lua(runtime, item) for item in value])
    return value


def health(lua: str, obj: dict) -> tuple[str, str]:
    """Run the script the way Argo CD does: `obj` is a global, the chunk returns {status, message}."""
    runtime = INTERPRETERS[lua].LuaRuntime(register_eval=False, register_builtins=False)
    lua_globals = runtime.globals()
    for name in UNAVAILABLE:
        lua_globals[name] = None
    lua_globals.obj = to_lua(runtime, obj)
    hs = runtime.execute(SCRIPT.read_text())
    status, message = str(hs["status"]), str(hs["message"])
    assert status in ARGO_STATUSES, status
    return status, message


def job(status: dict | None = None, *, generation: int = 1, spec: dict | None = None, kind: str = c.JOB_KIND) -> dict:
    obj = {
        "apiVersion": c.API_VERSION,
        "kind": kind,
        "metadata": {"name": "aloha-once", "namespace": "demo", "generation": generation},
        "spec": spec or {"workspace": "urldemoworkspace", "pipeline": "urldemopipeline"},
    }
    if status is not None:
        obj["status"] = status
    return obj


def ready(status: str, reason: str = "R", message: str = "", generation: int = 1) -> dict:
    return {
        "type": "Ready",
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2025-01-01T00:00:00Z",
        "observedGeneration": generation,
    }


# -- hand-written cases ------------------------------------------------------------------------------

CASES = {
    "no status yet": (job(), "Progressing", "Waiting for the operator to report status"),
    "status but never observed": (
        job({"phase": "Pending"}),
        "Progressing",
        "Waiting for the operator to observe generation 1",
    ),
    "observedGeneration behind": (
        job(
            {"observedGeneration": 1, "phase": "Succeeded", "conditions": [ready("True", "RunSucceeded", "ok")]},
            generation=2,
        ),
        "Progressing",
        "Waiting for the operator to observe generation 2",
    ),
    "Ready condition behind": (
        job(
            {
                "observedGeneration": 2,
                "phase": "Succeeded",
                "conditions": [ready("True", "RunSucceeded", "ok", generation=1)],
            },
            generation=2,
        ),
        "Progressing",
        "Waiting for the operator to observe generation 2",
    ),
    "no conditions": (
        job({"observedGeneration": 1, "phase": "Succeeded"}),
        "Progressing",
        "Waiting for the Ready condition",
    ),
    "conditions without Ready": (
        job({"observedGeneration": 1, "conditions": [{**ready("False", "NoActiveRun"), "type": "Running"}]}),
        "Progressing",
        "Waiting for the Ready condition",
    ),
    "Ready True": (
        job(
            {
                "observedGeneration": 1,
                "phase": "Succeeded",
                "conditions": [ready("True", "RunSucceeded", "last run gen-1 succeeded")],
            }
        ),
        "Healthy",
        "RunSucceeded: last run gen-1 succeeded",
    ),
    "Ready False with message": (
        job(
            {
                "observedGeneration": 1,
                "phase": "Failed",
                "conditions": [ready("False", "PipelineNotFound", "pipeline 'x' not found in workspace 16")],
            }
        ),
        "Degraded",
        "PipelineNotFound: pipeline 'x' not found in workspace 16",
    ),
    "Ready False without message": (
        job({"observedGeneration": 1, "phase": "Failed", "conditions": [ready("False", "InvalidSpec")]}),
        "Degraded",
        "InvalidSpec",
    ),
    "Ready Unknown": (
        job({"observedGeneration": 1, "conditions": [ready("Unknown", "RunInProgress", "busy")]}),
        "Progressing",
        "RunInProgress: busy",
    ),
    "Running": (
        job(
            {
                "observedGeneration": 1,
                "phase": "Running",
                "conditions": [ready("True")],
                "active": [
                    {"id": "gen-1", "trigger": "Spec", "state": "Running"},
                    {"id": "manual-0123456789", "trigger": "Manual", "state": "Running"},
                ],
            }
        ),
        "Progressing",
        "Run in progress: gen-1, manual-0123456789",
    ),
    "Running hides a stale failure": (
        job(
            {
                "observedGeneration": 1,
                "phase": "Running",
                "conditions": [ready("False", "RunFailed", "old failure")],
                "active": [{"id": "28950000", "state": "Running"}],
            }
        ),
        "Progressing",
        "Run in progress: 28950000",
    ),
    "Pending, waiting for a Secret": (
        job(
            {
                "observedGeneration": 1,
                "phase": "Pending",
                "active": [
                    {
                        "id": "gen-1",
                        "state": "Pending",
                        "reason": "SecretNotFound",
                        "error": "Secret demo/creds not found",
                    }
                ],
            }
        ),
        "Progressing",
        "Run gen-1 is waiting: SecretNotFound: Secret demo/creds not found",
    ),
    "Pending, nothing started": (
        job({"observedGeneration": 1, "phase": "Pending"}),
        "Progressing",
        "Waiting for the first run to start",
    ),
    "Suspended": (
        job(
            {
                "observedGeneration": 1,
                "phase": "Suspended",
                "conditions": [ready("False", "RunFailed", "last run failed")],
            }
        ),
        "Suspended",
        "The schedule is suspended",
    ),
    "Scheduled": (
        job(
            {
                "observedGeneration": 1,
                "phase": "Scheduled",
                "conditions": [ready("True", "Scheduled", "waiting for the next slot")],
            }
        ),
        "Healthy",
        "Scheduled: waiting for the next slot",
    ),
    "non-ASCII message": (
        job(
            {
                "observedGeneration": 1,
                "phase": "Failed",
                "conditions": [ready("False", "RunFailed", 'engine said "Überlastung" \\ retry')],
            }
        ),
        "Degraded",
        'RunFailed: engine said "Überlastung" \\ retry',
    ),
    "WallarooConnection Ready": (
        job(
            {"observedGeneration": 1, "conditions": [ready("True", "Authenticated", "logged in")]},
            kind=c.CONNECTION_KIND,
        ),
        "Healthy",
        "Authenticated: logged in",
    ),
    "WallarooConnection not Ready": (
        job(
            {"observedGeneration": 1, "conditions": [ready("False", "SecretNotFound", "Secret demo/creds not found")]},
            kind=c.CONNECTION_KIND,
        ),
        "Degraded",
        "SecretNotFound: Secret demo/creds not found",
    ),
}


@pytest.mark.parametrize("lua", INTERPRETERS)
@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_health_of_hand_written_objects(lua, case):
    obj, expected_status, expected_message = CASES[case]
    assert health(lua, obj) == (expected_status, expected_message)


# -- statuses as the operator writes them ----------------------------------------------------------

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
SCHEDULED = {"schedule": "*/5 * * * *"}
SUCCEEDED = {"id": "gen-1", "trigger": "Spec", "state": "Succeeded", "rows": 5, "generation": 3}
FAILED = {
    "id": "gen-1",
    "trigger": "Spec",
    "state": "Failed",
    "generation": 3,
    "reason": "PipelineNotFound",
    "error": "pipeline 'nosuchpipeline' not found",
}
WAITING = {
    "id": "gen-1",
    "trigger": "Spec",
    "state": "Pending",
    "reason": "SecretNotFound",
    "error": "Secret demo/creds not found",
}

# name: (spec, status before, ready argument, finished run, expected Argo CD status)
OPERATOR_STATES = {
    "first run in progress": (
        {},
        {"active": [{"id": "gen-1", "trigger": "Spec", "state": "Running"}]},
        None,
        None,
        "Progressing",
    ),
    "first run waiting for its Secret": (
        {},
        {"active": [WAITING]},
        (False, "SecretNotFound", "Secret demo/creds not found; waiting"),
        None,
        "Progressing",
    ),
    "run succeeded": ({}, {"history": [SUCCEEDED]}, None, SUCCEEDED, "Healthy"),
    "run failed": ({}, {"history": [FAILED]}, None, FAILED, "Degraded"),
    "invalid spec": (
        {},
        {},
        (False, "InvalidSpec", "spec.input: give exactly one of configMaps and selector"),
        None,
        "Degraded",
    ),
    "schedule waiting for its first slot": (SCHEDULED, {}, None, None, "Healthy"),
    "scheduled, last run failed": (SCHEDULED, {"history": [FAILED]}, None, None, "Degraded"),
    "scheduled run in progress": (
        SCHEDULED,
        {"history": [SUCCEEDED], "active": [{"id": "28950000", "trigger": "Schedule", "state": "Running"}]},
        None,
        None,
        "Progressing",
    ),
    "suspended schedule": ({**SCHEDULED, "suspend": True}, {"history": [FAILED]}, None, None, "Suspended"),
    "invalid schedule": (
        SCHEDULED,
        {},
        (False, "InvalidSchedule", "unknown time zone 'Mars/Olympus'"),
        None,
        "Degraded",
    ),
}


def _pruned(value):
    """As stored by the API server: the operator's merge patches delete keys set to None."""
    if isinstance(value, dict):
        return {k: _pruned(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


@pytest.mark.parametrize("lua", INTERPRETERS)
@pytest.mark.parametrize("state", OPERATOR_STATES, ids=list(OPERATOR_STATES))
def test_health_of_statuses_the_operator_writes(lua, state):
    derive = derive_phase_and_conditions
    spec, before, ready_argument, finished, expected = OPERATOR_STATES[state]
    status = {"observedGeneration": 3, **before}
    status.update(derive(status, spec, 3, ready_argument, finished, NOW))
    obj = _pruned(job(status, generation=3, spec={"workspace": "w", "pipeline": "p", **spec}))
    assert health(lua, obj)[0] == expected, json.dumps(obj["status"], indent=1)


@pytest.mark.parametrize("lua", INTERPRETERS)
def test_stale_status_is_progressing_whatever_it_says(lua):
    derive = derive_phase_and_conditions
    status = {"observedGeneration": 3, "history": [SUCCEEDED]}
    status.update(derive(status, {}, 3, None, SUCCEEDED, NOW))
    assert health(lua, _pruned(job(status, generation=3)))[0] == "Healthy"
    assert health(lua, _pruned(job(status, generation=4)))[0] == "Progressing"


# -- the documentation embeds the script unchanged ---------------------------------------------------


def test_readme_snippet_embeds_the_script_unchanged():
    readme = (ARGOCD_DIR / "README.md").read_text()
    blocks = [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", readme, flags=re.S)]
    config_maps = [
        b
        for b in blocks
        if isinstance(b, dict) and b.get("kind") == "ConfigMap" and b.get("metadata", {}).get("name") == "argocd-cm"
    ]
    assert config_maps, "README.md has no argocd-cm ConfigMap snippet"
    for config_map in config_maps:
        assert config_map["data"][HEALTH_KEY] == SCRIPT.read_text(), (
            f"the {HEALTH_KEY} value in README.md differs from {SCRIPT.name}"
        )


def test_script_stays_within_lua_5_1():
    """Constructs that lua5.4 would accept but Argo CD's Lua 5.1 would not (or that 5.4 removed)."""
    code = "\n".join(line.split("--", 1)[0] for line in SCRIPT.read_text().splitlines())
    for construct in (
        "table.getn",
        "goto",
        "//",
        "utf8.",
        "<const>",
        "<close>",
        "string.pack",
        "math.type",
        "require",
        "os.",
        "io.",
    ):
        assert construct not in code, f"{construct!r}: not available to an Argo CD health check"
