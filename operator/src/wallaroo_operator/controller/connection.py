"""Turn a WallarooConnection object and its Secret into a ready-to-use Wallaroo session."""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

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

    @property
    def tokens(self) -> TokenProvider:
        """Shared by every job using the same endpoint and credentials."""
        return token_cache.provider_for(self.token_url, self.credentials, self.verify,
                                        timeout=(5.0, self.timeout))

    def api(self) -> WallarooApi:
        return WallarooApi(self.api_url, self.tokens, _shared_session(), verify=self.verify,
                           timeout=(5.0, self.timeout))

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
    api_url = spec.api_url.rstrip("/")
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


def resolve_connection(namespace: str, connection: dict) -> ResolvedConnection:
    """Raises MissingReference while the Secret (or a key, or the CA bundle) is not there yet, or
    while the Secret does not allow this connection to use it."""
    name = connection["metadata"]["name"]
    spec = WallarooConnectionSpec.model_validate(connection.get("spec") or {})
    api_url, token_url = endpoint_urls(spec)
    values = references.read_credentials(namespace, spec.credentials_secret_ref, spec.grant, name)
    credentials = Credentials(client_id=spec.client_id, client_secret=values["client_secret"], grant=spec.grant,
                              username=values.get("username"), password=values.get("password"))
    verify: Verify = True
    if spec.insecure_skip_tls_verify:
        verify = False
    elif spec.ca_bundle:
        verify = _ca_file(references.read_ca_bundle(namespace, spec.ca_bundle, name))
    return ResolvedConnection(api_url, token_url, credentials, verify, spec.request_timeout_seconds,
                              tuple(spec.inference_hosts or ()))
