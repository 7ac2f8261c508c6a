"""Command line: ``serve`` (foreground), ``up`` (background, writes connection.json) and ``down``.

python -m wallaroo_simulator serve [--config FILE] [--host H] [--port P] [--keycloak-port P] [--tls]
                                   [--hostname NAME ...] [--public-url URL] [--state-dir DIR]
python -m wallaroo_simulator up [same options]
python -m wallaroo_simulator down [--state-dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests
import yaml

from .config import default_config, load_config
from .server import ServeOptions, SimulatorServer
from .state import SimulatorState

DEFAULT_STATE_DIR = Path(".sim")
CONNECTION_FILE = "connection.json"
LOG_FILE = "simulator.log"
STATE_FILES = (CONNECTION_FILE, LOG_FILE, "ca.crt", "server.crt", "server.key")
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
POLL_SECONDS = 0.05


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return args.command(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m wallaroo_simulator", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(required=True, metavar="{serve,up,down}")
    serve = commands.add_parser("serve", help="run in the foreground, printing the world at start-up")
    serve.set_defaults(command=_serve)
    up = commands.add_parser("up", help="start `serve` in the background and write connection.json")
    up.set_defaults(command=_up)
    for sub in (serve, up):
        _add_serve_options(sub)
    down = commands.add_parser("down", help="stop the background simulator and remove its state")
    down.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    down.set_defaults(command=_down)
    return parser


def _add_serve_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="YAML or JSON world (default: the seed tutorial's)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="API port (0: a free one)")
    parser.add_argument("--keycloak-port", type=int, default=0, help="second listener, the seed-era keycloak host")
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with a generated CA (state-dir/ca.crt)")
    parser.add_argument(
        "--hostname",
        dest="hostnames",
        action="extend",
        nargs="+",
        default=[],
        help="extra names for the TLS certificate",
    )
    parser.add_argument("--public-url", help="base URL put into the inference URLs the API returns")
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    parser.add_argument("--access-log", action="store_true", help="log every request")


# --- serve -------------------------------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    running = _running_pid(args.state_dir)
    if running is not None:
        print(
            f"a simulator (pid {running}) already uses {args.state_dir}; stop it with `down` "
            f"or pass another --state-dir",
            file=sys.stderr,
        )
        return 1
    try:
        config = load_config(args.config) if args.config else default_config()
    except (OSError, ValueError, yaml.YAMLError) as error:  # pydantic's ValidationError is a ValueError
        print(f"cannot use config {args.config}: {error}", file=sys.stderr)
        return 2
    options = ServeOptions(
        config=config,
        host=args.host,
        port=args.port,
        keycloak_port=args.keycloak_port,
        tls=args.tls,
        hostnames=tuple(args.hostnames),
        public_url=args.public_url,
        state_dir=args.state_dir,
        access_log=args.access_log,
    )
    _private_dir(args.state_dir)
    logging.basicConfig(
        level=logging.INFO if args.access_log else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    asyncio.run(_serve_until_signalled(SimulatorServer(options), args.state_dir / CONNECTION_FILE))
    return 0


async def _serve_until_signalled(server: SimulatorServer, connection_file: Path) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await server.start()
    info = server.connection_info()
    print(describe_world(server.state, info, connection_file), flush=True)
    _write_private_json(connection_file, info)
    try:
        await stop.wait()
    finally:
        await server.stop()
        if _read_json(connection_file).get("pid") == os.getpid():
            connection_file.unlink(missing_ok=True)


def describe_world(state: SimulatorState, info: dict[str, Any], connection_file: Path) -> str:
    """The start-up banner: every URL and credential a client needs (the credentials are fake)."""
    lines = [
        "Wallaroo simulator",
        f"  base URL            {info['base_url']}",
        f"  MLOps API           {info['api_url']}",
        f"  token (API host)    {info['token_url']}",
        f"  token (keycloak)    {info['keycloak_token_url']}",
        f"  admin API           {info['admin_url']}",
    ]
    if info.get("public_url"):
        lines.append(f"  public URL          {info['public_url']}")
    if info.get("ca_file"):
        lines.append(f"  CA bundle           {info['ca_file']}")
    lines += [f"  user                {u.username}  password {u.password}" for u in state.config.users]
    lines += [
        f"  client              {c.client_id}  " + ("(public)" if c.is_public else f"secret {c.secret}")
        for c in state.config.clients
    ]
    tokens = state.config.tokens
    lines.append(f"  token lifetimes     access {tokens.access_seconds}s, refresh {tokens.refresh_seconds}s")
    for workspace in state.world.workspaces:
        lines.append(f"  workspace {workspace.id:<9} {workspace.config.name}")
        for pipeline in workspace.pipelines:
            spec = pipeline.config.input
            status = "deployed" if pipeline.deployed else "not deployed"
            lines.append(
                f"    pipeline {pipeline.name} ({status}, {spec.name}: rows of {spec.width} {spec.dtype}s) "
                f"{state.external_url(pipeline)}"
            )
    lines.append(f"  connection file     {connection_file}")
    return "\n".join(lines)


# --- up / down ---------------------------------------------------------------------------------------


def _up(args: argparse.Namespace) -> int:
    connection_file = args.state_dir / CONNECTION_FILE
    running = _running_pid(args.state_dir)
    if running is not None:
        print(f"already running (pid {running}): {_read_json(connection_file).get('base_url')}")
        print(f"connection file: {connection_file}")
        return 0
    _private_dir(args.state_dir)
    connection_file.unlink(missing_ok=True)
    child = _start_detached(_serve_argv(args), args.state_dir)
    info = _wait_until_serving(child, connection_file)
    if info is None:
        print(f"the simulator did not start; its log follows ({args.state_dir / LOG_FILE}):", file=sys.stderr)
        print((args.state_dir / LOG_FILE).read_text(errors="replace")[-4000:], file=sys.stderr)
        return 1
    print(info["base_url"])
    print(f"connection file: {connection_file}")
    return 0


def _serve_argv(args: argparse.Namespace) -> list[str]:
    """The ``serve`` command line carrying the options ``up`` was given."""
    options = [
        "--host",
        args.host,
        "--port",
        str(args.port),
        "--keycloak-port",
        str(args.keycloak_port),
        "--state-dir",
        str(args.state_dir),
    ]
    options += ["--config", str(args.config)] if args.config else []
    options += ["--tls"] if args.tls else []
    options += ["--hostname", *args.hostnames] if args.hostnames else []
    options += ["--public-url", args.public_url] if args.public_url else []
    options += ["--access-log"] if args.access_log else []
    return [sys.executable, "-m", "wallaroo_simulator", "serve", *options]


def _start_detached(argv: list[str], state_dir: Path) -> subprocess.Popen[bytes]:
    """Its own session, so the terminal's Ctrl-C or a finished `make` leaves it running."""
    with open(state_dir / LOG_FILE, "wb") as log:
        return subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def _wait_until_serving(child: subprocess.Popen[bytes], connection_file: Path) -> dict[str, Any] | None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline and child.poll() is None:
        info = _read_json(connection_file)
        if info.get("pid") == child.pid and _answers(info):
            return info
        time.sleep(POLL_SECONDS)
    if child.poll() is None:  # alive but never answered: do not leave it behind
        child.terminate()
        child.wait(STOP_TIMEOUT_SECONDS)
    return None


def _answers(info: dict[str, Any]) -> bool:
    try:
        response = requests.get(info["admin_url"] + "/health", verify=info.get("ca_file") or True, timeout=2)
        return response.ok
    except requests.RequestException:
        return False


def _down(args: argparse.Namespace) -> int:
    pid = _running_pid(args.state_dir)
    if pid is None:
        print("no simulator running")
    else:
        _stop(pid)
        print(f"stopped simulator (pid {pid})")
    for name in STATE_FILES:
        (args.state_dir / name).unlink(missing_ok=True)
    if args.state_dir.is_dir() and not any(args.state_dir.iterdir()):
        args.state_dir.rmdir()
    return 0


def _stop(pid: int) -> None:
    """SIGTERM (a graceful stop), then SIGKILL if it is still there after STOP_TIMEOUT_SECONDS."""
    for signum in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        while _is_simulator(pid) and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
        if not _is_simulator(pid):
            return


# --- state files -------------------------------------------------------------------------------------


def _running_pid(state_dir: Path) -> int | None:
    pid = _read_json(state_dir / CONNECTION_FILE).get("pid")
    return pid if isinstance(pid, int) and _is_simulator(pid) else None


def _is_simulator(pid: int) -> bool:
    """Alive, not a zombie, and still our program (a recycled pid must never be signalled)."""
    if not Path("/proc").is_dir():  # no procfs: settle for "some process has this pid"
        return _pid_exists(pid)
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    zombie = any(line.startswith("State:") and "Z" in line.split()[1] for line in status.splitlines())
    return not zombie and b"wallaroo_simulator" in cmdline


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


def _write_private_json(path: Path, data: dict[str, Any]) -> None:
    """Atomically, mode 0600: the file holds the (fake) password and client secret."""
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        json.dump(data, file, indent=2)
    temporary.replace(path)


if __name__ == "__main__":
    sys.exit(main())
