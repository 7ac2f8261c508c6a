"""A real S3 server for the tests and the demo: versitygw, an S3 gateway onto a directory, on loopback.

Built from the Go consumer module in ``hack/s3/`` and cached per version under
``~/.cache/wallaroo-operator/s3/versitygw-<version>/``, like the control plane (same build helpers, same
CGO setting, so the Go build cache is shared). Never MinIO (AGPL). ``python -m localcluster.s3 up|down``
backs ``make s3-up`` / ``make s3-down``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import ssl
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from localcluster import processes
from localcluster.build import (
    REPO_ROOT,
    BuildError,
    _build_into_cache,
    _go_build,
    pinned_version,
)

MODULE = "github.com/versity/versitygw"
COMMAND = f"{MODULE}/cmd/versitygw"
MODULE_DIR = Path(os.environ.get("LOCALCLUSTER_S3_MODULE", REPO_ROOT / "hack" / "s3"))
REGION = "us-east-1"
HEALTH_PATH = "/health"
START_TIMEOUT_SECONDS = 30.0
START_ATTEMPTS = 3  # a port taken between picking it and binding it: pick another
INFO_FILE = "s3.json"


class S3ServerError(RuntimeError):
    """The server could not start; the message shows its log tail."""


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(os.environ.get("LOCALCLUSTER_S3_CACHE", Path(base) / "wallaroo-operator" / "s3"))


def build_versitygw() -> Path:
    """The cached versitygw binary, built first when missing (cold: about 4 minutes on 2 cores)."""
    version = pinned_version(MODULE_DIR, MODULE)
    target = cache_root() / f"versitygw-{version}"
    binary = target / "versitygw"
    if not binary.is_file():
        ldflags = f"-s -w -X main.Version={version} -X main.Build=module -X main.BuildTime=none"
        _build_into_cache(target, lambda out: _go_build(MODULE_DIR, [COMMAND], f"{out}/versitygw", ldflags))
    return binary


@dataclass(frozen=True)
class S3Endpoint:
    """How to reach a running server. The root credentials are throwaway ones, made per start."""

    endpoint_url: str
    region: str
    access_key: str
    secret_key: str = field(repr=False)
    pid: int = 0


class S3Server:
    """One versitygw process serving `state_dir/store` (buckets are its folders). Use as a context manager."""

    def __init__(
        self,
        state_dir: Path,
        binary: Path,
        *,
        host: str = "127.0.0.1",
        detached: bool = False,
        tls: tuple[Path, Path] | None = None,
    ):
        """`tls`: a (certificate, private key) pair of PEM files, to serve HTTPS instead of HTTP."""
        self.state_dir = Path(state_dir).resolve()
        self.binary = binary
        self.host = host
        self.detached = detached
        self.tls = tls
        self.scheme = "https" if tls else "http"
        self.endpoint: S3Endpoint | None = None

    def start(self) -> S3Endpoint:
        stop_recorded(self.state_dir)
        shutil.rmtree(self.state_dir, ignore_errors=True)
        for name in ("store", "iam", "logs"):
            (self.state_dir / name).mkdir(parents=True, mode=0o700)
        access_key, secret_key = "root-" + secrets.token_hex(6), secrets.token_urlsafe(24)
        for attempt in range(1, START_ATTEMPTS + 1):
            port = processes.free_port()
            pid = self._spawn(port, access_key, secret_key)
            try:
                self._wait_ready(pid, port)
                break
            except S3ServerError:
                processes.stop(pid)
                if "address already in use" not in self._log_tail() or attempt == START_ATTEMPTS:
                    raise
        self.endpoint = S3Endpoint(f"{self.scheme}://{self.host}:{port}", REGION, access_key, secret_key, pid)
        _write_private_json(self.state_dir / INFO_FILE, asdict(self.endpoint))
        return self.endpoint

    def stop(self) -> None:
        """Stop the process by PID (only if it is still ours) and remove the state, store included."""
        stop_recorded(self.state_dir)
        shutil.rmtree(self.state_dir, ignore_errors=True)
        self.endpoint = None

    def __enter__(self) -> S3Endpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, port: int, access_key: str, secret_key: str) -> int:
        # Credentials go through the environment: a command line is readable by every user.
        env = {**os.environ, "ROOT_ACCESS_KEY_ID": access_key, "ROOT_SECRET_ACCESS_KEY": secret_key}
        args = [
            str(self.binary),
            "--port",
            f"{self.host}:{port}",
            "--region",
            REGION,
            "--quiet",
            "--health",
            HEALTH_PATH,
            "--iam-dir",
            str(self.state_dir / "iam"),
        ]
        if self.tls:
            args += ["--cert", str(self.tls[0]), "--key", str(self.tls[1])]
        args += ["posix", str(self.state_dir / "store")]
        process = processes.spawn(args, self.state_dir / "logs" / "versitygw.log", detached=self.detached, env=env)
        (self.state_dir / "pids.json").write_text(json.dumps({"versitygw": process.pid}))
        return process.pid

    def _wait_ready(self, pid: int, port: int) -> None:
        url = f"{self.scheme}://{self.host}:{port}{HEALTH_PATH}"
        # Only "does our own process answer yet": the client's certificate checks are what tests examine.
        context = ssl._create_unverified_context() if self.tls else None
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if not processes.is_running(pid):
                raise S3ServerError(f"versitygw exited during start-up:\n{self._log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=2, context=context) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        raise S3ServerError(f"versitygw not ready after {START_TIMEOUT_SECONDS:.0f} s:\n{self._log_tail()}")

    def _log_tail(self, lines: int = 15) -> str:
        log = self.state_dir / "logs" / "versitygw.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def stop_recorded(state_dir: Path) -> None:
    """Stop the server a state dir records, unless its PID now belongs to another program."""
    try:
        pid = json.loads((state_dir / "pids.json").read_text())["versitygw"]
    except (OSError, ValueError, KeyError):
        return
    if processes.belongs_to(pid, str(state_dir)):
        processes.stop(pid)


def read_endpoint(state_dir: Path) -> S3Endpoint | None:
    """The endpoint of a server started by `up` in `state_dir`, if it still runs."""
    try:
        endpoint = S3Endpoint(**json.loads((state_dir / INFO_FILE).read_text()))
    except (OSError, ValueError, TypeError):
        return None
    alive = processes.is_running(endpoint.pid) and processes.belongs_to(endpoint.pid, str(state_dir))
    return endpoint if alive else None


def _write_private_json(path: Path, data: dict) -> None:
    """Mode 0600: the file holds the root credentials."""
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        json.dump(data, file, indent=2)
    temporary.replace(path)


# -- the `make s3-up` / `make s3-down` CLI -------------------------------------------------------------


def _cmd_build(args: argparse.Namespace) -> None:
    print(build_versitygw())


def _cmd_up(args: argparse.Namespace) -> None:
    running = read_endpoint(args.state_dir)
    if running is None:
        running = S3Server(args.state_dir, build_versitygw(), host=args.host, detached=True).start()
        print(f"S3 server (versitygw) up at {running.endpoint_url}, region {running.region}")
    else:
        print(f"S3 server already running at {running.endpoint_url}")
    print(f"credentials and endpoint: {args.state_dir / INFO_FILE}; buckets are folders of {args.state_dir / 'store'}")


def _cmd_down(args: argparse.Namespace) -> None:
    S3Server(args.state_dir, Path("versitygw")).stop()
    print("S3 server stopped")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m localcluster.s3", description=__doc__)
    parser.add_argument(
        "--state-dir", type=Path, default=Path(os.environ.get("LOCALCLUSTER_S3_STATE", REPO_ROOT / ".s3"))
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("build").set_defaults(handler=_cmd_build)
    up = commands.add_parser("up")
    up.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    up.set_defaults(handler=_cmd_up)
    commands.add_parser("down").set_defaults(handler=_cmd_down)
    args = parser.parse_args(argv)
    args.state_dir = args.state_dir.resolve()
    try:
        args.handler(args)
    except (BuildError, S3ServerError) as error:
        sys.exit(f"localcluster.s3: {error}")


if __name__ == "__main__":
    main()
