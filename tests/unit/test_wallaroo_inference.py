"""The pure parts of a run: batching, reassembly in input order, summaries, URLs and workspace choice."""

from __future__ import annotations

import pytest

from wallaroo_operator.wallaroo import (
    AmbiguousWorkspace,
    InvalidConnection,
    UnexpectedResponse,
    Workspace,
    WorkspaceNotFound,
    connection_urls,
    deployment_name_from_url,
    select_workspace,
    summarize,
    token_url_for,
)
from wallaroo_operator.wallaroo.inference import Batch, split_batches


@pytest.mark.parametrize(
    ("rows", "size", "sizes"),
    [
        (10, 3, [3, 3, 3, 1]),
        (9, 3, [3, 3, 3]),
        (1, 100, [1]),
        (0, 5, []),
        (5, 1, [1] * 5),
    ],
)
def test_split_batches(rows: int, size: int, sizes: list[int]) -> None:
    data = list(range(rows))
    batches = split_batches(data, size)
    assert [len(b.rows) for b in batches] == sizes
    assert [b.index for b in batches] == list(range(len(sizes)))
    assert [b.start for b in batches] == [i * size for i in range(len(sizes))]
    assert [r for b in batches for r in b.rows] == data


def test_split_batches_rejects_empty_batches() -> None:
    with pytest.raises(ValueError):
        split_batches([1], 0)


def test_batch_label_names_its_rows() -> None:
    assert Batch(2, 200, list(range(100))).label == "batch 2 (rows 200-299)"


def test_summarize_over_all_values() -> None:
    outputs = [{"a": [1.0, 5.0], "b": [0.5]}, {"a": [3.0], "b": [1.5]}, {"a": [], "b": []}]
    summary = summarize(outputs)
    assert (summary["a"].count, summary["a"].min, summary["a"].mean, summary["a"].max) == (3, 1.0, 3.0, 5.0)
    assert (summary["b"].count, summary["b"].mean) == (2, 1.0)
    assert summarize([]) == {}


# ---- URLs and workspaces -------------------------------------------------------------------


def test_connection_urls_for_the_seed_era() -> None:
    api, token = connection_urls("sparkly-apple-3026", "wallaroo.community")
    assert api == "https://sparkly-apple-3026.api.wallaroo.community/v1/api"
    assert token == (
        "https://sparkly-apple-3026.keycloak.wallaroo.community/auth/realms/master/protocol/openid-connect/token"
    )
    with pytest.raises(InvalidConnection):
        connection_urls("", "x")


@pytest.mark.parametrize(
    ("api", "token"),
    [
        (
            "https://wallaroo.example.com/v1/api",
            "https://wallaroo.example.com/auth/realms/master/protocol/openid-connect/token",
        ),
        ("http://api-lb:8080/v1/api/", "http://api-lb:8080/auth/realms/master/protocol/openid-connect/token"),
    ],
)
def test_token_url_for_same_host_installs(api: str, token: str) -> None:
    assert token_url_for(api) == token


def test_token_url_for_rejects_non_http_urls() -> None:
    with pytest.raises(InvalidConnection):
        token_url_for("api-lb:8080/v1/api")


@pytest.mark.parametrize(
    "url",
    [
        "https://sparkly-apple-3026.api.wallaroo.community/v1/api/pipelines/infer/urldemopipeline-5",
        "https://doc-test.api.example/v1/api/pipelines/infer/urldemopipeline-5/urldemopipeline",
    ],
)
def test_deployment_name_from_both_url_forms(url: str) -> None:
    assert deployment_name_from_url(url) == "urldemopipeline-5"


def test_deployment_name_from_other_url() -> None:
    with pytest.raises(UnexpectedResponse):
        deployment_name_from_url("https://x/v1/api/workspaces/list")


WORKSPACES = [
    Workspace(5, "demo@example.com - Default Workspace"),
    Workspace(16, "urldemoworkspace"),
    Workspace(21, "dup"),
    Workspace(22, "dup"),
    Workspace(30, "UrlDemoWorkspace"),
]


def test_select_workspace_by_exact_name() -> None:
    assert select_workspace(WORKSPACES, "urldemoworkspace", "user 'u'") == 16


def test_select_workspace_not_found_counts_visible_workspaces() -> None:
    with pytest.raises(WorkspaceNotFound, match="5 workspaces are visible to user 'u'"):
        select_workspace(WORKSPACES, "urldemo", "user 'u'")


def test_select_workspace_ambiguous_lists_ids() -> None:
    with pytest.raises(AmbiguousWorkspace) as caught:
        select_workspace(WORKSPACES, "dup", "user 'u'")
    assert caught.value.ids == (21, 22)


def test_workspace_from_api_accepts_every_created_by_form() -> None:
    item = {
        "id": 16,
        "name": "w",
        "created_at": "2022-11-30T15:19:57+00:00",
        "created_by": None,
        "archived": False,
        "models": [4],
        "pipelines": [8],
    }
    assert Workspace.from_api(item) == Workspace(16, "w", False, "", (8,))
    with pytest.raises(UnexpectedResponse):
        Workspace.from_api({"name": "no id"})
