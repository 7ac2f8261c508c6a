"""A real terminal for command-line tests: a detached tmux session, typed into and read back."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest


def tmux_session(tmp_path: Path, prefix: str = "cli") -> Iterator[tuple[list[str], str]]:
    """A detached tmux session on its own server socket, 120x40, killed afterwards (use from a fixture)."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (Debian: apt-get install tmux)")
    socket = str(tmp_path / "tmux.sock")
    session = f"{prefix}-{uuid.uuid4().hex[:8]}"
    tmux = ["tmux", "-S", socket]
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "NO_COLOR")}
    subprocess.run(
        [*tmux, "new-session", "-d", "-s", session, "-x", "120", "-y", "40", "bash", "--norc"],
        check=True,
        env={**env, "PS1": "$ "},
        timeout=30,
    )
    try:
        yield tmux, session
    finally:
        subprocess.run([*tmux, "kill-server"], timeout=30, capture_output=True)


def screen(tmux: list[str], session: str, *, escapes: bool = False) -> str:
    return subprocess.run(
        [*tmux, "capture-pane", "-p", "-J", *(["-e"] if escapes else []), "-t", session],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout


def finished(text: str) -> str | None:
    """The screen once the command's `echo exit=$?` has printed (the typed line shows `exit=$?`)."""
    return text if re.search(r"^exit=\d+$", text, flags=re.M) else None


def type_line(tmux: list[str], session: str, line: str) -> None:
    subprocess.run([*tmux, "send-keys", "-t", session, line, "Enter"], check=True, timeout=30)
