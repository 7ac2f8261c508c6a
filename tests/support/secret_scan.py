"""The suite-wide secret scan: everything the operator and its workers said during the whole test run
(every log record of every logger, each worker's stdout and stderr, every Event and every InferenceJob and
WallarooConnection status in each test namespace) is kept, and scanned at the end of the session for the
secrets the tests handed out (passwords and client secrets in credentials Secrets, the simulators' and
Keycloak's configured credentials), every token a simulator issued, and anything shaped like a secret (a JWT,
an `Authorization:` header, a bearer token, user info in a URL). A hit fails the run, naming where it was
found, with the secret itself masked.

tests/conftest.py wires it: `start()` when the session starts, `collect_namespace()` before a test's
namespace is deleted, `finish()` at the end. A test can use a SecretScan of its own (`capturing_logs`).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import logging
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SHORTEST_SECRET = 6  # shorter values (a test's "x") would be found everywhere, and guessed anyway
MAX_FINDINGS_SHOWN = 30

# Shapes of a secret, whatever its value.
PATTERNS = {
    "a JWT": re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"),
    "an Authorization header": re.compile(r"(?i)\bauthorization['\"]?\s*[:=]\s*['\"]?\s*\w+\s+[^\s'\"]{6,}"),
    "a bearer token": re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/-]{16,}=*"),
    "user info in a URL": re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s@'\"<>]+@[^\s/'\"<>]"),
}


@dataclass(frozen=True)
class Finding:
    what: str  # "client secret", "a JWT", ...
    where: str  # "log record of wallaroo_operator.x in tests/...::test_y", "Event in namespace t-...", ...
    excerpt: str  # the text around the hit, the secret masked

    def __str__(self) -> str:
        return f"{self.what} in {self.where}: ...{self.excerpt}..."


def mask(secret: str) -> str:
    """Enough to recognise which one it was, never enough to use it."""
    return f"{secret[:3]}…({len(secret)} chars)"


class SecretScan:
    """Texts said during the run, and the secrets to look for in them; scanned once, at the end."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._texts: dict[str, str] = {}  # text -> where it was first seen (repeats are kept once)
        self._secrets: dict[str, str] = {}  # value -> what it is
        self.current_test = "(outside any test)"

    def register(self, what: str, value: str | None) -> None:
        """A secret, looked for as it is and base64-encoded (as a Secret's data holds it)."""
        if value and len(value) >= SHORTEST_SECRET:
            encoded = base64.b64encode(value.encode()).decode()
            with self._lock:
                self._secrets.setdefault(value, what)
                self._secrets.setdefault(encoded, f"{what}, base64-encoded")

    def add(self, where: str, text: str) -> None:
        if text:
            with self._lock:
                self._texts.setdefault(text, f"{where} in {self.current_test}")

    def add_record(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a record whose arguments do not format: keep them as they are
            text = f"{record.msg!r} {record.args!r}"
        if record.exc_info and record.exc_info[1] is not None:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        if record.stack_info:
            text += "\n" + record.stack_info
        self.add(f"a log record of {record.name}", text)

    def summary(self) -> str:
        with self._lock:
            kinds: dict[str, int] = {}
            for where in self._texts.values():
                kind = where.split(" of ")[0].split(" on ")[0]
                kinds[kind] = kinds.get(kind, 0) + 1
            secrets = len(self._secrets)
        seen = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items())) or "nothing"
        return f"secret scan: {secrets} secrets and tokens looked for in {seen} (distinct texts)"

    def findings(self) -> list[Finding]:
        with self._lock:
            texts, secrets = dict(self._texts), dict(self._secrets)
        found: list[Finding] = []
        for text, where in texts.items():
            for value, what in secrets.items():
                if value in text:
                    found.append(Finding(what, where, _excerpt(text, text.index(value), len(value), secrets)))
            for what, pattern in PATTERNS.items():
                match = pattern.search(text)
                if match:
                    found.append(
                        Finding(what, where, _excerpt(text, match.start(), match.end() - match.start(), secrets))
                    )
        return found


def _excerpt(text: str, start: int, length: int, secrets: dict[str, str]) -> str:
    """The hit masked, with 60 characters around it, in which every other secret is masked too."""
    before = _hidden(text[max(0, start - 300) : start], secrets)[-60:]
    after = _hidden(text[start + length : start + length + 300], secrets)[:60]
    return (before + "\u27e8" + mask(text[start : start + length]) + "\u27e9" + after).replace("\n", " ")


def _hidden(text: str, secrets: dict[str, str]) -> str:
    for value in secrets:
        text = text.replace(value, mask(value))
    for pattern in PATTERNS.values():
        text = pattern.sub(lambda match: mask(match.group()), text)
    return text


@contextlib.contextmanager
def capturing_logs(scan: SecretScan) -> Iterator[None]:
    """Every log record made meanwhile, by any logger at any level it is enabled for (whether or not a
    handler shows it or it propagates), goes to `scan`: a log record factory sees them all."""
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        scan.add_record(record)
        return record

    logging.setLogRecordFactory(factory)
    try:
        yield
    finally:
        logging.setLogRecordFactory(previous)


def collect_namespace(kube: Any, namespace: str, scan: SecretScan) -> None:
    """What the operator wrote where users look (Events, the status of jobs and connections), and the
    credentials the test put into Secrets there (their values are what must not show anywhere)."""
    from wallaroo_operator import constants as c

    for event in kube.core.list_namespaced_event(namespace).items:
        involved = event.involved_object
        scan.add(f"an Event on {involved.kind} {namespace}/{involved.name}", f"{event.reason} {event.message}")
    for plural in (c.JOB_PLURAL, c.CONNECTION_PLURAL):
        for item in kube.custom.list_namespaced_custom_object(c.GROUP, c.VERSION, namespace, plural)["items"]:
            scan.add(
                f"the status of {plural} {namespace}/{item['metadata']['name']}",
                json.dumps(item.get("status") or {}, ensure_ascii=False),
            )
    for secret in kube.core.list_namespaced_secret(namespace).items:
        for key, value in (secret.data or {}).items():
            if key in (c.CLIENT_SECRET_KEY, c.PASSWORD_KEY):
                scan.register(
                    f"the {key} of Secret {namespace}/{secret.metadata.name}",
                    base64.b64decode(value).decode(errors="replace"),
                )


class ClusterWatch:
    """Every version of every InferenceJob's and WallarooConnection's status, and every Event, in all
    namespaces, as the API server sends them: statuses overwritten later, and namespaces a test deletes
    itself, are scanned too."""

    def __init__(self, kube: Any, scan: SecretScan) -> None:
        import kubernetes

        from wallaroo_operator import constants as c

        self._scan, self._stopped = scan, threading.Event()
        custom, core = kube.custom, kube.core
        self._streams: list[tuple[Any, Any]] = [
            (functools.partial(custom.list_cluster_custom_object, c.GROUP, c.VERSION, plural), self._status)
            for plural in (c.JOB_PLURAL, c.CONNECTION_PLURAL)
        ]
        self._streams.append((core.list_event_for_all_namespaces, self._event))
        self._watch = kubernetes.watch.Watch

    def start(self) -> ClusterWatch:
        for list_fn, record in self._streams:
            threading.Thread(target=self._follow, args=(list_fn, record), name="secret-scan watch", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopped.set()  # each thread ends at its next event or watch timeout (a few seconds)

    def _follow(self, list_fn: Any, record: Any) -> None:
        while not self._stopped.is_set():
            try:
                for event in self._watch().stream(list_fn, timeout_seconds=10):
                    if self._stopped.is_set():
                        return
                    record(event["object"])
            except Exception:  # the cluster went away, or a watch broke: start it again (or end)
                self._stopped.wait(1)

    def _status(self, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        self._scan.add(
            f"the status of {obj.get('kind')} {meta.get('namespace')}/{meta.get('name')}",
            json.dumps(obj.get("status") or {}, ensure_ascii=False),
        )

    def _event(self, event: Any) -> None:
        involved = event.involved_object
        self._scan.add(
            f"an Event on {involved.kind} {involved.namespace}/{involved.name}", f"{event.reason} {event.message}"
        )


def collect_worker_logs(directory: Path, scan: SecretScan) -> None:
    """The stdout and stderr of each worker the local executor ran (it copies them here)."""
    for path in sorted(directory.glob("*.log")):
        namespace, job, run, shard = path.name.split(".")[:4]
        scan.add(f"the log of worker {namespace}/{job} run {run} shard {shard}", path.read_text(errors="replace"))


def register_simulator(state: Any, scan: SecretScan) -> None:
    """A simulator's credentials and every token it issued (kept by its token issuer: the admin API's
    `GET /_sim/tokens/issued`)."""
    for user in state.config.users:
        scan.register(f"the password of simulator user {user.username}", user.password)
    for client in state.config.clients:
        scan.register(f"the secret of simulator client {client.client_id}", client.secret)
    for token in list(state.issuer.issued):
        scan.register("a token the simulator issued", token)


# ---- the session's scan ------------------------------------------------------------------------

SESSION = SecretScan()
_stack = contextlib.ExitStack()
_worker_log_dir: Path | None = None


def start(worker_log_dir: Path) -> None:
    """Capture every log record from now on; have every simulator hand over its secrets when it stops."""
    from wallaroo_simulator import config as simulator_config
    from wallaroo_simulator.server import SimulatorServer

    SESSION.register("the simulator's default password", simulator_config.DEFAULT_PASSWORD)
    SESSION.register("the simulator's default client secret", simulator_config.DEFAULT_CLIENT_SECRET)
    _stack.enter_context(capturing_logs(SESSION))
    original_stop = SimulatorServer.stop

    async def stop(server: SimulatorServer) -> None:
        register_simulator(server.state, SESSION)
        await original_stop(server)

    SimulatorServer.stop = stop  # type: ignore[method-assign]
    _stack.callback(setattr, SimulatorServer, "stop", original_stop)
    global _worker_log_dir
    _worker_log_dir = worker_log_dir


def finish() -> list[Finding]:
    _stack.close()
    if _worker_log_dir is not None:
        collect_worker_logs(_worker_log_dir, SESSION)
    return SESSION.findings()


def report(findings: list[Finding]) -> list[str]:
    if not findings:
        return [SESSION.summary() + ": none found"]
    lines = [f"SECRET SCAN: {len(findings)} secret(s) found where none may be (masked):"]
    lines += [f"  {finding}" for finding in findings[:MAX_FINDINGS_SHOWN]]
    if len(findings) > MAX_FINDINGS_SHOWN:
        lines.append(f"  ... and {len(findings) - MAX_FINDINGS_SHOWN} more")
    return lines
