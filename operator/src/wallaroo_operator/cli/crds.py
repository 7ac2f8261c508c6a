"""`wallaroo-operator crds`: write the CRD manifests generated from the pydantic models."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml


def add_parser(commands: Any) -> None:
    command = commands.add_parser("crds", help="generate the CRD manifests")
    command.add_argument("directory", nargs="?", type=Path, default=Path("crds"))


def write_crds(directory: Path) -> list[Path]:
    from wallaroo_operator.models.crd import all_crds

    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for file_name, crd in all_crds().items():
        path = directory / file_name
        path.write_text(
            "# Generated from the pydantic models by `make crds`; do not edit.\n"
            + yaml.safe_dump(crd, sort_keys=False, width=120)
        )
        written.append(path)
    return written


def run(args: argparse.Namespace, extra: list[str]) -> int:
    for path in write_crds(args.directory):
        print(path)
    return 0
