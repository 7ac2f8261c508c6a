"""Turn a WallarooConnection object and its Secret into a ready-to-use Wallaroo session."""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from wallaroo_operator.kube import references
from wallaroo_operator.models.connection import WallarooConnectionSpec
from wallaroo_operator.wallaroo import (
    Credentials,
    ExternalUrlResolver,
    TokenProvider,
    Verify,
    WallarooApi,
    connection_urls,
    new_session,
    token_cache,
    token_url_for,
)

_ca_dir: Path | None = None


@dataclass(frozen=True)
class ResolvedConnection:
    api_url: str
    token_url: str
    credentials: Credentials
    verify: Verify
    timeout: float
    inference_hosts: tuple[str, ...] = ()  # origins besides the API's that may receive the token
    # Workspace name -> id, looked up once per resolution of the connection: the entry lives as long as the
    # connection cache keeps this object (its TTL; dropped when a run fails or the connection changes).
    _workspace_ids: dict[str, int] = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def tokens(self) -> TokenProvider:
        """Shared by every job using the same endpoint and credentials."""
        return token_cache.provider_for(self.token_url, self.credentials, self.verify, timeout=(5.0, self.timeout))

    def api(self) -> WallarooApi:
        return WallarooApi(
            self.api_url, self.tokens, _shared_session(), verify=self.verify, timeout=(5.0, self.timeout)
        )

    def workspace_id(self, name: str) -> int:
        """The tutorial's name-to-id lookup, once per connection resolution rather than once per run."""
        if name not in self._workspace_ids:
            self._workspace_ids[name] = self.api().workspace_id(name)
        return self._workspace_ids[name]

    def url_resolver(self, workspace_id: int, pipeline: str) -> ExternalUrlResolver:
        """The pipeline's external URL, handed out only on the API's origin or a listed inference host."""
        return ExternalUrlResolver(self.api(), workspace_id, pipeline, inference_origins=self.inference_hosts)


@functools.cache
def _shared_session() -> requests.Session:
    """One connection pool for every MLOps API call, instead of a new session per run."""
    return new_session(pool_size=32)


def endpoint_urls(spec: WallarooConnectionSpec) -> tuple[str, str]:
    """(api_url, token_url) from either the tutorial's prefix/suffix or explicit URLs."""
    if spec.url_prefix and spec.url_suffix:
        return connection_urls(spec.url_prefix, spec.url_suffix)
    api_url = (spec.api_url or "").rstrip("/")  # the model requires apiUrl without the prefix and suffix
    return api_url, spec.token_url or token_url_for(api_url)


def _ca_file(pem: str) -> str:
    """requests wants a file path; one file per distinct bundle, written once into a private
    directory of this process (a shared fixed path could belong to another user)."""
    global _ca_dir
    if _ca_dir is None:
        _ca_dir = Path(tempfile.mkdtemp(prefix="wallaroo-operator-ca-"))
    path = _ca_dir / f"{hashlib.sha256(pem.encode()).hexdigest()[:16]}.pem"
    if not path.exists():
        # Written aside and renamed in, so a concurrent reader never sees half a bundle.
        scratch = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        scratch.write_text(pem)
        os.replace(scratch, path)
    return str(path)


def resolve_connection(namespace: str, connection: dict[str, Any]) -> ResolvedConnection:
    """Raises MissingReference while the Secret (or a key, or the CA bundle) is not there yet, or
    while the Secret does not allow this connection to use it."""
    name = connection["metadata"]["name"]
    spec = WallarooConnectionSpec.model_validate(connection.get("spec") or {})
    api_url, token_url = endpoint_urls(spec)
    values = references.read_credentials(namespace, spec.credentials_secret_ref, spec.grant, name)
    credentials = Credentials(
        client_id=spec.client_id,
        client_secret=values["client_secret"],
        grant=spec.grant,
        username=values.get("username"),
        password=values.get("password"),
    )
    verify: Verify = True
    if spec.insecure_skip_tls_verify:
        verify = False
    elif spec.ca_bundle:
        verify = _ca_file(references.read_ca_bundle(namespace, spec.ca_bundle, name))
    return ResolvedConnection(
        api_url, token_url, credentials, verify, spec.request_timeout_seconds, tuple(spec.inference_hosts or ())
    )


class ConnectionCache:
    """Resolved connections (the WallarooConnection, its Secret and CA bundle), reused by the runs of
    every job for `ttl_seconds` instead of read again for each run. A watch event of the connection drops
    its entry at once (handlers.py); a Secret changed in place is seen after the TTL, and a run that fails
    drops the entry, so its retry reads everything again. Only what resolved is kept: a missing Secret is
    looked for again at every attempt."""

    def __init__(self, ttl_seconds: float = 30.0) -> None:
        self.ttl_seconds = ttl_seconds
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], tuple[float, dict[str, Any], ResolvedConnection]] = {}

    def get(self, namespace: str, name: str) -> tuple[dict[str, Any], ResolvedConnection]:
        """(the WallarooConnection object, the connection resolved from it and its Secret)."""
        key = (namespace, name)
        with self._lock:
            entry = self._entries.get(key)
        if entry and time.monotonic() - entry[0] < self.ttl_seconds:
            return entry[1], entry[2]
        connection_object = references.read_connection(namespace, name)
        resolved = resolve_connection(namespace, connection_object)
        with self._lock:
            self._entries[key] = (time.monotonic(), connection_object, resolved)
        return connection_object, resolved

    def forget(self, namespace: str, name: str) -> None:
        with self._lock:
            self._entries.pop((namespace, name), None)


CONNECTIONS = ConnectionCache()
