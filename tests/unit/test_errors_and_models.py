"""Classifying a run's failures, the CRD models' wire form, connection URLs and kopf's arguments."""

from __future__ import annotations

import re

import kubernetes
import pydantic
import pytest
import urllib3

from wallaroo_operator.controller.connection import endpoint_urls
from wallaroo_operator.controller.errors import Disposition, RunError, classify
from wallaroo_operator.data.inputs import InputError
from wallaroo_operator.data.results import ResultsTooLarge
from wallaroo_operator.entrypoint import DEFAULT_LIVENESS, kopf_arguments
from wallaroo_operator.kube.references import MissingReference
from wallaroo_operator.models import InferenceJobSpec, WallarooConnectionSpec
from wallaroo_operator.models.job import CRON_PATTERN
from wallaroo_operator.schedule import InvalidSchedule, validate_schedule, validate_time_zone
from wallaroo_operator.settings import Settings, settings
from wallaroo_operator.wallaroo import (
    AmbiguousWorkspace,
    AuthenticationFailed,
    InferenceCancelled,
    InvalidConnection,
    InvalidInput,
    PipelineNotDeployed,
    PipelineNotFound,
    RequestRejected,
    RetryBudgetExhausted,
    ServerError,
    TLSVerificationFailed,
    UnexpectedResponse,
    Unreachable,
    WorkspaceNotFound,
)

FAKE_SECRET = "s3cr3t-client-secret-Zq9XwV"

MINIMAL_JOB = {
    "connectionRef": {"name": "wallaroo"},
    "workspace": "urldemoworkspace",
    "pipeline": "urldemopipeline",
    "input": {"configMaps": [{"name": "inputs"}]},
}


# ---- classify() ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reason", ["ConnectionNotFound", "SecretNotFound", "SecretKeyNotFound", "ConfigMapNotFound", "ConfigMapKeyNotFound"]
)
def test_a_missing_reference_is_waited_for(reason: str) -> None:
    error = classify(MissingReference(reason, "Secret ns/creds not found"))

    assert error == RunError(reason, "Secret ns/creds not found", Disposition.WAIT)


@pytest.mark.parametrize(
    "error",
    [
        PipelineNotDeployed("pipeline 'p' has no running deployment"),
        Unreachable("connection refused"),
        ServerError("HTTP 503 from engine"),
        RetryBudgetExhausted(20, ServerError("HTTP 503")),
    ],
    ids=lambda e: type(e).__name__,
)
def test_retryable_wallaroo_errors_are_retried(error) -> None:
    assert error.retryable

    assert classify(error) == RunError(error.reason, error.message, Disposition.RETRY)


@pytest.mark.parametrize(
    "error",
    [
        InvalidConnection("bad URL"),
        AuthenticationFailed("invalid user credentials"),
        WorkspaceNotFound("ws", 3, "user alice"),
        AmbiguousWorkspace("ws", [1, 2]),
        PipelineNotFound("pipeline 'p' not found"),
        InvalidInput("tensor values may not be null"),
        RequestRejected("HTTP 403"),
        UnexpectedResponse("no outputs"),
        TLSVerificationFailed("certificate verify failed"),
        InferenceCancelled(5, 10),
    ],
    ids=lambda e: type(e).__name__,
)
def test_non_retryable_wallaroo_errors_fail_the_run(error) -> None:
    assert not error.retryable

    classified = classify(error)

    assert classified == RunError(error.reason, error.message, Disposition.FAIL)
    assert classified.reason == type(error).__name__


def test_wallaroo_error_messages_stay_scrubbed() -> None:
    classified = classify(AuthenticationFailed("token request with client_secret=hunter2 refused"))

    assert "hunter2" not in classified.message


@pytest.mark.parametrize("reason", ["InvalidInput", "InputNotFound", "InputTooLarge"])
def test_input_errors_fail_with_their_own_reason(reason: str) -> None:
    assert classify(InputError(reason, "cm/k: row 3 of 'x' is bad")) == RunError(
        reason, "cm/k: row 3 of 'x' is bad", Disposition.FAIL
    )


def test_results_too_large_fails_the_run() -> None:
    error = ResultsTooLarge("results need more than results.maxConfigMaps=20 ConfigMaps")

    assert classify(error) == RunError("ResultsTooLarge", str(error), Disposition.FAIL)


@pytest.mark.parametrize(
    ("call", "argument"), [(validate_schedule, "61 * * * *"), (validate_time_zone, "Mars/Olympus")]
)
def test_invalid_schedules_and_time_zones_fail_as_invalid_schedule(call, argument: str) -> None:
    with pytest.raises(InvalidSchedule) as caught:
        call(argument)

    classified = classify(caught.value)

    assert classified == RunError("InvalidSchedule", str(caught.value), Disposition.FAIL)
    assert argument in classified.message


def test_a_validation_error_is_invalid_spec_listing_the_field_paths() -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        InferenceJobSpec.model_validate(
            {**MINIMAL_JOB, "connectionRef": None, "inference": {"batchSize": 0}, "concurrencyPolicy": "Sometimes"}
        )

    classified = classify(caught.value)

    assert classified.reason == "InvalidSpec"
    assert classified.disposition is Disposition.FAIL
    paths = [part.split(": ")[0] for part in classified.message.split("; ")]
    assert paths == ["connectionRef", "inference.batchSize", "concurrencyPolicy"]
    assert "inference.batchSize: Input should be greater than or equal to 1" in classified.message


def test_a_validation_error_lists_at_most_five_problems_and_not_the_values() -> None:
    spec = {
        "connectionRef": {"name": FAKE_SECRET.upper()},
        "workspace": "",
        "pipeline": "",
        "input": {},
        "backoffLimit": -1,
        "suspend": "maybe",
        "inference": {"parallelism": 0},
    }
    with pytest.raises(pydantic.ValidationError) as caught:
        InferenceJobSpec.model_validate(spec)
    assert len(caught.value.errors()) > 5

    message = classify(caught.value).message

    assert len(message.split("; ")) == 5
    assert FAKE_SECRET.upper() not in message


class _Boom(RuntimeError):
    pass


@pytest.mark.parametrize(
    "error",
    [_Boom(f"Authorization: Bearer {FAKE_SECRET}"), KeyError(FAKE_SECRET), OSError(13, f"password={FAKE_SECRET}")],
    ids=["RuntimeError-subclass", "KeyError", "OSError"],
)
def test_an_unexpected_exception_from_nowhere_known_is_a_retried_internal_error_with_its_type(error) -> None:
    classified = classify(error)

    assert classified.reason == "InternalError"
    assert classified.disposition is Disposition.RETRY
    assert classified.message == f"unexpected {type(error).__name__}; the operator log has the traceback"
    assert FAKE_SECRET not in classified.message


def _raised_in(module: str, error: BaseException) -> BaseException:
    """`error`, raised from a frame of `module` (as if that module's code had raised it)."""
    try:
        exec(compile("raise error", f"<{module}>", "exec"), {"__name__": module, "error": error})
    except BaseException as raised:
        return raised
    raise AssertionError("unreachable")


@pytest.mark.parametrize(
    ("module", "reason", "doing", "disposition"),
    [
        ("wallaroo_operator.data.inputs", "InvalidInput", "decoding the input", Disposition.FAIL),
        ("wallaroo_operator.kube.references", "ReferenceReadFailed", "reading the job's connection", Disposition.RETRY),
        (
            "wallaroo_operator.controller.connection",
            "ConnectionResolveFailed",
            "resolving the WallarooConnection",
            Disposition.RETRY,
        ),
        ("wallaroo_operator.wallaroo.http", "WallarooClientFailed", "talking to Wallaroo", Disposition.RETRY),
        (
            "wallaroo_operator.kube.results_store",
            "ResultsWriteFailed",
            "writing the results ConfigMaps",
            Disposition.RETRY,
        ),
        ("wallaroo_operator.kube.status", "StatusWriteFailed", "writing the job's status", Disposition.RETRY),
    ],
)
def test_an_unexpected_exception_from_a_known_stage_is_named_after_the_stage(
    module, reason, doing, disposition
) -> None:
    classified = classify(_raised_in(module, KeyError(FAKE_SECRET)))

    assert (classified.reason, classified.disposition) == (reason, disposition)
    assert classified.message.startswith(doing) and classified.message.endswith("unexpected KeyError")
    assert FAKE_SECRET not in classified.message


def test_the_deepest_known_stage_wins() -> None:
    inner = _raised_in("wallaroo_operator.data.inputs", ValueError(FAKE_SECRET))
    try:
        raise_in_references = compile("raise inner", "<references>", "exec")
        exec(raise_in_references, {"__name__": "wallaroo_operator.kube.references", "inner": inner})
    except ValueError as outer:
        assert classify(outer).reason == "InvalidInput"


@pytest.mark.parametrize(
    ("status", "phrase", "disposition"),
    [(403, "Forbidden", Disposition.RETRY), (503, "Service Unavailable", Disposition.RETRY)],
)
def test_an_api_server_error_shows_its_http_status_and_not_its_body(status, phrase, disposition) -> None:
    api_error = kubernetes.client.ApiException(status=status, reason=phrase)
    api_error.body = f'{{"message": "{FAKE_SECRET}"}}'

    classified = classify(_raised_in("wallaroo_operator.kube.results_store", api_error))

    assert classified == RunError(
        "ResultsWriteFailed",
        f"writing the results ConfigMaps: unexpected Kubernetes API answered {status} {phrase}",
        disposition,
    )


def test_an_unreachable_api_server_is_retried_even_while_decoding() -> None:
    classified = classify(
        _raised_in("wallaroo_operator.data.inputs", urllib3.exceptions.MaxRetryError(None, "/", "refused"))
    )

    assert classified.disposition is Disposition.RETRY
    assert classified.message == "decoding the input: unexpected Kubernetes API unreachable (MaxRetryError)"


# ---- the CRD models ----------------------------------------------------------------------------


FULL_JOB = {
    "connectionRef": {"name": "wallaroo"},
    "workspace": "urldemoworkspace",
    "pipeline": "urldemopipeline",
    "input": {"configMaps": [{"name": "inputs-1", "key": "data.json.gz"}, {"name": "inputs-2"}], "key": "rows.json"},
    "inference": {
        "format": "pandas-records",
        "batchSize": 250,
        "parallelism": 4,
        "requestTimeoutSeconds": 30.0,
        "retryBudget": 7,
    },
    "results": {"inlineLimitBytes": 0, "configMaps": "Always", "maxConfigMaps": 50},
    "execution": {"shards": 2, "parallelism": 1, "backoffLimitPerIndex": 2},
    "backoffLimit": 5,
    "activeDeadlineSeconds": 600,
    "schedule": "*/5 * * * *",
    "timeZone": "Europe/Berlin",
    "suspend": True,
    "concurrencyPolicy": "Forbid",
    "startingDeadlineSeconds": 120,
    "successfulRunsHistoryLimit": 10,
    "failedRunsHistoryLimit": 2,
}


def test_a_camel_case_job_spec_round_trips() -> None:
    spec = InferenceJobSpec.model_validate(FULL_JOB)

    assert spec.to_kube() == FULL_JOB
    assert spec.connection_ref.name == "wallaroo"
    assert spec.input.config_maps[0].key == "data.json.gz"
    assert spec.inference.batch_size == 250
    assert spec.results.max_config_maps == 50
    assert spec.active_deadline_seconds == 600
    assert spec.time_zone == "Europe/Berlin"
    assert spec.concurrency_policy == "Forbid"


def test_a_job_spec_accepts_snake_case_names_too() -> None:
    spec = InferenceJobSpec.model_validate(
        {
            "connection_ref": {"name": "c"},
            "workspace": "w",
            "pipeline": "p",
            "input": {"selector": {"match_labels": {"app": "x"}}},
            "backoff_limit": 0,
        }
    )

    assert spec.to_kube()["input"] == {"selector": {"matchLabels": {"app": "x"}}, "key": "data.json"}
    assert spec.to_kube()["backoffLimit"] == 0


def test_job_spec_defaults() -> None:
    spec = InferenceJobSpec.model_validate(MINIMAL_JOB)

    assert (spec.schedule, spec.time_zone, spec.suspend, spec.concurrency_policy) == (None, "UTC", False, "Allow")
    assert (spec.backoff_limit, spec.active_deadline_seconds, spec.starting_deadline_seconds) == (3, None, None)
    assert (spec.successful_runs_history_limit, spec.failed_runs_history_limit) == (3, 1)
    assert spec.input.key == "data.json"
    assert spec.input.config_maps[0].key is None
    assert (
        spec.inference.format,
        spec.inference.batch_size,
        spec.inference.parallelism,
        spec.inference.request_timeout_seconds,
        spec.inference.retry_budget,
    ) == ("legacy", 1000, 2, 15, 20)
    assert (spec.results.inline_limit_bytes, spec.results.config_maps, spec.results.max_config_maps) == (
        4096,
        "IfNotInline",
        20,
    )


def test_unset_optional_fields_are_left_out_of_the_wire_form() -> None:
    wire = InferenceJobSpec.model_validate(MINIMAL_JOB).to_kube()

    for absent in ("schedule", "activeDeadlineSeconds", "startingDeadlineSeconds"):
        assert absent not in wire
    assert "selector" not in wire["input"]
    assert wire["input"]["configMaps"] == [{"name": "inputs"}]
    assert wire["inference"]["batchSize"] == 1000  # defaults are written out


def test_unknown_fields_are_ignored() -> None:
    assert "surprise" not in InferenceJobSpec.model_validate({**MINIMAL_JOB, "surprise": 1}).to_kube()


CONNECTION = {"apiUrl": "https://wallaroo.example.com/v1/api", "credentialsSecretRef": {"name": "creds"}}


def test_connection_defaults() -> None:
    spec = WallarooConnectionSpec.model_validate(CONNECTION)

    assert (spec.client_id, spec.grant, spec.insecure_skip_tls_verify, spec.request_timeout_seconds) == (
        "api-client",
        "password",
        False,
        60,
    )
    assert spec.credentials_secret_ref.to_kube() == {"name": "creds"}  # the key names are fixed


def test_insecure_skip_tls_verify_uses_the_kubernetes_spelling() -> None:
    spec = WallarooConnectionSpec.model_validate({**CONNECTION, "insecureSkipTLSVerify": True})

    assert spec.insecure_skip_tls_verify is True
    assert spec.to_kube()["insecureSkipTLSVerify"] is True
    assert "insecureSkipTlsVerify" not in spec.to_kube()


def test_insecure_skip_tls_verify_ignores_the_generated_camel_case() -> None:
    assert (
        WallarooConnectionSpec.model_validate({**CONNECTION, "insecureSkipTlsVerify": True}).insecure_skip_tls_verify
        is False
    )


def test_a_camel_case_connection_spec_round_trips() -> None:
    wire = {
        "urlPrefix": "sparkly-apple-3026",
        "urlSuffix": "wallaroo.community",
        "clientId": "sdk-client",
        "grant": "client_credentials",
        "credentialsSecretRef": {"name": "creds"},
        "caBundle": {"configMapRef": {"name": "ca", "key": "ca.crt"}},
        "insecureSkipTLSVerify": False,
        "requestTimeoutSeconds": 12.5,
    }

    assert WallarooConnectionSpec.model_validate(wire).to_kube() == wire


@pytest.mark.parametrize(
    "schedule", ["@hourly", "@daily", "@yearly", "*/5 * * * *", "0 0 1 1 *", "30 9 * * MON-FRI", "0 0 1,15 * ?"]
)
def test_cron_pattern_accepts_macros_and_five_fields(schedule: str) -> None:
    assert re.fullmatch(CRON_PATTERN, schedule)
    assert InferenceJobSpec.model_validate({**MINIMAL_JOB, "schedule": schedule}).schedule == schedule


@pytest.mark.parametrize("schedule", ["every day", "@every 5m", "@often", "* * * *", "* * * * * *", "", "@hourly x"])
def test_cron_pattern_rejects_other_text(schedule: str) -> None:
    assert not re.fullmatch(CRON_PATTERN, schedule)
    with pytest.raises(pydantic.ValidationError):
        InferenceJobSpec.model_validate({**MINIMAL_JOB, "schedule": schedule})


# ---- connection URLs ---------------------------------------------------------------------------


def connection(**fields) -> WallarooConnectionSpec:
    return WallarooConnectionSpec.model_validate({"credentialsSecretRef": {"name": "creds"}, **fields})


def test_prefix_and_suffix_give_the_seed_era_hosts() -> None:
    spec = connection(urlPrefix="sparkly-apple-3026", urlSuffix="wallaroo.community")

    assert endpoint_urls(spec) == (
        "https://sparkly-apple-3026.api.wallaroo.community/v1/api",
        "https://sparkly-apple-3026.keycloak.wallaroo.community/auth/realms/master/protocol/openid-connect/token",
    )


@pytest.mark.parametrize(
    ("api_url", "token_url"),
    [
        (
            "https://wallaroo.example.com/v1/api",
            "https://wallaroo.example.com/auth/realms/master/protocol/openid-connect/token",
        ),
        (
            "https://wallaroo.example.com/v1/api/",
            "https://wallaroo.example.com/auth/realms/master/protocol/openid-connect/token",
        ),
        (
            "http://api-lb.wallaroo.svc:8080/v1/api",
            "http://api-lb.wallaroo.svc:8080/auth/realms/master/protocol/openid-connect/token",
        ),
    ],
)
def test_api_url_without_token_url_uses_keycloak_on_the_api_host(api_url: str, token_url: str) -> None:
    assert endpoint_urls(connection(apiUrl=api_url)) == (api_url.rstrip("/"), token_url)


def test_an_explicit_token_url_is_used_as_given() -> None:
    token_url = "https://sso.example.com/auth/realms/wallaroo/protocol/openid-connect/token"

    assert endpoint_urls(connection(apiUrl="https://wallaroo.example.com/v1/api/", tokenUrl=token_url)) == (
        "https://wallaroo.example.com/v1/api",
        token_url,
    )


# ---- kopf's command line -----------------------------------------------------------------------


@pytest.fixture
def default_liveness(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv("WALLAROO_OPERATOR_LIVENESS", raising=False)
    settings.cache_clear()  # read once per process: forget what an earlier test's environment said
    return f"--liveness={DEFAULT_LIVENESS}"


def test_defaults_are_standalone_all_namespaces_with_liveness(default_liveness: str) -> None:
    assert kopf_arguments([]) == [
        "run",
        "--module",
        "wallaroo_operator.handlers",
        "--standalone",
        "--all-namespaces",
        default_liveness,
    ]


@pytest.mark.parametrize(
    "flags",
    [
        ["-n", "jobs"],
        ["--namespace", "jobs"],
        ["--namespace=jobs"],
        ["-n", "a", "-n", "b"],
        ["-A"],
        ["--all-namespaces"],
    ],
)
def test_a_namespace_flag_replaces_all_namespaces(default_liveness: str, flags: list[str]) -> None:
    args = kopf_arguments(flags)

    assert args.count("--all-namespaces") == flags.count("--all-namespaces")
    assert "--standalone" in args
    assert args[-len(flags) :] == flags


def test_an_attached_short_namespace_flag_replaces_all_namespaces(default_liveness: str) -> None:
    assert "--all-namespaces" not in kopf_arguments(["-njobs"])


@pytest.mark.parametrize("flags", [["--liveness=http://0.0.0.0:9090/live"], ["--liveness", "http://[::]:8080/h"]])
def test_a_liveness_flag_replaces_the_default(default_liveness: str, flags: list[str]) -> None:
    args = kopf_arguments(flags)

    assert default_liveness not in args
    assert [a for a in args if a.startswith("--liveness")] == [flags[0]]
    assert args[-len(flags) :] == flags


def test_the_liveness_default_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WALLAROO_OPERATOR_LIVENESS", "http://127.0.0.1:7777/healthz")

    assert "--liveness=http://127.0.0.1:7777/healthz" in kopf_arguments([], Settings.from_environment())


@pytest.mark.parametrize("flags", [[], ["-n", "jobs"], ["--liveness=http://x/h"], ["--verbose"]])
def test_standalone_is_always_given(default_liveness: str, flags: list[str]) -> None:
    assert kopf_arguments(flags)[:4] == ["run", "--module", "wallaroo_operator.handlers", "--standalone"]


def test_other_flags_pass_through_in_order_after_the_defaults(default_liveness: str) -> None:
    extra = ["--log-format=json", "--verbose", "--priority", "100"]

    args = kopf_arguments(extra)

    assert args == [
        "run",
        "--module",
        "wallaroo_operator.handlers",
        "--standalone",
        "--all-namespaces",
        default_liveness,
        *extra,
    ]


def test_kopf_arguments_does_not_modify_the_given_list(default_liveness: str) -> None:
    extra = ["--verbose"]

    kopf_arguments(extra)

    assert extra == ["--verbose"]
