"""The Kubernetes API client the operator's own code uses (kopf has its own connection)."""

from __future__ import annotations

import functools
import logging
import os
from typing import TYPE_CHECKING

import kubernetes

if TYPE_CHECKING:  # kopf is the operator's; the worker (a process of its own) starts faster without it
    import kopf

# (connect, read) seconds for every call: a half-open connection must not wedge a job's controller.
REQUEST_TIMEOUT = (5.0, 30.0)

# The client logs every response body at DEBUG: Secrets' data, ServiceAccount tokens. Never below INFO,
# even when the operator runs with --verbose (which sets the root logger to DEBUG).
logging.getLogger("kubernetes.client.rest").setLevel(logging.INFO)


@functools.cache
def configuration() -> kubernetes.client.Configuration:
    """In-cluster credentials when running in a Pod, else KUBECONFIG (read now, not at import)."""
    config = kubernetes.client.Configuration()
    try:
        kubernetes.config.load_incluster_config(client_configuration=config)
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config(config_file=os.environ.get("KUBECONFIG"), client_configuration=config)
    # Many jobs run at once; the default pool of 4 connections would serialise them.
    config.connection_pool_maxsize = 32
    return config


@functools.cache
def api_client() -> kubernetes.client.ApiClient:
    return kubernetes.client.ApiClient(configuration())


def kopf_connection_info() -> kopf.ConnectionInfo:
    """The same credentials for kopf's own watches, so both always talk to the same cluster."""
    import kopf

    config = configuration()
    header = config.get_api_key_with_prefix("BearerToken") or config.get_api_key_with_prefix("authorization")
    scheme, _, token = (header or "").rpartition(" ")
    return kopf.ConnectionInfo(server=config.host, ca_path=config.ssl_ca_cert, insecure=not config.verify_ssl,
                               certificate_path=config.cert_file, private_key_path=config.key_file,
                               scheme=scheme or None, token=token or None)


def core() -> kubernetes.client.CoreV1Api:
    return kubernetes.client.CoreV1Api(api_client())


def custom() -> kubernetes.client.CustomObjectsApi:
    return kubernetes.client.CustomObjectsApi(api_client())


def is_not_found(error: Exception) -> bool:
    return isinstance(error, kubernetes.client.ApiException) and error.status == 404
