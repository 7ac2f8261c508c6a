"""A typed, synchronous client for Wallaroo: Keycloak tokens, the MLOps API and pipeline inference.

Knows nothing of Kubernetes. Typical run (the seed tutorial's flow)::

    tokens = token_cache.provider_for(token_url, Credentials(...), verify)
    api = WallarooApi(api_url, tokens, verify=verify)
    resolver = ExternalUrlResolver(api, api.workspace_id("urldemoworkspace"), "urldemopipeline")
    outcome = run_inference(resolver, rows, input_name="text_input", tokens=tokens, verify=verify)
"""

from .api import (
    ExternalUrlResolver,
    WallarooApi,
    Workspace,
    deployment_name_from_url,
    select_workspace,
)
from .auth import (
    Credentials,
    Grant,
    TokenCache,
    TokenProvider,
    TokenStats,
    refresh_margin,
    token_cache,
)
from .endpoints import connection_urls, token_url_for
from .errors import (
    AccountDisabled,
    AccountNotSetUp,
    AmbiguousWorkspace,
    AuthenticationFailed,
    ClientNotAllowed,
    InferenceCancelled,
    InvalidClientCredentials,
    InvalidConnection,
    InvalidCredentials,
    InvalidInput,
    PipelineNotDeployed,
    PipelineNotFound,
    RequestRejected,
    RetryBudgetExhausted,
    ServerError,
    TLSVerificationFailed,
    UnexpectedResponse,
    Unreachable,
    WallarooError,
    WorkspaceNotFound,
    sanitize,
)
from .formats import REQUEST_FORMATS, RequestFormat, RowOutputs
from .http import API_TIMEOUT, INFERENCE_TIMEOUT, TOKEN_TIMEOUT, Timeout, Verify, new_session
from .inference import (
    BatchProgress,
    InferenceOutcome,
    OutputSummary,
    UrlResolver,
    summarize,
)
from .retry import RetryPolicy, parse_retry_after
from .stream import run_inference

__all__ = [
    "API_TIMEOUT",
    "INFERENCE_TIMEOUT",
    "REQUEST_FORMATS",
    "TOKEN_TIMEOUT",
    "AccountDisabled",
    "AccountNotSetUp",
    "AmbiguousWorkspace",
    "AuthenticationFailed",
    "BatchProgress",
    "ClientNotAllowed",
    "Credentials",
    "ExternalUrlResolver",
    "Grant",
    "InferenceCancelled",
    "InferenceOutcome",
    "InvalidClientCredentials",
    "InvalidConnection",
    "InvalidCredentials",
    "InvalidInput",
    "OutputSummary",
    "PipelineNotDeployed",
    "PipelineNotFound",
    "RequestFormat",
    "RequestRejected",
    "RetryBudgetExhausted",
    "RetryPolicy",
    "RowOutputs",
    "ServerError",
    "TLSVerificationFailed",
    "Timeout",
    "TokenCache",
    "TokenProvider",
    "TokenStats",
    "UnexpectedResponse",
    "Unreachable",
    "UrlResolver",
    "Verify",
    "WallarooApi",
    "WallarooError",
    "Workspace",
    "WorkspaceNotFound",
    "connection_urls",
    "deployment_name_from_url",
    "new_session",
    "parse_retry_after",
    "refresh_margin",
    "run_inference",
    "sanitize",
    "select_workspace",
    "summarize",
    "token_cache",
    "token_url_for",
]
