"""A killed test run leaves no JVM behind: kc.sh runs java as its child, so the child needs its own
PR_SET_PDEATHSIG. Shown with a stand-in for kc.sh and java (a real start takes minutes), through the same
spawn() and java wrapper Keycloak.start() uses."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from localcluster.processes import is_running, stop
from tests.support import keycloak
from tests.support.kube import REPO_ROOT
from tests.support.waiting import wait_for

DRIVER = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from localcluster.processes import spawn
    from tests.support import keycloak
    state = Path(sys.argv[1])
    env = keycloak._java_wrapper()
    # Like kc.sh: run "$JAVA" in the background and wait for it.
    kc_sh = ["env", f"JAVA={env['JAVA']}", f"PATH={state / 'bin'}:{os.environ['PATH']}", "sh", "-c", '"$JAVA" & wait']
    spawn(kc_sh, state / "log", detached=False)
    time.sleep(300)  # the test kills this process long before
""")


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="no setpriv: the JVM cannot be given PR_SET_PDEATHSIG")
def test_a_killed_test_run_leaves_no_jvm(tmp_path: Path) -> None:
    fake_java = tmp_path / "bin" / "java"
    fake_java.parent.mkdir()
    fake_java.write_text(f"#!/bin/sh\necho $$ > {tmp_path / 'java.pid'}\nexec sleep 300\n")
    fake_java.chmod(0o755)
    env = {**os.environ, "KEYCLOAK_TEST_CACHE": str(tmp_path), "PYTHONPATH": str(REPO_ROOT)}
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(tmp_path)], env=env, cwd=REPO_ROOT)
    java_pid = None
    try:
        pid_file = tmp_path / "java.pid"
        java_pid = int(
            wait_for(
                lambda: pid_file.exists() and pid_file.read_text().strip(), timeout=60, what="the stand-in JVM to start"
            )
        )
        assert is_running(java_pid)
        driver.send_signal(signal.SIGKILL)  # as an OOM killer or a CI timeout would
        driver.wait(timeout=10)
        wait_for(lambda: not is_running(java_pid), timeout=30, what="the stand-in JVM to die with the test run")
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
        if java_pid is not None and is_running(java_pid):  # only when the test failed: leave nothing
            stop(java_pid)


def test_without_a_jdk_or_maven_the_real_keycloak_is_skipped_with_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    reason = keycloak.unavailable_reason()
    assert reason is not None and "java" in reason and "\n" not in reason


def test_a_failed_start_says_why_with_the_log_tail(tmp_path: Path) -> None:
    home = tmp_path / "keycloak"
    (home / "bin").mkdir(parents=True)
    kc_sh = home / "bin" / "kc.sh"
    kc_sh.write_text("#!/bin/sh\necho 'ERROR: Port already in use'\nexit 1\n")
    kc_sh.chmod(0o755)
    server = keycloak.Keycloak(home, tmp_path)
    with pytest.raises(keycloak.KeycloakFailed, match=r"(?s)exited with 1 while starting.*Port already in use"):
        server.start()
    server.stop()
    assert server.pid is None
