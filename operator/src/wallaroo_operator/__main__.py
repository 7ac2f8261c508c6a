"""wallaroo-operator CLI.

  run   run the operator (kopf) against the current KUBECONFIG or in-cluster config
  crds  write the CRD manifests generated from the models into a folder (default: crds/)
  worker  run one shard of a run (in a run's Job Pod, or as the operator's child process)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml


def write_crds(directory: Path) -> list[Path]:
    from wallaroo_operator.models.crd import all_crds

    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for file_name, crd in all_crds().items():
        path = directory / file_name
        path.write_text("# Generated from the pydantic models by `make crds`; do not edit.\n"
                        + yaml.safe_dump(crd, sort_keys=False, width=120))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="wallaroo-operator", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    crds = commands.add_parser("crds", help="generate the CRD manifests")
    crds.add_argument("directory", nargs="?", type=Path, default=Path("crds"))
    commands.add_parser("run", help="run the operator (--executor=local|job); other options pass to `kopf run` "
                                    "(e.g. -n NAMESPACE)")
    commands.add_parser("worker", help="run one shard of a run, as described by $WALLAROO_RUN_MANIFEST")
    args, kopf_args = parser.parse_known_args(argv)
    if kopf_args and args.command != "run":
        parser.error(f"unrecognized arguments: {' '.join(kopf_args)}")
    if args.command == "worker":
        from wallaroo_operator.worker.cli import main as worker_main

        sys.exit(worker_main())
    if args.command == "crds":
        for path in write_crds(args.directory):
            print(path)
    else:
        from wallaroo_operator.entrypoint import run_operator

        sys.exit(run_operator(kopf_args))


if __name__ == "__main__":
    main()
