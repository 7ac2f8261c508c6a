"""WallarooConnection: one Wallaroo endpoint and its credentials, shared by many jobs."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, ConfigDict, Field

from wallaroo_operator.models.base import KubeModel
from wallaroo_operator.models.conditions import Condition
from wallaroo_operator.models.refs import DNS_SUBDOMAIN, KeyReference

HOST_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
MAX_URL_LENGTH = 2048

# A URL is checked twice with the same rules and messages: by the API server (CEL, so `kubectl apply`
# refuses it) and by the model (objects stored before the rules existed). The API server quotes the
# value of a string that misses its `pattern` or a CEL rule ("Invalid value: ..."), and the value may
# hold a password: so CEL rules with reason FieldValueForbidden, whose errors carry no value.
# '@' is refused anywhere: user info in a URL would be shown in status, events and logs.
_URL_CHECKS: list[tuple[str, Callable[[str], bool], str]] = [  # (CEL rule, Python check, message)
    (
        "!self.contains('@')",
        lambda url: "@" not in url,
        "must not contain '@': user info (user:password@) does not belong in a URL, credentials go in the Secret",
    ),
    ("!self.contains('?')", lambda url: "?" not in url, "must not have a query (?...)"),
    ("!self.contains('#')", lambda url: "#" not in url, "must not have a fragment (#...)"),
]
_HTTP_URL = (r"^https?://[^/\s]+(/\S*)?$", "must be an http:// or https:// URL")
_ORIGIN = (r"^https?://[^/\s]+/?$", "must be an origin, scheme://host[:port], with no path")


def _url_validations(shape: tuple[str, str]) -> dict[str, Any]:
    cel_regex = shape[0].replace("\\", "\\\\")  # a CEL string literal escapes its backslashes
    checks = [(rule, message) for rule, _, message in _URL_CHECKS] + [(f"self.matches('{cel_regex}')", shape[1])]
    return {
        "x-kubernetes-validations": [
            {"rule": rule, "message": message, "reason": "FieldValueForbidden"} for rule, message in checks
        ]
    }


def _url_validator(shape: tuple[str, str]) -> AfterValidator:
    def check(url: str) -> str:
        # The messages never quote the value (it may hold a password).
        for _, ok, message in _URL_CHECKS:
            if not ok(url):
                raise ValueError(message)
        if not re.match(shape[0], url):
            raise ValueError(shape[1])
        try:
            urlsplit(url).port  # noqa: B018 - raises for a port that is not a number in 0-65535
        except ValueError:
            raise ValueError("has an invalid port") from None
        return url

    return AfterValidator(check)


HttpUrl = Annotated[
    str, Field(max_length=MAX_URL_LENGTH, json_schema_extra=_url_validations(_HTTP_URL)), _url_validator(_HTTP_URL)
]
Origin = Annotated[
    str, Field(max_length=MAX_URL_LENGTH, json_schema_extra=_url_validations(_ORIGIN)), _url_validator(_ORIGIN)
]


class CredentialsSecretRef(KubeModel):
    """The Secret with the credentials, under fixed keys: clientSecret (the OAuth client secret), and for the
    password grant username and password. The Secret must consent to this connection using it: its annotation
    wallaroo.inferops.dev/allowed-connections lists the connection's name (comma-separated names, or *)."""

    name: str = Field(
        description="Name of the Secret in the connection's namespace.",
        min_length=1,
        max_length=253,
        pattern=DNS_SUBDOMAIN,
    )


class CABundle(KubeModel):
    """A PEM CA bundle that signs the Wallaroo server's certificate: from a Secret or a ConfigMap key."""

    secret_ref: KeyReference | None = Field(default=None, description="A Secret key holding the PEM bundle.")
    config_map_ref: KeyReference | None = Field(default=None, description="A ConfigMap key holding the PEM bundle.")

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.secretRef) != has(self.configMapRef)",
                    "message": "give exactly one of secretRef and configMapRef",
                }
            ]
        }
    )


class WallarooConnectionSpec(KubeModel):
    """Where Wallaroo is and how to log in. Give either urlPrefix and urlSuffix (the tutorial's
    https://{prefix}.api.{suffix} hosts) or apiUrl (tokenUrl then defaults to the same host)."""

    url_prefix: str | None = Field(
        default=None, pattern=HOST_LABEL, description="Instance prefix, e.g. sparkly-apple-3026 (with urlSuffix)."
    )
    url_suffix: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description="Instance suffix, e.g. wallaroo.community (with urlPrefix).",
    )
    api_url: HttpUrl | None = Field(
        default=None,
        description="MLOps API base URL ending in /v1/api, e.g. "
        "https://wallaroo.example.com/v1/api. No user info, query or fragment.",
    )
    token_url: HttpUrl | None = Field(
        default=None,
        description="Keycloak token endpoint; defaults to the API host's "
        "/auth/realms/master/protocol/openid-connect/token.",
    )
    inference_hosts: list[Origin] | None = Field(
        default=None,
        max_length=16,
        description="Origins (scheme://host[:port]) besides the API's own that may receive the token for "
        "inference, e.g. [https://inference.example.com]. A pipeline's external URL on any other "
        "origin fails with UntrustedInferenceHost before anything is sent.",
    )
    client_id: str = Field(default="api-client", min_length=1, description="Confidential OAuth client id.")
    grant: Literal["password", "client_credentials"] = Field(
        default="password",
        description="OAuth grant: password (user token, needed for the MLOps API) or client_credentials.",
    )
    credentials_secret_ref: CredentialsSecretRef = Field(description="Secret with the credentials.")
    ca_bundle: CABundle | None = Field(default=None, description="Custom CA bundle for TLS verification.")
    insecure_skip_tls_verify: bool = Field(
        default=False, alias="insecureSkipTLSVerify", description="Disable TLS verification. Never in production."
    )
    request_timeout_seconds: float = Field(
        default=60, gt=0, le=3600, description="Timeout of MLOps API and token requests."
    )

    model_config = ConfigDict(
        hide_input_in_errors=True,
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.urlPrefix) == has(self.urlSuffix)",
                    "message": "urlPrefix and urlSuffix go together",
                },
                {
                    "rule": "has(self.apiUrl) != has(self.urlPrefix)",
                    "message": "give either apiUrl or urlPrefix and urlSuffix, not both and not neither",
                },
                {
                    "rule": "!has(self.tokenUrl) || has(self.apiUrl)",
                    "message": "tokenUrl needs apiUrl (with urlPrefix/urlSuffix the token URL is derived)",
                },
            ]
        },
    )


class WallarooConnectionStatus(KubeModel):
    observed_generation: int | None = Field(default=None, description="The generation last checked.")
    conditions: list[Condition] | None = Field(default=None, description="Ready: whether it can authenticate.")
    api_url: str | None = Field(default=None, description="The resolved MLOps API URL.")
    token_url: str | None = Field(default=None, description="The resolved token endpoint.")
    last_authenticated_time: str | None = Field(default=None, description="When a login last succeeded.")
