"""docs/reference.md stays true to the code: its field tables are what `make crds` generates from the
models, and every reason the operator can put in a condition, a run record or an event has a row."""

from __future__ import annotations

import re

import pytest

from hack.docs.generate_reference import REFERENCE, render, table
from tests.support.kube import REPO_ROOT

PACKAGE = REPO_ROOT / "operator" / "src" / "wallaroo_operator"
REASON = r'"([A-Z][a-z]+(?:[A-Z][a-z0-9]*)*)"'
# Where a reason is born: keyword or class attribute `reason = "X"`, the first argument of the error types
# that carry one, the second of a Stage or a ScheduleEvent, the second of a run's cancel.
PATTERNS = [
    re.compile(r"\breason(?:\s*:\s*[^=\n]+)?\s*=\s*" + REASON),
    re.compile(
        r"\b(?:RunError|InputError|MissingReference|InvalidReference|ReferenceNotAllowed|WorkerFailure)\(\s*" + REASON
    ),
    re.compile(r"\b(?:Stage|ScheduleEvent)\(\s*\"[^\"]*\",\s*" + REASON),
    re.compile(r"\.cancel\([^,()]+,\s*" + REASON),
]
# Reasons written in ways the patterns do not see (condition values chosen inline, cancel fallbacks).
OTHER_REASONS = {"RunInProgress", "NoActiveRun", "Cancelled", "OperatorStopping"}
# The root error classes' reasons: never raised as such (their subclasses are, each with its own reason).
NOT_RAISED = {"WallarooError"}


def reasons_in_code() -> set[str]:
    found = set()
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        for pattern in PATTERNS:
            found.update(pattern.findall(text))
    return found - NOT_RAISED


def test_the_generated_tables_are_up_to_date():
    current = REFERENCE.read_text()
    assert render(current) == current, "docs/reference.md's field tables are out of date: run `make crds`"


def test_a_stale_table_is_caught():
    current = REFERENCE.read_text()
    stale = current.replace("| `spec.workspace` |", "| `spec.workspaceName` |", 1)
    assert stale != current
    assert render(stale) == current


def test_the_tables_show_type_default_and_nesting():
    schema = {
        "properties": {
            "a": {"type": "integer", "default": 3, "description": "An a.", "minimum": 1},
            "b": {"type": "array", "items": {"type": "object", "properties": {"c": {"type": "string"}}}},
        },
        "required": ["a"],
    }
    assert table(schema, "spec").splitlines()[2:] == [
        "| `spec.a` | `integer` | `3` | An a. Range: ≥ 1. Required. |",
        "| `spec.b` | `[]object` |  |  |",
        "| `spec.b[].c` | `string` |  |  |",
    ]


def test_the_reason_scan_finds_reasons():
    found = reasons_in_code()
    # One from each pattern: a class attribute, an error's argument, a Stage, a ScheduleEvent, a cancel.
    assert {"PipelineNotFound", "ConfigMapNotFound", "ReferenceReadFailed", "MissSchedule", "Replaced"} <= found
    assert not {"InferenceJob", "ServiceAccount", "RuntimeDefault"} & found


@pytest.mark.parametrize("reason", sorted(reasons_in_code() | OTHER_REASONS))
def test_every_reason_has_a_row_in_the_reference(reason):
    assert f"| `{reason}` |" in REFERENCE.read_text(), (
        f"the operator can write the reason {reason!r}: add a row to docs/reference.md's troubleshooting tables"
    )


@pytest.mark.parametrize("reason", sorted(OTHER_REASONS))
def test_the_listed_reasons_are_still_in_the_code(reason):
    assert any(f'"{reason}"' in path.read_text() for path in PACKAGE.rglob("*.py"))
