"""`wallaroo-operator validate -f FILE`: check manifests offline, as the API server would on apply.

Every document of every file (`-f -` reads standard input; a `kind: List` is checked item by item)
that belongs to this operator's API group is checked against the CRD schema and its CEL rules
(see manifest_check.py); documents of other kinds are skipped. One line per document, and one per
problem, each naming the file, the document's index (from 1) and the field path.

Exit codes: 0 every document is valid, 1 at least one is invalid (or is not YAML),
2 usage or I/O error (a file that cannot be read, no documents at all, the `cli` extra missing).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

import yaml

from wallaroo_operator.cli.manifest_command import add_manifest_command

OK, INVALID, USAGE = 0, 1, 2


def add_parser(commands: Any) -> None:
    add_manifest_command(
        commands,
        "validate",
        help="check InferenceJob and WallarooConnection manifests offline",
        description=__doc__,
        files_help="manifest files, or - for standard input (repeatable: -f a.yaml -f b.yaml)",
    )


@dataclass
class Document:
    source: str  # "job.yaml: document 2" or "job.yaml: document 2, item 1"
    body: Any


@dataclass
class Report:
    lines: list[tuple[str, str]] = field(default_factory=list)  # (style, text)
    valid: int = 0
    invalid: int = 0
    skipped: int = 0

    def add(self, style: str, text: str) -> None:
        self.lines.append((style, text))


class InputError(Exception):
    """A file that cannot be read: a usage or I/O error, not an invalid manifest."""


def run(args: argparse.Namespace, extra: list[str]) -> int:
    try:
        from wallaroo_operator import manifest_check
    except ImportError as error:
        print(
            f"wallaroo-operator validate needs the cli extra ({error.name} is missing): "
            "pip install 'wallaroo-inference-operator[cli]'",
            file=sys.stderr,
        )
        return USAGE
    report = Report()
    try:
        for name in args.filename:
            _check_file(name, report, manifest_check)
    except InputError as error:
        _print(report, sys.stdout)
        print(f"error: {error}", file=sys.stderr)
        return USAGE
    if report.valid + report.invalid + report.skipped == 0:
        print("error: no documents found in " + ", ".join(args.filename), file=sys.stderr)
        return USAGE
    report.add("summary", _summary(report))
    _print(report, sys.stdout)
    return INVALID if report.invalid else OK


def _check_file(name: str, report: Report, manifest_check: Any) -> None:
    label = "<stdin>" if name == "-" else name
    try:
        text = sys.stdin.read() if name == "-" else open(name, encoding="utf-8").read()  # noqa: SIM115
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read {label}: {getattr(error, 'strerror', None) or error}") from None
    try:
        found = list(documents(label, text))
    except yaml.YAMLError as error:
        report.invalid += 1
        report.add("invalid", f"{label}: not valid YAML: {yaml_problem(error)}")
        return
    for document in found:
        _check_document(document, report, manifest_check)


class _StrictLoader(yaml.SafeLoader):
    """YAML as kubectl's strict decoding reads it: a key given twice is an error, not "last one wins"."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark, f"found duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def yaml_problem(error: yaml.YAMLError) -> str:
    """`line 3, column 1: found duplicate key 'kind'` rather than PyYAML's multi-line report."""
    if isinstance(error, yaml.MarkedYAMLError) and error.problem and error.problem_mark is not None:
        mark = error.problem_mark
        return f"line {mark.line + 1}, column {mark.column + 1}: {error.problem}"
    return " ".join(str(error).split())


def documents(label: str, text: str) -> Iterator[Document]:
    for index, body in enumerate(yaml.load_all(text, Loader=_StrictLoader), 1):
        if body is None:  # an empty document, e.g. after a trailing ---
            continue
        if isinstance(body, dict) and body.get("kind") == "List" and isinstance(body.get("items"), list):
            for item_index, item in enumerate(body["items"], 1):
                yield Document(f"{label}: document {index}, item {item_index}", item)
        else:
            yield Document(f"{label}: document {index}", body)


def _check_document(document: Document, report: Report, manifest_check: Any) -> None:
    body = document.body
    if isinstance(body, dict) and not manifest_check.is_ours(body):
        report.skipped += 1
        report.add("skipped", f"{document.source} ({_describe(body)}): skipped, not a kind this operator defines")
        return
    problems = manifest_check.check_manifest(body)
    what = f"{document.source} ({_describe(body)})" if isinstance(body, dict) else document.source
    if not problems:
        report.valid += 1
        report.add("valid", f"{what}: valid")
        return
    report.invalid += 1
    report.add("invalid", f"{what}: invalid")
    for problem in problems:
        report.add("problem", f"  {problem}")


def _describe(body: dict[str, Any]) -> str:
    metadata: dict[str, Any] = body["metadata"] if isinstance(body.get("metadata"), dict) else {}
    name = metadata.get("name") or (f"{metadata['generateName']}*" if metadata.get("generateName") else "unnamed")
    return f"{body.get('kind') or 'no kind'} {name}"


def _summary(report: Report) -> str:
    parts = [f"{report.valid} valid", f"{report.invalid} invalid"]
    if report.skipped:
        parts.append(f"{report.skipped} skipped")
    return ", ".join(parts)


# Colours only on a terminal, and never with NO_COLOR set (https://no-color.org).
_STYLES = {
    "valid": "\033[32m",
    "invalid": "\033[1;31m",
    "problem": "\033[31m",
    "skipped": "\033[2m",
    "summary": "\033[1m",
}
_RESET = "\033[0m"


def _print(report: Report, stream: TextIO) -> None:
    colour = stream.isatty() and not os.environ.get("NO_COLOR")
    for style, text in report.lines:
        stream.write(f"{_STYLES[style]}{text}{_RESET}\n" if colour else f"{text}\n")
    stream.flush()
