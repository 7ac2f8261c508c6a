"""The set-up shared by the commands that read manifests (`validate`, `run-job`): a sub-command whose
description is its module's docstring, printed as written, and a required, repeatable -f/--filename."""

from __future__ import annotations

import argparse
from typing import Any


def add_manifest_command(commands: Any, name: str, *, help: str, description: str | None, files_help: str) -> Any:
    """Add sub-command `name` taking `-f FILE...` (repeatable, into `args.filename`); return its parser."""
    command = commands.add_parser(
        name, help=help, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    command.add_argument("-f", "--filename", action="extend", nargs="+", required=True, metavar="FILE", help=files_help)
    return command
