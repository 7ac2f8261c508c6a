"""What a person sees of `wallaroo-operator run-job`: a progress bar redrawn in place on a terminal (tmux),
plain progress lines when the output is not a terminal, and the summary at the end.

Also the progress display alone, with a fake clock: rows, percentage, rate and time left.
"""

from __future__ import annotations

import io
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.data import aloha_rows
from tests.support.manifests import connection_manifest, job_manifest, rows_config_map
from tests.support.terminal import finished, screen, tmux_session, type_line
from tests.support.waiting import wait_for
from wallaroo_operator.cli.progress import Progress, duration
from wallaroo_simulator import run_simulator

ROOT = Path(__file__).resolve().parents[2]
ROWS = 2000


@pytest.fixture(scope="module")
def sim():
    with run_simulator() as running:
        yield running


@pytest.fixture
def terminal(tmp_path: Path):
    yield from tmux_session(tmp_path, "run-job")


@pytest.fixture
def job_files(sim, tmp_path: Path) -> tuple[Path, Path]:
    """The manifests (job, connection, input ConfigMap) and a credentials file: nothing secret is typed."""
    manifests, credentials = tmp_path / "job.yaml", tmp_path / "credentials.yaml"
    manifests.write_text(
        yaml.safe_dump_all(
            [
                job_manifest("aloha", inputs=["aloha-input"], inference={"batchSize": 50, "parallelism": 2}),
                connection_manifest(sim),
                rows_config_map("aloha-input", aloha_rows(ROWS)),
            ]
        )
    )
    credentials.write_text(
        yaml.safe_dump({"clientSecret": sim.secret, "username": sim.username, "password": sim.password})
    )
    return manifests, credentials


def command(manifests: Path, credentials: Path, output: Path) -> str:
    return (
        f"{shlex.quote(sys.executable)} -m wallaroo_operator run-job -f {shlex.quote(str(manifests))} "
        f"--credentials {shlex.quote(str(credentials))} -o {shlex.quote(str(output))}"
    )


def test_in_a_terminal_a_bar_moves_in_place_then_the_summary(sim, terminal, job_files, tmp_path: Path) -> None:
    tmux, session = terminal
    sim.admin.set_faults("urldemopipeline", latency_seconds=0.1)  # 40 batches: a few seconds to watch
    try:
        type_line(
            tmux, session, f"cd {shlex.quote(str(ROOT))} && {command(*job_files, tmp_path / 'out')}; echo exit=$?"
        )
        bar = r"^\[[#.]+\] ([\d,]+)/2,000 rows \((\d+)%\)  [\d,]+ rows/s"
        # While it runs: a partial bar with the time left.
        partial = wait_for(
            lambda: re.search(bar + r"  ETA \d+s", screen(tmux, session), flags=re.M),
            timeout=60,
            what="a partial progress bar with an ETA",
        )
        assert 0 < int(partial[1].replace(",", "")) < ROWS
        text = wait_for(lambda: finished(screen(tmux, session)), timeout=120, what="run-job to finish in tmux")
    finally:
        sim.admin.clear_faults("urldemopipeline")
    lines = [line.rstrip() for line in text.splitlines()]
    bars = [line for line in lines if re.match(bar, line)]
    assert len(bars) == 1, text  # redrawn in place: one line, not one per update
    assert re.match(r"^\[#{10,}\] 2,000/2,000 rows \(100%\)", bars[0]), bars[0]
    after = lines[lines.index(bars[0]) + 1 :]
    assert after[0].startswith("Succeeded: 2,000 rows in 40 batches, 0 retries"), text
    assert "pipeline urldemopipeline in workspace urldemoworkspace" in after[1]
    assert any(line.startswith("output_14") for line in after), text
    assert f"results: {tmp_path / 'out' / 'results.jsonl'}" in after
    assert "exit=0" in after
    assert sim.password not in text and sim.secret not in text


def test_without_a_terminal_plain_lines_and_the_summary(sim, job_files, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "wallaroo_operator",
            "run-job",
            "-f",
            str(job_files[0]),
            "--credentials",
            str(job_files[1]),
            "-o",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr and "\033" not in result.stderr
    assert result.stderr.splitlines()[-1].startswith("progress: 2,000/2,000 rows (100%)")
    assert result.stdout.startswith("Succeeded: 2,000 rows")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_plain_progress_lines_at_most_every_interval_and_the_last_one() -> None:
    stream, clock = io.StringIO(), Clock()
    progress = Progress(stream, terminal=False, interval=10, clock=clock)
    for second in range(1, 26):
        clock.now = 100.0 + second
        progress.update(second * 40, 1000)
    progress.finish()
    lines = stream.getvalue().splitlines()
    assert lines == [
        "progress: 40/1,000 rows (4%)  40 rows/s  ETA 24s  elapsed 1s",
        "progress: 440/1,000 rows (44%)  40 rows/s  ETA 14s  elapsed 11s",
        "progress: 840/1,000 rows (84%)  40 rows/s  ETA 4s  elapsed 21s",
        "progress: 1,000/1,000 rows (100%)  40 rows/s  elapsed 25s",
    ]


def test_the_bar_redraws_one_line_and_ends_it() -> None:
    stream, clock = io.StringIO(), Clock()
    progress = Progress(stream, terminal=True, interval=0, clock=clock)
    clock.now += 2
    progress.update(250, 1000)
    progress.finish()
    draws = stream.getvalue().split("\r")[1:]
    assert all(d.endswith("\033[K") for d in draws[:-1]) and stream.getvalue().endswith("\033[K\n")
    bar = re.match(r"\[(#*)(\.*)\] 250/1,000 rows \(25%\)  125 rows/s  ETA 6s  elapsed 2s", draws[0])
    assert bar and len(bar[1]) == (len(bar[1]) + len(bar[2])) // 4, draws[0]  # a quarter of the bar filled


def test_nothing_is_drawn_when_no_row_was_counted() -> None:
    stream = io.StringIO()
    Progress(stream, terminal=True).finish()
    assert stream.getvalue() == ""


@pytest.mark.parametrize("seconds,text", [(0, "0s"), (59.4, "59s"), (61, "1m01s"), (3725, "1h02m")])
def test_durations(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_ctrl_c_stops_the_run_exits_130_and_keeps_no_results(sim, terminal, job_files, tmp_path: Path) -> None:
    tmux, session = terminal
    sim.admin.set_faults("urldemopipeline", latency_seconds=0.2)
    try:
        type_line(
            tmux, session, f"cd {shlex.quote(str(ROOT))} && {command(*job_files, tmp_path / 'out')}; echo exit=$?"
        )
        wait_for(lambda: re.search(r"ETA \d+s", screen(tmux, session)), timeout=60, what="the bar with an ETA")
        subprocess.run([*tmux, "send-keys", "-t", session, "C-c"], check=True, timeout=30)
        text = wait_for(lambda: finished(screen(tmux, session)), timeout=60, what="run-job to stop in tmux")
    finally:
        sim.admin.clear_faults("urldemopipeline")
    lines = [line.rstrip() for line in text.splitlines()]
    assert "exit=130" in lines, text
    assert "interrupted: no results were kept" in lines, text
    assert "Traceback" not in text
    assert list((tmp_path / "out").iterdir()) == []  # not even the partial file
