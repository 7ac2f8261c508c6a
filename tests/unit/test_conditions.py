"""Condition bookkeeping, the job's phase and Ready condition, and the retry backoff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from wallaroo_operator.controller import waits
from wallaroo_operator.controller.job_status import derive_phase_and_conditions, run_generation
from wallaroo_operator.kube.conditions import get_condition, set_condition
from wallaroo_operator.rfc3339 import now_rfc3339
from wallaroo_operator.settings import Settings

DEFAULTS = Settings()  # 5 s doubling up to 120 s, whatever the environment says


def backoff_delay(attempt: int, settings: Settings = DEFAULTS) -> float:
    return waits.backoff_delay(settings, attempt)


T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)
T2 = T0 + timedelta(hours=1)
T0_TEXT, T1_TEXT, T2_TEXT = "2024-05-01T12:00:00Z", "2024-05-01T12:05:00Z", "2024-05-01T13:00:00Z"


# ---- set_condition -----------------------------------------------------------------------------


def test_now_rfc3339_formats_whole_seconds_with_z() -> None:
    assert now_rfc3339(T0.replace(microsecond=987654)) == T0_TEXT


def test_now_rfc3339_defaults_to_the_current_time() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    stamp = datetime.strptime(now_rfc3339(), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    after = datetime.now(UTC)

    assert before <= stamp <= after


def test_now_rfc3339_converts_other_offsets_to_utc() -> None:
    berlin_summer = timezone(timedelta(hours=2))

    assert now_rfc3339(T0.astimezone(berlin_summer)) == T0_TEXT


def test_a_new_condition_gets_the_given_time_and_generation() -> None:
    conditions = set_condition(None, "Ready", True, "RunSucceeded", "all good", 3, T0)

    assert conditions == [
        {
            "type": "Ready",
            "status": "True",
            "reason": "RunSucceeded",
            "message": "all good",
            "lastTransitionTime": T0_TEXT,
            "observedGeneration": 3,
        }
    ]


@pytest.mark.parametrize(
    ("status", "text"), [(True, "True"), (False, "False"), ("Unknown", "Unknown"), ("True", "True")]
)
def test_status_is_written_as_text(status, text: str) -> None:
    assert set_condition([], "Ready", status, "R", "", 1, T0)[0]["status"] == text


def test_last_transition_time_stays_when_the_status_does_not_change() -> None:
    first = set_condition(None, "Ready", False, "SecretNotFound", "Secret ns/s not found", 1, T0)

    second = set_condition(first, "Ready", False, "ConfigMapNotFound", "ConfigMap ns/c not found", 2, T1)

    ready = get_condition(second, "Ready")
    assert ready["lastTransitionTime"] == T0_TEXT
    assert ready["reason"] == "ConfigMapNotFound"  # reason, message and generation still move
    assert ready["message"] == "ConfigMap ns/c not found"
    assert ready["observedGeneration"] == 2


def test_last_transition_time_moves_when_the_status_changes() -> None:
    conditions = set_condition(None, "Ready", False, "SecretNotFound", "", 1, T0)
    conditions = set_condition(conditions, "Ready", True, "RunSucceeded", "", 1, T1)
    assert get_condition(conditions, "Ready")["lastTransitionTime"] == T1_TEXT

    conditions = set_condition(conditions, "Ready", True, "RunSucceeded", "", 1, T2)
    assert get_condition(conditions, "Ready")["lastTransitionTime"] == T1_TEXT

    conditions = set_condition(conditions, "Ready", "Unknown", "RunInProgress", "", 1, T2)
    assert get_condition(conditions, "Ready")["lastTransitionTime"] == T2_TEXT


def test_a_condition_without_a_transition_time_gets_one() -> None:
    existing = [{"type": "Ready", "status": "True", "reason": "Old", "message": ""}]

    assert set_condition(existing, "Ready", True, "New", "", 1, T1)[0]["lastTransitionTime"] == T1_TEXT


def test_observed_generation_is_recorded_and_left_out_when_unknown() -> None:
    with_generation = set_condition(None, "Ready", True, "R", "", 7, T0)
    previous = [{**with_generation[0]}]

    assert with_generation[0]["observedGeneration"] == 7
    assert "observedGeneration" not in set_condition(previous, "Ready", True, "R", "", None, T0)[0]


def test_conditions_are_sorted_by_type_and_other_types_are_kept() -> None:
    foreign = {
        "type": "Degraded",
        "status": "False",
        "reason": "Fine",
        "message": "set by someone else",
        "lastTransitionTime": T0_TEXT,
    }
    conditions = [
        {"type": "Succeeded", "status": "True", "reason": "RunSucceeded", "message": "", "lastTransitionTime": T0_TEXT},
        foreign,
    ]

    conditions = set_condition(conditions, "Running", False, "NoActiveRun", "", 1, T1)
    conditions = set_condition(conditions, "Available", True, "Yes", "", 1, T1)

    assert [c["type"] for c in conditions] == ["Available", "Degraded", "Running", "Succeeded"]
    assert get_condition(conditions, "Degraded") == foreign


def test_set_condition_replaces_rather_than_duplicates() -> None:
    conditions = set_condition(None, "Ready", True, "A", "", 1, T0)
    conditions = set_condition(conditions, "Ready", False, "B", "", 1, T1)

    assert [c["type"] for c in conditions] == ["Ready"]


def test_set_condition_does_not_modify_its_input() -> None:
    original = [{"type": "Ready", "status": "True", "reason": "A", "message": "", "lastTransitionTime": T0_TEXT}]
    snapshot = [dict(c) for c in original]

    set_condition(original, "Ready", False, "B", "changed", 2, T1)

    assert original == snapshot


def test_message_is_truncated_to_1024_characters() -> None:
    message = "x" * 1000 + "y" * 100

    stored = set_condition(None, "Ready", False, "R", message, 1, T0)[0]["message"]

    assert stored == message[:1024]
    assert len(stored) == 1024


def test_get_condition_finds_by_type() -> None:
    conditions = set_condition(None, "Ready", True, "R", "", 1, T0)

    assert get_condition(conditions, "Ready")["reason"] == "R"
    assert get_condition(conditions, "Running") is None
    assert get_condition(None, "Ready") is None


# ---- phase and conditions of a job -------------------------------------------------------------


def run(run_id: str, state: str, **fields) -> dict:
    return {"id": run_id, "trigger": "Spec", "state": state, **fields}


SUCCEEDED = run("gen-1", "Succeeded", rows=10)
FAILED = run("gen-1", "Failed", reason="PipelineNotFound", error="pipeline 'p' not found")
SCHEDULE = {"schedule": "*/5 * * * *"}


def derive(
    status: dict, spec: dict | None = None, *, ready=None, finished=None, generation: int = 4, now: datetime = T0
) -> dict:
    return derive_phase_and_conditions(status, spec or {}, generation, ready, finished, now)


def condition(result: dict, type_: str) -> dict:
    found = get_condition(result["conditions"], type_)
    assert found is not None, f"no {type_} condition in {result['conditions']}"
    return found


def test_an_active_running_run_makes_the_phase_running() -> None:
    result = derive({"active": [run("gen-2", "Running")], "history": [FAILED]})

    assert result["phase"] == "Running"
    running = condition(result, "Running")
    assert (running["status"], running["reason"], running["message"]) == (
        "True",
        "RunInProgress",
        "run gen-2 in progress",
    )


def test_running_wins_over_a_waiting_run() -> None:
    result = derive({"active": [run("a", "Pending"), run("b", "Running")]})

    assert result["phase"] == "Running"
    assert condition(result, "Running")["message"] == "run a, b in progress"


def test_an_active_run_that_waits_makes_the_phase_pending() -> None:
    result = derive(
        {"active": [run("gen-2", "Pending")]},
        ready=(False, "SecretNotFound", "Secret ns/creds not found; waiting for it to appear"),
    )

    assert result["phase"] == "Pending"
    assert condition(result, "Running")["status"] == "True"
    ready = condition(result, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "SecretNotFound")


@pytest.mark.parametrize(
    ("spec", "phase"),
    [
        (SCHEDULE, "Scheduled"),
        ({**SCHEDULE, "suspend": True}, "Suspended"),
        ({**SCHEDULE, "suspend": False}, "Scheduled"),
    ],
)
def test_an_idle_scheduled_job_is_scheduled_or_suspended(spec: dict, phase: str) -> None:
    result = derive({}, spec)

    assert result["phase"] == phase
    ready = condition(result, "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == ("True", "Scheduled", "waiting for the next slot")


@pytest.mark.parametrize("history", [[SUCCEEDED], [FAILED]], ids=["after-success", "after-failure"])
def test_a_scheduled_job_between_slots_is_scheduled_whatever_the_last_run(history: list) -> None:
    assert derive({"history": history}, SCHEDULE)["phase"] == "Scheduled"
    assert derive({"history": history}, {**SCHEDULE, "suspend": True})["phase"] == "Suspended"


def test_a_scheduled_job_with_an_active_run_is_running() -> None:
    assert derive({"active": [run("s-1", "Running")]}, {**SCHEDULE, "suspend": True})["phase"] == "Running"


@pytest.mark.parametrize(
    ("history", "phase"),
    [
        ([SUCCEEDED], "Succeeded"),
        ([FAILED], "Failed"),
        ([run("gen-2", "Succeeded"), FAILED], "Succeeded"),
        ([run("gen-2", "Failed", reason="Unreachable"), SUCCEEDED], "Failed"),
        ([run("gen-2", "Cancelled", reason="DeadlineExceeded"), SUCCEEDED], "Failed"),
    ],
    ids=["succeeded", "failed", "newest-succeeded", "newest-failed", "newest-cancelled"],
)
def test_an_idle_one_shot_job_takes_its_phase_from_the_newest_history_entry(history: list, phase: str) -> None:
    assert derive({"history": history})["phase"] == phase


def test_the_run_just_finished_counts_before_the_history() -> None:
    result = derive({"history": [SUCCEEDED]}, finished=FAILED)

    assert result["phase"] == "Failed"


def test_a_job_that_never_ran_is_pending_without_a_ready_condition() -> None:
    result = derive({})

    assert result["phase"] == "Pending"
    assert get_condition(result["conditions"], "Ready") is None
    running = condition(result, "Running")
    assert (running["status"], running["reason"], running["message"]) == ("False", "NoActiveRun", "")


@pytest.mark.parametrize("reason", ["InvalidSpec", "InvalidSchedule"])
@pytest.mark.parametrize("spec", [{}, SCHEDULE], ids=["one-shot", "scheduled"])
def test_an_invalid_spec_makes_the_phase_failed(reason: str, spec: dict) -> None:
    result = derive({"history": [SUCCEEDED]}, spec, ready=(False, reason, "inference.batchSize: too small"))

    assert result["phase"] == "Failed"
    ready = condition(result, "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == ("False", reason, "inference.batchSize: too small")


def test_another_not_ready_reason_does_not_make_an_idle_job_failed() -> None:
    result = derive({"history": [SUCCEEDED]}, ready=(False, "ConnectionNotFound", "missing"))

    assert result["phase"] == "Succeeded"


@pytest.mark.parametrize(
    ("status", "spec", "expected"),
    [
        ({"history": [SUCCEEDED]}, {}, ("True", "RunSucceeded", "last run gen-1 succeeded")),
        ({"history": [FAILED]}, {}, ("False", "PipelineNotFound", "pipeline 'p' not found")),
        ({"history": [run("gen-1", "Failed")]}, {}, ("False", "RunFailed", "")),
        ({"active": [run("gen-1", "Running")]}, {}, ("Unknown", "RunInProgress", "run gen-1 in progress")),
        ({}, SCHEDULE, ("True", "Scheduled", "waiting for the next slot")),
        (
            {"active": [run("gen-2", "Running")], "history": [SUCCEEDED]},
            {},
            ("Unknown", "RunInProgress", "run gen-2 in progress"),
        ),
        (
            {"active": [{**run("manual-1", "Running"), "trigger": "Manual"}], "history": [SUCCEEDED]},
            {},
            ("Unknown", "RunInProgress", "run manual-1 in progress"),
        ),
        (
            {"active": [{**run("123", "Running"), "trigger": "Schedule"}], "history": [SUCCEEDED]},
            SCHEDULE,
            ("True", "RunSucceeded", "last run gen-1 succeeded"),
        ),
    ],
    ids=[
        "last-succeeded",
        "last-failed",
        "failed-without-reason",
        "first-run-active",
        "scheduled-never-ran",
        "rerun-after-success",
        "run-now-after-success",
        "scheduled-run-after-success",
    ],
)
def test_ready_reason_follows_the_last_finished_run(status: dict, spec: dict, expected: tuple) -> None:
    ready = condition(derive(status, spec), "Ready")

    assert (ready["status"], ready["reason"], ready["message"]) == expected


def test_finishing_a_run_sets_the_succeeded_condition() -> None:
    ok = condition(derive({}, finished=run("gen-1", "Succeeded", rows=42)), "Succeeded")
    failed = condition(derive({}, finished=FAILED), "Succeeded")

    assert (ok["status"], ok["reason"], ok["message"]) == ("True", "RunSucceeded", "run gen-1: 42 rows")
    assert (failed["status"], failed["reason"], failed["message"]) == (
        "False",
        "PipelineNotFound",
        "run gen-1: pipeline 'p' not found",
    )


def test_the_succeeded_condition_is_only_touched_when_a_run_finishes() -> None:
    previous = set_condition(None, "Succeeded", True, "RunSucceeded", "run gen-1: 10 rows", 3, T0)

    result = derive({"conditions": previous, "history": [FAILED]})

    assert condition(result, "Succeeded") == previous[0]


def test_derived_conditions_carry_generation_and_keep_transition_times() -> None:
    first = derive({"active": [run("gen-4", "Running")]}, generation=4, now=T0)
    second = derive({"conditions": first["conditions"], "active": [run("gen-5", "Running")]}, generation=5, now=T1)
    finished = derive(
        {"conditions": second["conditions"], "history": [run("gen-5", "Succeeded")]},
        finished=run("gen-5", "Succeeded"),
        generation=5,
        now=T2,
    )

    assert [c["type"] for c in finished["conditions"]] == ["Ready", "Running", "Succeeded"]
    assert all(c["observedGeneration"] == 5 for c in second["conditions"])
    assert all(c["observedGeneration"] == 5 for c in finished["conditions"])
    assert condition(second, "Running")["lastTransitionTime"] == T0_TEXT
    assert condition(finished, "Running")["lastTransitionTime"] == T2_TEXT
    assert condition(finished, "Ready")["lastTransitionTime"] == T2_TEXT  # Unknown -> True


# ---- status that is always true: each condition for the generation it was computed from -----------


def test_a_new_generation_is_not_ready_until_its_own_run_has_succeeded() -> None:
    """The `kubectl wait --for=condition=Ready` case: the spec changed to generation 5, gen-4 succeeded."""
    before = derive({"history": [run("gen-4", "Succeeded")]}, generation=4, now=T0)
    in_progress = derive(
        {
            "conditions": before["conditions"],
            "active": [run("gen-5", "Running")],
            "history": [run("gen-4", "Succeeded")],
        },
        generation=5,
        now=T1,
    )
    done = derive(
        {"conditions": in_progress["conditions"], "history": [run("gen-5", "Succeeded"), run("gen-4", "Succeeded")]},
        finished=run("gen-5", "Succeeded"),
        generation=5,
        now=T2,
    )

    assert condition(before, "Ready")["status"] == "True"
    ready = condition(in_progress, "Ready")
    assert (ready["status"], ready["reason"], ready["observedGeneration"]) == ("Unknown", "RunInProgress", 5)
    ready = condition(done, "Ready")
    assert (ready["status"], ready["reason"], ready["observedGeneration"]) == ("True", "RunSucceeded", 5)


def test_ready_from_a_finished_run_names_that_runs_generation() -> None:
    """A run-now started at generation 3 that ends after the spec moved on speaks for generation 3."""
    manual = {**run("manual-abc", "Succeeded"), "trigger": "Manual", "generation": 3}

    result = derive({"history": [manual]}, finished=manual, generation=4)

    assert condition(result, "Ready")["observedGeneration"] == 3
    assert condition(result, "Succeeded")["observedGeneration"] == 3
    assert condition(result, "Running")["observedGeneration"] == 4


def test_a_run_from_an_older_spec_ending_last_does_not_hide_the_current_generations_run() -> None:
    manual = {**run("manual-abc", "Failed", reason="Unreachable"), "trigger": "Manual", "generation": 3}
    current = run("gen-4", "Succeeded")

    result = derive({"history": [manual, current]}, finished=manual, generation=4)

    ready = condition(result, "Ready")
    assert (ready["status"], ready["reason"], ready["observedGeneration"]) == ("True", "RunSucceeded", 4)
    assert condition(result, "Succeeded")["observedGeneration"] == 3  # Succeeded still tells of the run that ended


def test_a_waiting_run_makes_ready_false_for_its_generation() -> None:
    result = derive(
        {
            "active": [run("gen-4", "Pending", reason="SecretNotFound", error="Secret ns/s not found")],
            "history": [run("gen-3", "Succeeded")],
        },
        generation=4,
    )

    ready = condition(result, "Ready")
    assert (ready["status"], ready["reason"], ready["observedGeneration"]) == ("False", "SecretNotFound", 4)


def test_a_scheduled_jobs_ready_speaks_for_the_current_spec() -> None:
    result = derive(
        {"history": [{**run("28500900", "Succeeded"), "trigger": "Schedule", "generation": 2}]}, SCHEDULE, generation=3
    )

    assert condition(result, "Ready")["observedGeneration"] == 3


@pytest.mark.parametrize(
    ("record", "generation"),
    [({"id": "gen-7"}, 7), ({"id": "gen-7", "generation": 6}, 6), ({"id": "28500900"}, 9), ({"id": "gen-x"}, 9)],
)
def test_run_generation_from_the_record_its_id_or_the_current_one(record: dict, generation: int) -> None:
    assert run_generation(record, 9) == generation


# ---- backoff -----------------------------------------------------------------------------------


@pytest.fixture
def backoff() -> None:
    """The defaults (DEFAULTS above)."""


@pytest.mark.parametrize(("attempt", "delay"), [(1, 5.0), (2, 10.0), (3, 20.0), (4, 40.0), (5, 80.0)])
def test_backoff_doubles_from_the_base(backoff, attempt: int, delay: float) -> None:
    assert backoff_delay(attempt) == delay


@pytest.mark.parametrize("attempt", [6, 7, 20, 100, 1000])
def test_backoff_is_capped(backoff, attempt: int) -> None:
    assert backoff_delay(attempt) == 120.0


@pytest.mark.parametrize("attempt", [0, -3])
def test_backoff_before_the_first_attempt_is_the_base(backoff, attempt: int) -> None:
    assert backoff_delay(attempt) == 5.0


def test_backoff_follows_the_configured_base_and_cap() -> None:
    configured = Settings(retry_base_seconds=0.5, retry_cap_seconds=3.0)

    assert [backoff_delay(a, configured) for a in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


@pytest.mark.parametrize("attempt", [1025, 5000])
def test_backoff_stays_capped_for_very_many_attempts(backoff, attempt: int) -> None:
    assert backoff_delay(attempt) == 120.0


def test_merge_patch_deletes_nested_keys_that_are_gone():
    from wallaroo_operator.kube.status import merge_patch

    old = {"lastRun": {"id": "gen-1", "outputs": [[1]], "rows": 3}, "phase": "Succeeded", "gone": 1}
    new = {"lastRun": {"id": "gen-2", "rows": 3}, "phase": "Succeeded", "active": None}
    assert merge_patch(old, new) == {"lastRun": {"id": "gen-2", "outputs": None}, "gone": None}
    assert merge_patch(new, new) == {}
    assert merge_patch({"list": [1, 2]}, {"list": [1]}) == {"list": [1]}  # lists are replaced whole
