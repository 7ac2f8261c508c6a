"""The typed settings: every WALLAROO_OPERATOR_* variable the operator reads, documented, and checked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from wallaroo_operator.controller.clock import clock_from_environment
from wallaroo_operator.settings import DEFAULT_LIVENESS, Settings, SettingsError

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "operator" / "src" / "wallaroo_operator"


def test_defaults_without_any_variable() -> None:
    settings = Settings.from_environment({})
    assert settings == Settings()
    assert (settings.liveness, settings.max_concurrent_runs, settings.metrics_port) == (DEFAULT_LIVENESS, 16, None)
    assert (settings.retry_base_seconds, settings.retry_cap_seconds, settings.watch_server_timeout) == (5, 120, 300)
    assert settings.test_clock_speedup == 1


def test_each_field_reads_its_variable() -> None:
    settings = Settings.from_environment(
        {
            "WALLAROO_OPERATOR_MAX_CONCURRENT_RUNS": "8",
            "WALLAROO_OPERATOR_METRICS_PORT": " 9090 ",
            "WALLAROO_OPERATOR_RETRY_BASE_SECONDS": "0.5",
            "WALLAROO_OPERATOR_LIVENESS": "http://127.0.0.1:1/h",
            "UNRELATED": "x",
        }
    )
    assert (settings.max_concurrent_runs, settings.metrics_port, settings.retry_base_seconds) == (8, 9090, 0.5)
    assert settings.liveness == "http://127.0.0.1:1/h"


def test_an_empty_variable_keeps_the_default() -> None:
    """The Deployment may set METRICS_PORT to "" to turn metrics off."""
    assert Settings.from_environment({"WALLAROO_OPERATOR_METRICS_PORT": ""}).metrics_port is None


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("WALLAROO_OPERATOR_MAX_CONCURRENT_RUNS", "many"),
        ("WALLAROO_OPERATOR_MAX_CONCURRENT_RUNS", "0"),
        ("WALLAROO_OPERATOR_METRICS_PORT", "70000"),
        ("WALLAROO_OPERATOR_RETRY_CAP_SECONDS", "-1"),
        ("WALLAROO_OPERATOR_TEST_CLOCK_SPEEDUP", "0"),
    ],
)
def test_a_bad_value_names_the_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=f"{variable}='{value}'"):
        Settings.from_environment({variable: value})


def test_settings_are_frozen() -> None:
    with pytest.raises(ValueError):
        Settings().max_concurrent_runs = 3  # type: ignore[misc]


def test_the_clock_reads_its_speedup_at_each_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WALLAROO_OPERATOR_TEST_CLOCK_SPEEDUP", "60")
    assert clock_from_environment().speedup == 60
    monkeypatch.delenv("WALLAROO_OPERATOR_TEST_CLOCK_SPEEDUP")
    assert clock_from_environment().speedup == 1


def test_every_variable_the_code_names_is_a_setting() -> None:
    """A new WALLAROO_OPERATOR_* variable goes into Settings (typed, validated, documented)."""
    named = {
        match
        for path in PACKAGE.rglob("*.py")
        for match in re.findall(r"WALLAROO_OPERATOR_[A-Z0-9_]+", path.read_text())
    }
    known = {Settings.variable(field) for field in Settings.model_fields}
    assert named - known == set()


def test_every_setting_is_documented() -> None:
    deploy = (ROOT / "docs" / "deploy.md").read_text()
    missing = [Settings.variable(field) for field in Settings.model_fields if Settings.variable(field) not in deploy]
    assert missing == []


def test_the_variables_read() -> None:
    """The list a reviewer checks against docs/deploy.md: one typed field each."""
    assert sorted(Settings.variables()) == [
        "KUBECONFIG",
        "WALLAROO_KUBE_RETRY_BUDGET_SECONDS",
        "WALLAROO_OPERATOR_CONNECTION_CACHE_SECONDS",
        "WALLAROO_OPERATOR_EXECUTOR",
        "WALLAROO_OPERATOR_JOB_POLL_SECONDS",
        "WALLAROO_OPERATOR_LIVENESS",
        "WALLAROO_OPERATOR_MAX_CONCURRENT_RUNS",
        "WALLAROO_OPERATOR_MAX_INPUT_BYTES",
        "WALLAROO_OPERATOR_METRICS_PORT",
        "WALLAROO_OPERATOR_PROGRESS_SECONDS",
        "WALLAROO_OPERATOR_RETRY_BASE_SECONDS",
        "WALLAROO_OPERATOR_RETRY_CAP_SECONDS",
        "WALLAROO_OPERATOR_STATUS_RETRY_CAP_SECONDS",
        "WALLAROO_OPERATOR_TEST_CLOCK_SPEEDUP",
        "WALLAROO_OPERATOR_WATCH_SERVER_TIMEOUT",
        "WALLAROO_OPERATOR_WORKER_ENV",
        "WALLAROO_OPERATOR_WORKER_HOST_ALIASES",
        "WALLAROO_OPERATOR_WORKER_IMAGE",
        "WALLAROO_WORKER_PROGRESS_SECONDS",
    ]


def test_fields_with_their_own_variable() -> None:
    settings = Settings.from_environment({"KUBECONFIG": "/k", "WALLAROO_WORKER_PROGRESS_SECONDS": "0"})
    assert (settings.kubeconfig, settings.worker_progress_seconds) == ("/k", 0)


# Environment variables that are not settings: how the operator hands a run to its worker (the worker's
# input, written by the operator or by Kubernetes, object-store keys among them), the child's own environment,
# and the CLIs' own inputs (NO_COLOR, TERM, run-job's credentials and CA file).
NOT_SETTINGS = {
    "worker/cli.py",
    "worker/limits.py",
    "worker/engine.py",
    "worker/manifest.py",
    "executors/local.py",
    "kube/object_stores.py",
    "cli/validate.py",
    "cli/run_job.py",
    "cli/run_job_setup.py",
    "cli/progress.py",
    "entrypoint.py",
    "settings.py",
}


def test_only_settings_reads_the_operators_environment() -> None:
    readers = {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if re.search(r"os\.environ|os\.getenv|getenv\(", path.read_text())
    }
    assert readers - NOT_SETTINGS == set()
