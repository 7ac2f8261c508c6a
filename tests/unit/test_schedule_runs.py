"""Run ids (deterministic, DNS-label-safe) and history pruning (CronJob's history limits)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from wallaroo_operator.schedule import (
    RUN_ID_PATTERN,
    RunState,
    RunSummary,
    from_rfc3339,
    prune_history,
    run_id_for_generation,
    run_id_for_manual,
    run_id_for_slot,
    zone_info,
)

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


# --- run ids --------------------------------------------------------------------------------------


def test_slot_run_id_is_the_unix_minute_like_a_cronjob_job_name() -> None:
    assert run_id_for_slot(from_rfc3339("2024-03-10T07:00:00Z")) == "28500900"
    assert run_id_for_slot(from_rfc3339("1970-01-01T00:01:00Z")) == "1"


def test_same_slot_same_id_whatever_the_representation() -> None:
    slot = from_rfc3339("2024-11-03T05:30:00Z")
    in_new_york = slot.astimezone(zone_info("America/New_York"))
    assert run_id_for_slot(slot) == run_id_for_slot(in_new_york) == run_id_for_slot(slot + timedelta(seconds=59))


def test_different_slots_different_ids_and_all_are_dns_labels() -> None:
    start = datetime(2024, 11, 3, tzinfo=UTC)
    ids = [run_id_for_slot(start + timedelta(minutes=i)) for i in range(20000)]
    assert len(set(ids)) == len(ids)
    assert all(DNS_LABEL.match(run_id) and re.fullmatch(RUN_ID_PATTERN, run_id) for run_id in ids)
    # The repeated hour of a DST fall-back still gives two distinct ids.
    first_1_30, second_1_30 = from_rfc3339("2024-11-03T05:30:00Z"), from_rfc3339("2024-11-03T06:30:00Z")
    assert run_id_for_slot(first_1_30) != run_id_for_slot(second_1_30)


def test_slot_run_id_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError):
        run_id_for_slot(datetime(2024, 5, 1, 11))


def test_manual_run_id_is_stable_per_distinct_value() -> None:
    first = run_id_for_manual("2024-05-01T12:00:00Z")
    assert first == run_id_for_manual("2024-05-01T12:00:00Z") == run_id_for_manual(" 2024-05-01T12:00:00Z\n")
    assert first != run_id_for_manual("2024-05-01T12:00:01Z")
    assert re.fullmatch(r"manual-[0-9a-f]{10}", first) and DNS_LABEL.match(first)
    assert DNS_LABEL.match(run_id_for_manual("Ünïcode & spaces / slashes " * 20))
    with pytest.raises(ValueError):
        run_id_for_manual("  ")


def test_generation_run_id() -> None:
    assert run_id_for_generation(3) == "gen-3" and DNS_LABEL.match("gen-3")
    with pytest.raises(ValueError):
        run_id_for_generation(0)


def test_the_three_kinds_of_ids_cannot_collide() -> None:
    ids = [run_id_for_slot(from_rfc3339("2024-05-01T11:00:00Z")), run_id_for_manual("x"), run_id_for_generation(1)]
    assert all(re.fullmatch(RUN_ID_PATTERN, run_id) for run_id in ids)
    assert len(set(ids)) == 3
    assert not re.fullmatch(RUN_ID_PATTERN, "Gen-1") and not re.fullmatch(RUN_ID_PATTERN, "manual-xyz")


# --- history --------------------------------------------------------------------------------------


def run(run_id: str, state: RunState, hour: int | None) -> RunSummary:
    return RunSummary(run_id, state, None if hour is None else datetime(2024, 5, 1, hour, tzinfo=UTC))


def test_keeps_the_newest_within_each_limit_and_never_drops_active_runs() -> None:
    runs = [
        run("s1", RunState.SUCCEEDED, 1),
        run("s2", RunState.SUCCEEDED, 2),
        run("f1", RunState.FAILED, 3),
        run("s3", RunState.SUCCEEDED, 4),
        run("c1", RunState.CANCELLED, 5),
        run("r1", RunState.RUNNING, 0),
        run("s4", RunState.SUCCEEDED, 6),
        run("s5", RunState.SUCCEEDED, 7),
        run("p1", RunState.PENDING, None),
    ]
    kept, dropped = prune_history(runs)
    assert [r.id for r in kept] == ["s3", "c1", "r1", "s4", "s5", "p1"]  # input order preserved
    assert [r.id for r in dropped] == ["s1", "s2", "f1"]


def test_order_of_the_input_does_not_change_what_is_kept() -> None:
    runs = [run(f"s{h}", RunState.SUCCEEDED, h) for h in range(10)]
    kept_forward, _ = prune_history(runs, successful_limit=2)
    kept_backward, _ = prune_history(list(reversed(runs)), successful_limit=2)
    assert {r.id for r in kept_forward} == {r.id for r in kept_backward} == {"s8", "s9"}


def test_limits_zero_and_none() -> None:
    runs = [run("s1", RunState.SUCCEEDED, 1), run("f1", RunState.FAILED, 2), run("r1", RunState.RUNNING, 3)]
    kept, dropped = prune_history(runs, successful_limit=0, failed_limit=0)
    assert [r.id for r in kept] == ["r1"] and [r.id for r in dropped] == ["s1", "f1"]
    kept, dropped = prune_history(runs, successful_limit=None, failed_limit=None)
    assert kept == tuple(runs) and dropped == ()
    with pytest.raises(ValueError):
        prune_history(runs, successful_limit=-1)


def test_runs_without_a_start_time_count_as_newest_and_ids_break_ties() -> None:
    runs = [run("b", RunState.FAILED, 5), run("a", RunState.FAILED, 5), run("z", RunState.FAILED, None)]
    kept, dropped = prune_history(runs, failed_limit=2)
    assert [r.id for r in kept] == ["b", "z"] and [r.id for r in dropped] == ["a"]


@dataclass
class StatusRecord:
    """Shaped like the status model's run record: times as RFC 3339 strings, state as a plain string."""

    id: str
    state: str
    start_time: str | None


def test_works_on_status_records_with_string_times() -> None:
    runs = [
        StatusRecord("28575960", "Succeeded", "2024-05-01T10:00:05Z"),
        StatusRecord("28576020", "Succeeded", "2024-05-01T11:00:04Z"),
        StatusRecord("gen-1", "Failed", "2024-05-01T10:30:00Z"),
        StatusRecord("manual-0123456789", "Failed", "2024-05-01T12:00:00+02:00"),
    ]
    kept, dropped = prune_history(runs, successful_limit=1, failed_limit=1)
    assert [r.id for r in kept] == ["28576020", "gen-1"]
    assert [r.id for r in dropped] == ["28575960", "manual-0123456789"]  # 12:00+02:00 is 10:00Z, older
