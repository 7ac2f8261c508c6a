"""A test run that is interrupted (Ctrl-C) or killed leaves no control-plane process behind."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap

import pytest

from localcluster.processes import is_running
from tests.support.waiting import wait_for

pytestmark = pytest.mark.cluster

# A stand-in for a test run: starts a cluster the way the fixture does, reports the PIDs, then waits.
# SIGINT is handled as in a terminal even when this suite was started where it is ignored (a shell's
# background job inherits SIG_IGN, and a child inherits it in turn).
CHILD = textwrap.dedent("""
    import json, signal, sys, tempfile
    from pathlib import Path
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from localcluster import LocalCluster, build_binaries
    with tempfile.TemporaryDirectory() as state:
        cluster = LocalCluster(Path(state) / "c", build_binaries()).start()
        try:
            print(json.dumps(cluster._pids), flush=True)
            sys.stdin.read()
        finally:
            cluster.stop()
""")


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "killed"])
def test_interrupted_run_leaves_nothing_running(how):
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        pids = json.loads(child.stdout.readline())
        assert set(pids) == {"etcd", "kube-apiserver", "kube-controller-manager"}
        child.send_signal(how)
        child.wait(
            timeout=180
        )  # a deadline: three processes, each up to 10 s of SIGTERM and 5 of SIGKILL, on a loaded machine
        wait_for(
            lambda: not any(is_running(pid) for pid in pids.values()),
            timeout=30,
            what="every control-plane process to exit",
        )
    finally:
        child.kill()
        child.wait()
