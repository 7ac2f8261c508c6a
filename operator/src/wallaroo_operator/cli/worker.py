"""`wallaroo-operator worker`: one shard of a run (in a run's Job Pod, or as the operator's child
process), as described by $WALLAROO_RUN_MANIFEST."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(commands: Any) -> None:
    commands.add_parser("worker", help="run one shard of a run, as described by $WALLAROO_RUN_MANIFEST")


def run(args: argparse.Namespace, extra: list[str]) -> int:
    from wallaroo_operator.worker.cli import main

    return main()
