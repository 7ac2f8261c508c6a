"""Write the field tables of docs/reference.md from the CRD schemas (run by `make crds`).

The CRD schemas are generated from the pydantic models (`wallaroo_operator.models.crd.all_crds`), so the
tables say what `kubectl explain` says: field path, type, default, description. Only the text between
each pair of markers is replaced; the prose around them is written by hand:

  <!-- BEGIN GENERATED: inferencejob-spec -->
  ...
  <!-- END GENERATED: inferencejob-spec -->

`--check` writes nothing and exits 1 when docs/reference.md differs from what would be written
(tests/unit/test_reference_docs.py does the same check).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from wallaroo_operator.models.crd import all_crds

REPO_ROOT = Path(__file__).resolve().parents[2]
REFERENCE = REPO_ROOT / "docs" / "reference.md"
MARKER = re.compile(
    r"(<!-- BEGIN GENERATED: (?P<name>[a-z-]+) -->\n)(?P<body>.*?)(<!-- END GENERATED: (?P=name) -->)", re.DOTALL
)
# Status tables stop at this depth (status.lastRun.progress, not below): status is for reading, not writing.
STATUS_DEPTH = 3


def _type(node: dict[str, Any]) -> str:
    kind = node.get("type", "")
    if kind == "array":
        return "[]" + _type(node.get("items", {}))
    if kind == "object" and "properties" not in node and isinstance(node.get("additionalProperties"), dict):
        return "map[string]" + _type(node["additionalProperties"])
    if not kind and node.get("x-kubernetes-preserve-unknown-fields"):
        return "any"
    return kind or "any"


def _constraints(node: dict[str, Any]) -> list[str]:
    notes = []
    if "enum" in node:
        notes.append("One of " + ", ".join(f"`{v}`" for v in node["enum"]) + ".")
    low, high = node.get("minimum"), node.get("maximum")
    if low is not None or high is not None:
        lo = "" if low is None else f"{'>' if node.get('exclusiveMinimum') else '≥'} {low}"
        hi = "" if high is None else f"{'<' if node.get('exclusiveMaximum') else '≤'} {high}"
        notes.append("Range: " + ", ".join(x for x in (lo, hi) if x) + ".")
    for key, word in (("maxLength", "characters"), ("maxItems", "items")):
        if key in node:
            notes.append(f"At most {node[key]} {word}.")
    for rule in node.get("x-kubernetes-validations") or []:
        notes.append(f"Rule: {rule['message']}.")
    return notes


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _rows(node: dict[str, Any], path: str, depth: int, max_depth: int | None) -> Iterator[list[str]]:
    required = set(node.get("required") or [])
    for name, prop in (node.get("properties") or {}).items():
        field = f"{path}.{name}"
        default = f"`{json.dumps(prop['default'], separators=(',', ':'))}`" if "default" in prop else ""
        description = " ".join(
            [prop.get("description", "").strip(), *_constraints(prop), *(["Required."] if name in required else [])]
        )
        yield [f"`{field}`", f"`{_type(prop)}`", default, _cell(description)]
        if max_depth is not None and depth + 1 >= max_depth:
            continue
        child = prop.get("items", {}) if prop.get("type") == "array" else prop
        if child.get("properties"):
            yield from _rows(child, field + ("[]" if prop.get("type") == "array" else ""), depth + 1, max_depth)


def table(schema: dict[str, Any], root: str, max_depth: int | None = None) -> str:
    lines = ["| Field | Type | Default | Description |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in _rows(schema, root, 0, max_depth)]
    return "\n".join(lines) + "\n"


def tables() -> dict[str, str]:
    """Marker name → the generated Markdown between the markers."""
    out = {}
    for crd in all_crds().values():
        kind = crd["spec"]["names"]["kind"].lower()
        schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
        out[f"{kind}-spec"] = table(schema["spec"], "spec")
        out[f"{kind}-status"] = table(schema["status"], "status", STATUS_DEPTH)
    return out


def render(text: str) -> str:
    """`text` with the tables between its markers regenerated; a missing or unknown marker is an error."""
    generated = tables()
    seen = set()

    def replace(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in generated:
            raise SystemExit(f"{REFERENCE}: unknown generated section {name!r} (known: {', '.join(sorted(generated))})")
        seen.add(name)
        return match.group(1) + generated[name] + match.group(4)

    result = MARKER.sub(replace, text)
    missing = sorted(set(generated) - seen)
    if missing:
        raise SystemExit(f"{REFERENCE}: no markers for {', '.join(missing)}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is out of date; write nothing")
    args = parser.parse_args(argv)
    current = REFERENCE.read_text()
    wanted = render(current)
    if args.check:
        if wanted != current:
            print(f"{REFERENCE.relative_to(REPO_ROOT)} is out of date: run `make crds`", file=sys.stderr)
            return 1
        return 0
    if wanted != current:
        REFERENCE.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
