"""`wallaroo-operator run`: the operator itself (kopf, with the flags in entrypoint.py)."""

from __future__ import annotations

import argparse
from typing import Any

# Anything unknown (-n NAMESPACE, --verbose, ...) goes on to `kopf run`.
PASSES_UNKNOWN_ARGUMENTS = True


def add_parser(commands: Any) -> None:
    commands.add_parser("run", help="run the operator; other options pass to `kopf run` (e.g. -n NAMESPACE)")


def run(args: argparse.Namespace, extra: list[str]) -> int:
    from wallaroo_operator.entrypoint import run_operator

    return run_operator(extra)
