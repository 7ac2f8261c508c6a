"""Inline-only outputs become a results ConfigMap when the final status write fails: which records, and the
part they get (the one a one-shard worker would have stored)."""

from __future__ import annotations

import json

import pytest

from wallaroo_operator.controller.history import may_have_results
from wallaroo_operator.controller.inline_results import inline_chunk, needs_results_config_map
from wallaroo_operator.models.job import RunRecord


@pytest.mark.parametrize(
    ("record", "needed"),
    [
        ({"state": "Succeeded", "outputs": [], "resultConfigMaps": []}, True),
        ({"state": "Succeeded", "outputs": [{"o": [1.0]}], "resultConfigMaps": []}, True),
        ({"state": "Succeeded", "outputs": [{"o": [1.0]}], "resultConfigMaps": ["job-gen-1-0"]}, False),
        ({"state": "Succeeded", "resultConfigMaps": ["job-gen-1-0"]}, False),  # too large for inline
        ({"state": "Succeeded", "resultsUri": "s3://b/p/", "resultParts": 1}, False),
        ({"state": "Failed", "reason": "InvalidInput"}, False),
    ],
)
def test_only_succeeded_runs_with_inline_only_outputs_need_a_results_config_map(record: dict, needed: bool) -> None:
    assert needs_results_config_map({"id": "gen-1", **record}) is needed


def test_the_inline_chunk_is_the_whole_shard_numbered_from_row_zero() -> None:
    chunk = inline_chunk([{"o": [1.5]}, {"o": [2.5]}])
    assert (chunk.index, chunk.first_row, chunk.row_count, chunk.last) == (0, 0, 2, True)
    assert json.loads(chunk.payload) == [{"row": 0, "o": [1.5]}, {"row": 1, "o": [2.5]}]


@pytest.mark.parametrize(
    ("fields", "listed"),
    [
        ({"resultConfigMaps": []}, False),
        ({"resultConfigMaps": ["job-gen-1-0"]}, True),
        ({}, True),  # a failed or cancelled run: whatever it left is looked for
        ({"resultConfigMaps": [], "resultsUri": "s3://b/p/"}, True),
    ],
)
def test_pruning_lists_results_only_for_runs_that_may_have_left_some(fields: dict, listed: bool) -> None:
    record = RunRecord.model_validate({"id": "gen-1", "trigger": "Spec", "state": "Succeeded", **fields})
    assert may_have_results(record) is listed
