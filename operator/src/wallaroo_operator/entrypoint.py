"""`wallaroo-operator run`: kopf with the flags a production operator always wants."""

from __future__ import annotations

import os
import sys
from typing import NoReturn

from wallaroo_operator.settings import DEFAULT_LIVENESS, Settings, settings

__all__ = ["DEFAULT_LIVENESS", "kopf_arguments", "run_operator"]


def kopf_arguments(extra: list[str], config: Settings | None = None) -> list[str]:
    """Standalone (no peering); all namespaces unless -n/--namespace is given; a liveness endpoint
    unless --liveness is given. Anything else (--log-format=json, --verbose) passes through."""
    config = config or settings()
    args = ["run", "--module", "wallaroo_operator.handlers", "--standalone"]
    if not any(a in ("-A", "--all-namespaces") or a.startswith(("-n", "--namespace")) for a in extra):
        args.append("--all-namespaces")
    if not any(a.startswith("--liveness") for a in extra):
        args.append(f"--liveness={config.liveness}")
    return args + extra


def take_executor(extra: list[str]) -> list[str]:
    """--executor=local|job is ours, not kopf's: pass it on as $WALLAROO_OPERATOR_EXECUTOR."""
    from wallaroo_operator.executors import EXECUTOR_ENV, EXECUTORS

    rest, args = [], iter(extra)
    for arg in args:
        if arg == "--executor" or arg.startswith("--executor="):
            value = arg.partition("=")[2] if "=" in arg else next(args, "")
            if value not in EXECUTORS:
                sys.exit(f"--executor must be one of {', '.join(EXECUTORS)}, not {value!r}")
            os.environ[EXECUTOR_ENV] = value
        else:
            rest.append(arg)
    return rest


def run_operator(extra: list[str]) -> NoReturn:
    """Hand over to kopf's own CLI, in this process."""
    extra = take_executor(extra)
    os.execvp(sys.executable, [sys.executable, "-m", "kopf", *kopf_arguments(extra)])
