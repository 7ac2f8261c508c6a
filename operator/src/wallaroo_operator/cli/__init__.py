"""wallaroo-operator: the operator's command line.

run       run the operator (kopf) against the current KUBECONFIG or in-cluster config
crds      write the CRD manifests generated from the models into a folder (default: crds/)
validate  check InferenceJob and WallarooConnection manifests offline (schema and CEL rules)
run-job   run one InferenceJob manifest here, against Wallaroo, without a cluster
worker    run one shard of a run (in a run's Job Pod, or as the operator's child process)
"""

from __future__ import annotations

import argparse
import sys
from types import ModuleType

from wallaroo_operator.cli import crds, run_job, run_operator, validate, worker

# Each command is a module here with `add_parser(commands)` and `run(args, extra) -> exit code`;
# a new command is one more module in this table.
COMMANDS: dict[str, ModuleType] = {
    "run": run_operator,
    "crds": crds,
    "validate": validate,
    "run-job": run_job,
    "worker": worker,
}


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="wallaroo-operator", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS.values():
        module.add_parser(commands)
    return top


def main(argv: list[str] | None = None) -> None:
    top = parser()
    args, extra = top.parse_known_args(argv)
    if extra and not getattr(COMMANDS[args.command], "PASSES_UNKNOWN_ARGUMENTS", False):
        top.error(f"unrecognized arguments: {' '.join(extra)}")
    sys.exit(COMMANDS[args.command].run(args, extra))
