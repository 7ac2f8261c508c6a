"""`wallaroo-operator validate`: manifests checked offline against the CRD schema and its CEL rules.

In process for the cases, as a real command for stdin and exit codes, and in a real terminal (tmux)
for what a person sees: one line per document and per problem, coloured only on a terminal.
"""

from __future__ import annotations

import copy
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import wallaroo_operator
from tests.support.terminal import finished, screen, tmux_session, type_line
from tests.support.waiting import wait_for
from wallaroo_operator import manifest_check
from wallaroo_operator.cli import main
from wallaroo_operator.manifest_check import check_manifest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))

JOB: dict[str, Any] = {
    "apiVersion": "wallaroo.inferops.dev/v1alpha1",
    "kind": "InferenceJob",
    "metadata": {"name": "aloha"},
    "spec": {
        "connectionRef": {"name": "wallaroo"},
        "workspace": "w",
        "pipeline": "p",
        "input": {"configMaps": [{"name": "aloha-input"}]},
    },
}
CONNECTION: dict[str, Any] = {
    "apiVersion": "wallaroo.inferops.dev/v1alpha1",
    "kind": "WallarooConnection",
    "metadata": {"name": "wallaroo"},
    "spec": {
        "urlPrefix": "sparkly-apple-3026",
        "urlSuffix": "wallaroo.community",
        "credentialsSecretRef": {"name": "creds"},
    },
}


def changed(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of `base` with the dotted `path` set to `value` (or removed when value is DELETE)."""
    document = copy.deepcopy(base)
    *parents, last = path.split(".")
    node = document
    for part in parents:
        node = node.setdefault(part, {})
    if value is DELETE:
        node.pop(last, None)
    else:
        node[last] = value
    return document


DELETE = object()


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(["validate", *args])
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


# -- what is valid ---------------------------------------------------------------------------------


def test_the_examples_are_valid(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "-f", *map(str, EXAMPLES))
    assert code == 0, out
    assert "0 invalid" in out.splitlines()[-1]


@pytest.mark.parametrize(
    "document",
    [
        JOB,
        CONNECTION,
        changed(JOB, "spec.input", {"selector": {"matchLabels": {"app": "aloha"}}}),
        changed(JOB, "spec.schedule", "*/5 * * * *"),
        changed(changed(JOB, "spec.schedule", "0 9 * * 1-5"), "spec.timeZone", "Europe/Berlin"),
        changed(JOB, "metadata", {"generateName": "aloha-"}),
        changed(
            CONNECTION,
            "spec",
            {
                "apiUrl": "https://wallaroo.example.com/v1/api",
                "tokenUrl": "https://sso.example.com/token",
                "credentialsSecretRef": {"name": "creds"},
                "caBundle": {"configMapRef": {"name": "ca", "key": "ca.crt"}},
            },
        ),
    ],
    ids=["job", "connection", "selector", "schedule", "time zone", "generateName", "apiUrl"],
)
def test_valid_documents_have_no_problems(document: dict[str, Any]) -> None:
    assert check_manifest(document) == []


# -- what is not ------------------------------------------------------------------------------------

# name: (document, field path, words in the message)
API_URL_CONNECTION = changed(
    changed(changed(CONNECTION, "spec.urlPrefix", DELETE), "spec.urlSuffix", DELETE),
    "spec.apiUrl",
    "https://x.example.com/v1/api",
)

INVALID = {
    "missing spec field": (changed(JOB, "spec.workspace", DELETE), "spec.workspace", "Required value"),
    "wrong type": (
        changed(JOB, "spec.inference", {"batchSize": "many"}),
        "spec.inference.batchSize",
        "'many': must be of type integer",
    ),
    "below minimum": (
        changed(JOB, "spec.inference", {"batchSize": 0}),
        "spec.inference.batchSize",
        "0: must be greater than or equal to 1",
    ),
    "exclusive minimum": (
        changed(JOB, "spec.inference", {"requestTimeoutSeconds": 0}),
        "spec.inference.requestTimeoutSeconds",
        "0: must be greater than 0",
    ),
    "not in enum": (
        changed(JOB, "spec.concurrencyPolicy", "Sometimes"),
        "spec.concurrencyPolicy",
        "supported values: 'Allow', 'Forbid', 'Replace'",
    ),
    "pattern": (
        changed(JOB, "spec.connectionRef", {"name": "Wallaroo"}),
        "spec.connectionRef.name",
        "must match the pattern",
    ),
    "unknown field": (
        changed(JOB, "spec.inference", {"batchSzie": 10}),
        "spec.inference.batchSzie",
        'unknown field "spec.inference.batchSzie"',
    ),
    "unknown field in a list item": (
        changed(JOB, "spec.input", {"configMaps": [{"name": "a", "keys": "x"}]}),
        "spec.input.configMaps[0].keys",
        "unknown field",
    ),
    "empty list": (
        changed(JOB, "spec.input", {"configMaps": []}),
        "spec.input.configMaps",
        "must have at least 1 items",
    ),
    "input: both": (
        changed(JOB, "spec.input", {"configMaps": [{"name": "a"}], "selector": {"matchLabels": {"a": "b"}}}),
        "spec.input",
        "give exactly one of configMaps, selector and objectStore",
    ),
    "input: neither": (
        changed(JOB, "spec.input", {}),
        "spec.input",
        "give exactly one of configMaps, selector and objectStore",
    ),
    "object store: key and prefix": (
        changed(JOB, "spec.input", {"objectStore": {"bucket": "data", "key": "a.json", "prefix": "in/"}}),
        "spec.input.objectStore",
        "give exactly one of key and prefix",
    ),
    "job name too long for a label": (
        changed(JOB, "metadata", {"name": "a" * 64}),
        "",
        "an InferenceJob name has at most 63 characters",
    ),
    "generated name too long": (
        changed(JOB, "metadata", {"generateName": "a" * 60}),
        "",
        "an InferenceJob name has at most 63 characters",
    ),
    "prefix without suffix": (
        changed(CONNECTION, "spec.urlSuffix", DELETE),
        "spec",
        "urlPrefix and urlSuffix go together",
    ),
    "apiUrl and prefix": (
        changed(CONNECTION, "spec.apiUrl", "https://x.example.com/v1/api"),
        "spec",
        "give either apiUrl or urlPrefix and urlSuffix",
    ),
    "tokenUrl without apiUrl": (
        changed(CONNECTION, "spec.tokenUrl", "https://sso.example.com/token"),
        "spec",
        "tokenUrl needs apiUrl",
    ),
    "both CA sources": (
        changed(
            CONNECTION,
            "spec.caBundle",
            {"secretRef": {"name": "a", "key": "k"}, "configMapRef": {"name": "b", "key": "k"}},
        ),
        "spec.caBundle",
        "give exactly one of secretRef and configMapRef",
    ),
    "apiUrl with user info": (
        changed(API_URL_CONNECTION, "spec.apiUrl", "https://user:pw@x.example.com/v1/api"),
        "spec.apiUrl",
        "user info (user:password@) does not belong in a URL",
    ),
    "apiUrl with a query": (
        changed(API_URL_CONNECTION, "spec.apiUrl", "https://x.example.com/v1/api?a=b"),
        "spec.apiUrl",
        "must not have a query",
    ),
    "apiUrl with a fragment": (
        changed(API_URL_CONNECTION, "spec.apiUrl", "https://x.example.com/v1/api#top"),
        "spec.apiUrl",
        "must not have a fragment",
    ),
    "apiUrl not http": (
        changed(API_URL_CONNECTION, "spec.apiUrl", "ftp://x.example.com/v1/api"),
        "spec.apiUrl",
        "must be an http:// or https:// URL",
    ),
    "inference host with a path": (
        changed(CONNECTION, "spec.inferenceHosts", ["https://inference.example.com/v1"]),
        "spec.inferenceHosts[0]",
        "must be an origin",
    ),
    "bad object name": (
        changed(JOB, "metadata", {"name": "Aloha_Job"}),
        "metadata.name",
        "must be a lowercase RFC 1123 subdomain",
    ),
    "no name": (changed(JOB, "metadata", {}), "metadata.name", "name or generateName is required"),
    "other version": (
        changed(JOB, "apiVersion", "wallaroo.inferops.dev/v1"),
        "apiVersion",
        "serves wallaroo.inferops.dev/v1alpha1 only",
    ),
    "unknown kind": (changed(JOB, "kind", "InferenceRun"), "kind", "supported values: 'InferenceJob'"),
    "schedule only the operator refuses": (
        changed(JOB, "spec.schedule", "61 * * * *"),
        "spec.schedule",
        '(InvalidSchedule): invalid schedule "61 * * * *"',
    ),
    "time zone only the operator refuses": (
        changed(changed(JOB, "spec.schedule", "@daily"), "spec.timeZone", "Mars/Olympus"),
        "spec.timeZone",
        "(UnknownTimeZone)",
    ),
}


@pytest.mark.parametrize("case", INVALID, ids=list(INVALID))
def test_invalid_documents_name_the_field_and_the_reason(case: str) -> None:
    document, path, words = INVALID[case]
    problems = check_manifest(document)
    assert [p for p in problems if p.path == path and words in p.message], problems


def test_every_problem_of_a_document_is_reported() -> None:
    document = changed(changed(JOB, "spec.inference", {"batchSize": 0, "paralelism": 2}), "spec.input", {})
    assert {p.path for p in check_manifest(document)} == {
        "spec.inference.batchSize",
        "spec.inference.paralelism",
        "spec.input",
    }


def crd_rules() -> set[tuple[str, str]]:
    """(rule, message) of every x-kubernetes-validations entry in crds/*.yaml."""
    found: set[tuple[str, str]] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            found.update((r["rule"], r["message"]) for r in node.get("x-kubernetes-validations", ()))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in sorted((ROOT / "crds").glob("*.yaml")):
        walk(yaml.safe_load(path.read_text()))
    return found


def test_the_checker_evaluates_exactly_the_cel_rules_of_the_crds() -> None:
    assert crd_rules() and {(r.rule, r.message) for r in manifest_check.rules()} == crd_rules()


def test_every_cel_rule_of_the_crds_is_proven_to_reject_something() -> None:
    """A new rule in crds/ needs a case in INVALID above that breaks it."""
    reported = [p.message for document, _, _ in INVALID.values() for p in check_manifest(document)]
    assert {message for _, message in crd_rules() if not any(r.endswith(": " + message) for r in reported)} == set()


def test_a_forbidden_value_is_never_echoed() -> None:
    document = changed(API_URL_CONNECTION, "spec.apiUrl", "https://user:s3cret@x.example.com/v1/api")
    problems = check_manifest(document)
    assert problems and all("s3cret" not in p.message for p in problems)


def test_a_rule_that_cannot_be_evaluated_is_reported_not_passed() -> None:
    with pytest.raises(ValueError, match="could not be evaluated"):
        manifest_check.evaluate("self.missing > 1", {})


# -- the command: files, stdin, several documents, exit codes ---------------------------------------


def write(tmp_path: Path, name: str, *documents: Any) -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    return str(path)


def test_several_documents_with_their_index(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"}}
    bad = changed(JOB, "spec.inference", {"batchSize": 0})
    file = write(tmp_path, "all.yaml", CONNECTION, secret, bad)
    code, out, err = run_cli(capsys, "-f", file)
    assert code == 1 and err == ""
    assert out.splitlines() == [
        f"{file}: document 1 (WallarooConnection wallaroo): valid",
        f"{file}: document 2 (Secret creds): skipped, not a kind this operator defines",
        f"{file}: document 3 (InferenceJob aloha): invalid",
        "  spec.inference.batchSize: Invalid value: 0: must be greater than or equal to 1",
        "1 valid, 1 invalid, 1 skipped",
    ]


def test_a_list_is_checked_item_by_item(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    listed = {"apiVersion": "v1", "kind": "List", "items": [JOB, changed(JOB, "spec.pipeline", "")]}
    code, out, _ = run_cli(capsys, "-f", write(tmp_path, "list.yaml", listed))
    assert code == 1
    assert "list.yaml: document 1, item 2 (InferenceJob aloha): invalid" in out
    assert "  spec.pipeline: Invalid value: '': must be at least 1 characters long" in out


def test_several_files_are_all_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = write(tmp_path, "good.yaml", JOB), write(tmp_path, "bad.yaml", changed(JOB, "spec.input", {}))
    code, out, _ = run_cli(capsys, "-f", bad, "-f", good)
    assert code == 1 and out.splitlines()[-1] == "1 valid, 1 invalid"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kind: [", "odd.yaml: not valid YAML: line 1, column 8: expected the node content"),
        ("- 1\n- 2\n", "expected a Kubernetes object"),
        (
            "kind: InferenceJob\nspec: {}\nkind: Job\n",
            "odd.yaml: not valid YAML: line 3, column 1: found duplicate key 'kind'",
        ),
    ],
)
def test_not_a_manifest_is_invalid(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str) -> None:
    path = tmp_path / "odd.yaml"
    path.write_text(text)
    code, out, _ = run_cli(capsys, "-f", str(path))
    assert code == 1 and message in out


def test_a_missing_file_is_an_io_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "-f", str(tmp_path / "nope.yaml"))
    assert code == 2 and f"cannot read {tmp_path / 'nope.yaml'}: No such file or directory" in err


def test_no_documents_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing here\n---\n")
    code, _, err = run_cli(capsys, "-f", str(path))
    assert code == 2 and "no documents found" in err


def test_no_file_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys)
    assert code == 2 and "-f/--filename" in err


def test_without_the_cli_extra_it_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.delitem(sys.modules, "wallaroo_operator.manifest_check")
    monkeypatch.delattr(wallaroo_operator, "manifest_check")
    monkeypatch.setitem(sys.modules, "celpy", None)  # as if not installed
    code, _, err = run_cli(capsys, "-f", write(tmp_path, "job.yaml", JOB))
    assert code == 2 and "pip install 'wallaroo-inference-operator[cli]'" in err


def command(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wallaroo_operator", "validate", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=ROOT,
    )


def test_stdin_through_the_real_command() -> None:
    done = command("-f", "-", stdin=yaml.safe_dump_all([JOB, changed(CONNECTION, "spec.urlSuffix", DELETE)]))
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines() == [
        "<stdin>: document 1 (InferenceJob aloha): valid",
        "<stdin>: document 2 (WallarooConnection wallaroo): invalid",
        '  spec: Invalid value: "object": urlPrefix and urlSuffix go together',
        "1 valid, 1 invalid",
    ]
    assert "\033[" not in done.stdout  # no colour into a pipe
    assert command("-f", "-", stdin=yaml.safe_dump(JOB)).returncode == 0


# -- in a real terminal -------------------------------------------------------------------------------


@pytest.fixture
def terminal(tmp_path: Path):
    yield from tmux_session(tmp_path, "validate")


def test_in_a_terminal_one_line_per_problem_in_colour(terminal, tmp_path: Path) -> None:
    tmux, session = terminal
    file = write(tmp_path, "job.yaml", changed(changed(JOB, "spec.inference", {"batchSize": 0}), "spec.input", {}))
    validate = f"{shlex.quote(sys.executable)} -m wallaroo_operator validate -f {shlex.quote(file)}"
    type_line(tmux, session, f"cd {shlex.quote(str(ROOT))} && {validate}; echo exit=$?")
    text = wait_for(lambda: finished(screen(tmux, session)), timeout=60, what="the command to finish in tmux")
    lines = [line.rstrip() for line in text.splitlines()]
    start = next(i for i, line in enumerate(lines) if line.endswith("(InferenceJob aloha): invalid"))
    assert lines[start : start + 5] == [
        f"{file}: document 1 (InferenceJob aloha): invalid",
        "  spec.inference.batchSize: Invalid value: 0: must be greater than or equal to 1",
        '  spec.input: Invalid value: "object": give exactly one of configMaps, selector and objectStore',
        "0 valid, 1 invalid",
        "exit=1",
    ]
    coloured = screen(tmux, session, escapes=True)
    # tmux re-encodes the attributes (bold and red may come as separate sequences): look for red (31).
    red = r"(\033\[[0-9;]*m)*\033\[(?:[0-9;]*;)?31(?:;[0-9;]*)?m(\033\[[0-9;]*m)*"
    assert re.search(red + re.escape(f"{file}: document 1 (InferenceJob aloha): invalid"), coloured), coloured
    # tmux sends only changes: the second problem line stays red without a new sequence.
    assert re.search(red + re.escape("  spec.inference.batchSize: Invalid value"), coloured), coloured
    assert "[31m" not in text and "\\033" not in text  # no escape codes shown as text


def test_in_a_terminal_no_color_turns_colour_off(terminal, tmp_path: Path) -> None:
    tmux, session = terminal
    file = write(tmp_path, "job.yaml", JOB)
    type_line(
        tmux,
        session,
        f"cd {shlex.quote(str(ROOT))} && NO_COLOR=1 {shlex.quote(sys.executable)} "
        f"-m wallaroo_operator validate -f {shlex.quote(file)}; echo exit=$?",
    )
    wait_for(lambda: finished(screen(tmux, session)), timeout=60, what="the command to finish in tmux")
    coloured = screen(tmux, session, escapes=True)
    assert f"{file}: document 1 (InferenceJob aloha): valid" in coloured
    assert not re.search(r"\033\[(?:[0-9;]*;)?32(?:;[0-9;]*)?m", coloured), coloured
