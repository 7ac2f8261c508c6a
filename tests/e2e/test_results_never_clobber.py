"""Results ConfigMaps on the real API server, through the one results writer (kube/results_store.py):
created immutable and create-only, accepted again from a rerun of the same run with the same content, and
a ConfigMap the run did not create is never replaced or deleted (ResultsConflict)."""

from __future__ import annotations

import kubernetes
import pytest

from tests.support.kube import Kube
from tests.support.operator import (
    aloha_rows,
    annotate_run_now,
    condition,
    create_input,
    create_job,
    events_for,
    get_job,
    job_manifest,
    phase_is,
    wait_for_job,
)
from tests.support.waiting import wait_for
from wallaroo_operator import constants as c
from wallaroo_operator.data.results import ResultChunk
from wallaroo_operator.kube import results_store
from wallaroo_operator.kube.results_store import ResultsConflict, RunResultsTarget

pytestmark = pytest.mark.cluster


def chunk(index: int, payload: str = '[{"row":0,"out":[1.0]}]', *, last: bool = False) -> ResultChunk:
    return ResultChunk(index=index, first_row=index, row_count=1, payload=payload, last=last)


@pytest.fixture
def job(kube: Kube, namespace: str) -> dict:
    """A real InferenceJob (no operator watching): a real uid for the results' ownerReference."""
    return kube.custom.create_namespaced_custom_object(
        c.GROUP, c.VERSION, namespace, c.JOB_PLURAL, job_manifest("store")
    )


def target(job: dict, run_id: str = "gen-1") -> RunResultsTarget:
    return RunResultsTarget(job["metadata"]["namespace"], job["metadata"]["name"], job["metadata"]["uid"], run_id)


def identity(kube: Kube, namespace: str, name: str) -> tuple[str, str]:
    meta = kube.core.read_namespaced_config_map(name, namespace).metadata
    return meta.uid, meta.resource_version


def users_config_map(kube: Kube, namespace: str, name: str, **labels: str) -> tuple[str, str]:
    kube.core.create_namespaced_config_map(
        namespace, {"metadata": {"name": name, "labels": labels}, "data": {"mine": "precious"}}
    )
    return identity(kube, namespace, name)


def test_results_are_immutable_and_a_rerun_reuses_its_own(kube: Kube, namespace: str, job: dict):
    names = [
        results_store.create_part(target(job), 0, chunk(0)),
        results_store.create_part(target(job), 0, chunk(1, last=True)),
    ]
    before = [identity(kube, namespace, n) for n in names]
    assert names == ["store-gen-1-0", "store-gen-1-1"]
    assert all(kube.core.read_namespaced_config_map(n, namespace).immutable for n in names)

    again = [
        results_store.create_part(target(job), 0, chunk(0)),
        results_store.create_part(target(job), 0, chunk(1, last=True)),
    ]

    assert again == names and [identity(kube, namespace, n) for n in names] == before  # untouched


def test_a_rerun_with_other_results_is_a_conflict_and_changes_nothing(kube: Kube, namespace: str, job: dict):
    name = results_store.create_part(target(job), 0, chunk(0))
    first = identity(kube, namespace, name)

    for other in (chunk(0, '[{"row":0,"out":[2.0]}]'), chunk(0, last=True)):  # other rows; other annotations
        with pytest.raises(ResultsConflict, match=f"{namespace}/{name} already exists"):
            results_store.create_part(target(job), 0, other)

    assert identity(kube, namespace, name) == first  # create-only: never replaced
    results_store.delete_run_results(namespace, "store", "gen-1", job["metadata"]["uid"])  # a failed run's cleanup
    assert not kube.core.list_namespaced_config_map(namespace, label_selector=f"{c.RUN_LABEL}=gen-1").items


def test_results_of_an_earlier_job_of_the_same_name_are_not_this_jobs(kube: Kube, namespace: str, job: dict):
    """A job deleted and created again under its name before the garbage collector removed its results."""
    name = results_store.create_part(target(job), 0, chunk(0))
    recreated = RunResultsTarget(namespace, "store", "a-later-uid", "gen-1")

    with pytest.raises(ResultsConflict):  # same name, labels and content: another owner
        results_store.create_part(recreated, 0, chunk(0))
    assert not results_store.list_run_parts(namespace, "store", "gen-1", "a-later-uid")
    assert [cm.metadata.name for cm in results_store.list_run_parts(namespace, "store", "gen-1")] == [name]


def test_a_users_config_map_with_a_results_name_is_neither_replaced_nor_deleted(kube: Kube, namespace: str, job: dict):
    # Even labelled exactly like results: labels prove nothing, the owner does.
    squatter = users_config_map(
        kube,
        namespace,
        "store-gen-2-1",
        **{c.JOB_LABEL: "store", c.RUN_LABEL: "gen-2", c.MANAGED_BY_LABEL: c.MANAGED_BY},
    )

    results_store.create_part(target(job, "gen-2"), 0, chunk(0))
    with pytest.raises(ResultsConflict) as failure:
        results_store.create_part(target(job, "gen-2"), 0, chunk(1))
    assert f"{namespace}/store-gen-2-1" in str(failure.value)
    results_store.delete_run_results(namespace, "store", "gen-2", job["metadata"]["uid"])
    results_store.delete_run_results(namespace, "store", "gen-2")  # as the history limit calls it

    assert identity(kube, namespace, "store-gen-2-1") == squatter
    left = kube.core.list_namespaced_config_map(namespace, label_selector=f"{c.RUN_LABEL}=gen-2").items
    assert [cm.metadata.name for cm in left] == ["store-gen-2-1"]  # part 0, the run's own, was removed


def test_the_run_says_results_conflict_and_the_users_config_map_survives(
    kube: Kube, namespace: str, simulator, connection, operator
):
    create_input(kube, namespace, "input", {"text_input": aloha_rows(2)})
    squatter = users_config_map(kube, namespace, "squat-gen-1-0")
    create_job(
        kube, namespace, "squat", failedRunsHistoryLimit=0, results={"configMaps": "Always"}
    )  # the failed run is dropped at once

    job = wait_for_job(kube, namespace, "squat", phase_is("Failed"), what="squat to fail")
    ready = condition(job, "Ready")
    assert ready["reason"] == "ResultsConflict" and f"{namespace}/squat-gen-1-0" in ready["message"], ready
    wait_for(
        lambda: any(
            e.reason == "RunFailed" and "ResultsConflict" in e.message for e in events_for(kube, namespace, "squat")
        ),
        timeout=30,
        what="a RunFailed event",
    )

    # A later run (other names) succeeds; by then the dropped run's results were deleted: not the user's.
    annotate_run_now(kube, namespace, "squat", "again")
    wait_for_job(
        kube,
        namespace,
        "squat",
        lambda j: (
            (j.get("status") or {}).get("lastRun", {}).get("id", "").startswith("manual-") and phase_is("Succeeded")(j)
        ),
        what="the run-now run to succeed",
    )
    assert identity(kube, namespace, "squat-gen-1-0") == squatter
    assert kube.core.read_namespaced_config_map("squat-gen-1-0", namespace).data == {"mine": "precious"}
    assert get_job(kube, namespace, "squat")["status"]["lastRun"]["resultConfigMaps"] != ["squat-gen-1-0"]


def test_the_api_server_refuses_changes_to_results(kube: Kube, namespace: str, job: dict):
    name = results_store.create_part(target(job), 0, chunk(0, last=True))
    with pytest.raises(kubernetes.client.ApiException) as failure:
        kube.core.patch_namespaced_config_map(name, namespace, {"data": {"results.json": "[]"}})
    assert failure.value.status == 422  # immutable
