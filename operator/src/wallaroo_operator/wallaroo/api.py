"""The MLOps API calls the run needs: workspaces, external inference URLs, deployment status."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import requests

from . import http
from .auth import TokenProvider, post_with_token
from .errors import (
    AmbiguousWorkspace,
    AuthenticationFailed,
    PipelineNotDeployed,
    PipelineNotFound,
    RequestRejected,
    ServerError,
    UnexpectedResponse,
    WallarooError,
    WorkspaceNotFound,
)


@dataclass(frozen=True)
class Workspace:
    id: int
    name: str
    archived: bool = False
    created_by: str = ""
    pipelines: tuple[int, ...] = ()

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> Workspace:
        try:
            return cls(
                id=int(item["id"]),
                name=str(item["name"]),
                archived=bool(item.get("archived", False)),
                created_by=str(item.get("created_by") or ""),
                pipelines=tuple(int(p) for p in item.get("pipelines") or ()),
            )
        except (KeyError, TypeError, ValueError, OverflowError):  # Overflow: an id of Infinity
            raise UnexpectedResponse("workspaces/list returned a malformed workspace") from None


def select_workspace(workspaces: Sequence[Workspace], name: str, principal: str) -> int:
    """The id of the one workspace named exactly ``name``."""
    ids = [w.id for w in workspaces if w.name == name]
    if not ids:
        raise WorkspaceNotFound(name, len(workspaces), principal)
    if len(ids) > 1:
        raise AmbiguousWorkspace(name, sorted(ids))
    return ids[0]


def deployment_name_from_url(url: str) -> str:
    """``urldemopipeline-5`` from ``…/pipelines/infer/urldemopipeline-5[/urldemopipeline]``."""
    segments = [unquote(s) for s in urlsplit(url).path.split("/") if s]
    try:
        return segments[segments.index("infer") + 1]
    except (ValueError, IndexError):
        raise UnexpectedResponse(f"not an inference URL: {url!r}") from None


def api_error(status: int, description: str, what: str) -> WallarooError:
    """The error for a failed MLOps API call (after the one 401 re-login)."""
    message = f"{what}: {description}"
    if status == 401:
        return AuthenticationFailed(f"{message}; the API refused a fresh token", status=status)
    if status >= 500 or status == 429:
        return ServerError(message, status=status)
    return RequestRejected(message, status=status)


class WallarooApi:
    """Wallaroo's MLOps API (``…/v1/api``), authenticated with a shared token provider."""

    def __init__(
        self,
        api_url: str,
        tokens: TokenProvider,
        session: requests.Session | None = None,
        *,
        verify: http.Verify = True,
        timeout: http.Timeout = http.API_TIMEOUT,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.tokens = tokens
        self._session = session or requests.Session()
        self._verify = verify
        self._timeout = timeout

    def list_workspaces(self) -> list[Workspace]:
        body = self._post("/workspaces/list", {}, "listing workspaces")
        items = body.get("workspaces") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise UnexpectedResponse("workspaces/list answered without a workspaces list")
        return [Workspace.from_api(item) for item in items]

    def workspace_id(self, name: str) -> int:
        return select_workspace(self.list_workspaces(), name, self.tokens.principal)

    def external_url(self, workspace_id: int, pipeline: str) -> str:
        what = f"getting the external URL of pipeline {pipeline!r} in workspace {workspace_id}"
        body = {"workspace_id": workspace_id, "pipeline_name": pipeline}
        try:
            answer = self._post("/admin/get_pipeline_external_url", body, what)
        except RequestRejected as exc:
            raise _pipeline_lookup_error(exc) from None
        url = answer.get("url") if isinstance(answer, dict) else None
        if not isinstance(url, str) or not url:
            raise UnexpectedResponse(f"{what}: the answer has no url")
        return url

    def _post(self, path: str, body: dict[str, Any], what: str) -> Any:
        answer = post_with_token(
            self.tokens,
            self._session,
            f"{self.api_url}{path}",
            what=what,
            json=body,
            verify=self._verify,
            timeout=self._timeout,
        )
        return self._json_or_raise(answer.response, what)

    def _json_or_raise(self, response: requests.Response, what: str) -> Any:
        if not 200 <= response.status_code < 300:
            description = http.describe_response(response, self.tokens.secret_values())
            raise api_error(response.status_code, description, what)
        try:
            return http.decode_json(response.content)
        except ValueError:
            raise UnexpectedResponse(f"{what}: the API answered non-JSON") from None


def _pipeline_lookup_error(exc: RequestRejected) -> WallarooError:
    """Name the API's not-found answer (unknown pipeline or workspace id) as such.

    What the API answers for an undeployed pipeline was never observed; if its
    message speaks of deployment, say so rather than "not found".
    """
    text = exc.message.lower()
    if "not deployed" in text:
        return PipelineNotDeployed(exc.message, status=exc.status)
    if exc.status == 404 or "not found" in text:
        return PipelineNotFound(exc.message, status=exc.status)
    return exc


class ExternalUrlResolver:
    """A pipeline's external inference URL, looked up once and re-resolved on demand.

    Callable as ``resolver(force=False)``: the ``url_resolver`` of :func:`run_inference`.
    The token goes wherever the URL points, so a URL is only handed out when its origin is the
    API's own or one of ``inference_origins``; any other raises :class:`UntrustedInferenceHost`.
    """

    def __init__(
        self, api: WallarooApi, workspace_id: int, pipeline: str, *, inference_origins: Iterable[str] = ()
    ) -> None:
        self._api = api
        self._workspace_id = workspace_id
        self._pipeline = pipeline
        self.trusted_origins = frozenset({http.origin_of(api.api_url), *map(http.origin_of, inference_origins)})
        self._lock = threading.Lock()
        self._url: str | None = None

    def __call__(self, force: bool = False) -> str:
        with self._lock:
            if self._url is None or force:
                url = self._api.external_url(self._workspace_id, self._pipeline)
                http.require_trusted_origin(url, self.trusted_origins, f"pipeline {self._pipeline!r}")
                self._url = url
            return self._url
