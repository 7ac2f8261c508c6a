"""WallarooConnection: one Wallaroo endpoint and its credentials, shared by many jobs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from wallaroo_operator.models.base import KubeModel
from wallaroo_operator.models.conditions import Condition
from wallaroo_operator.models.refs import DNS_SUBDOMAIN, KeyReference

HOST_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
HTTP_URL = r"^https?://[^\s/]+(/\S*)?$"


class CredentialsSecretRef(KubeModel):
    """The Secret holding the OAuth client secret, and the user's name and password for the password grant."""

    name: str = Field(description="Name of the Secret in the connection's namespace.", min_length=1,
                      max_length=253, pattern=DNS_SUBDOMAIN)
    client_secret_key: str = Field(default="clientSecret", description="Key holding the client secret.")
    username_key: str = Field(default="username", description="Key holding the Wallaroo user name (password grant).")
    password_key: str = Field(default="password", description="Key holding the Wallaroo password (password grant).")


class CABundle(KubeModel):
    """A PEM CA bundle that signs the Wallaroo server's certificate: from a Secret or a ConfigMap key."""

    secret_ref: KeyReference | None = Field(default=None, description="A Secret key holding the PEM bundle.")
    config_map_ref: KeyReference | None = Field(default=None, description="A ConfigMap key holding the PEM bundle.")

    model_config = {"json_schema_extra": {"x-kubernetes-validations": [
        {"rule": "has(self.secretRef) != has(self.configMapRef)",
         "message": "give exactly one of secretRef and configMapRef"}]}}


class WallarooConnectionSpec(KubeModel):
    """Where Wallaroo is and how to log in. Give either urlPrefix and urlSuffix (the tutorial's
    https://{prefix}.api.{suffix} hosts) or apiUrl (tokenUrl then defaults to the same host)."""

    url_prefix: str | None = Field(default=None, pattern=HOST_LABEL,
                                   description="Instance prefix, e.g. sparkly-apple-3026 (with urlSuffix).")
    url_suffix: str | None = Field(default=None, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
                                   description="Instance suffix, e.g. wallaroo.community (with urlPrefix).")
    api_url: str | None = Field(default=None, pattern=HTTP_URL,
                                description="MLOps API base URL ending in /v1/api, e.g. https://wallaroo.example.com/v1/api.")
    token_url: str | None = Field(default=None, pattern=HTTP_URL,
                                  description="Keycloak token endpoint; defaults to the API host's "
                                              "/auth/realms/master/protocol/openid-connect/token.")
    client_id: str = Field(default="api-client", min_length=1, description="Confidential OAuth client id.")
    grant: Literal["password", "client_credentials"] = Field(
        default="password", description="OAuth grant: password (user token, needed for the MLOps API) "
                                        "or client_credentials.")
    credentials_secret_ref: CredentialsSecretRef = Field(description="Secret with the credentials.")
    ca_bundle: CABundle | None = Field(default=None, description="Custom CA bundle for TLS verification.")
    insecure_skip_tls_verify: bool = Field(default=False, alias="insecureSkipTLSVerify",
                                           description="Disable TLS verification. Never in production.")
    request_timeout_seconds: float = Field(default=60, gt=0, le=3600,
                                           description="Timeout of MLOps API and token requests.")

    model_config = {"json_schema_extra": {"x-kubernetes-validations": [
        {"rule": "has(self.urlPrefix) == has(self.urlSuffix)",
         "message": "urlPrefix and urlSuffix go together"},
        {"rule": "has(self.apiUrl) != has(self.urlPrefix)",
         "message": "give either apiUrl or urlPrefix and urlSuffix, not both and not neither"},
        {"rule": "!has(self.tokenUrl) || has(self.apiUrl)",
         "message": "tokenUrl needs apiUrl (with urlPrefix/urlSuffix the token URL is derived)"},
    ]}}


class WallarooConnectionStatus(KubeModel):
    observed_generation: int | None = Field(default=None, description="The generation last checked.")
    conditions: list[Condition] | None = Field(default=None, description="Ready: whether it can authenticate.")
    api_url: str | None = Field(default=None, description="The resolved MLOps API URL.")
    token_url: str | None = Field(default=None, description="The resolved token endpoint.")
    last_authenticated_time: str | None = Field(default=None, description="When a login last succeeded.")
