"""The Kubernetes API client the operator's own code uses (kopf has its own connection)."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

import kubernetes

from wallaroo_operator.settings import Settings

if TYPE_CHECKING:  # kopf is the operator's; the worker (a process of its own) starts faster without it
    import kopf

# (connect, read) seconds for every call: a half-open connection must not wedge a job's controller.
REQUEST_TIMEOUT = (5.0, 30.0)
T = TypeVar("T")

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
        kubernetes.config.load_kube_config(
            config_file=Settings.from_environment().kubeconfig, client_configuration=config
        )
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
    return kopf.ConnectionInfo(
        server=config.host,
        ca_path=config.ssl_ca_cert,
        insecure=not config.verify_ssl,
        certificate_path=config.cert_file,
        private_key_path=config.key_file,
        scheme=scheme or None,
        token=token or None,
    )


def core() -> kubernetes.client.CoreV1Api:
    return kubernetes.client.CoreV1Api(api_client())


def custom() -> kubernetes.client.CustomObjectsApi:
    return kubernetes.client.CustomObjectsApi(api_client())


def is_not_found(error: Exception) -> bool:
    return isinstance(error, kubernetes.client.ApiException) and error.status == 404


@functools.cache
def _io_pool() -> ThreadPoolExecutor:
    """The operator's own Kubernetes calls (status writes, reads, deletes) from the event loop: their own
    threads, so they never queue behind runs (their pool) or anything else on the loop's default pool."""
    return ThreadPoolExecutor(max_workers=8, thread_name_prefix="kube-io")


async def call(function: Callable[..., T], *args: object) -> T:
    """`function(*args)` (a blocking Kubernetes call) on the Kubernetes I/O threads."""
    return await asyncio.get_running_loop().run_in_executor(_io_pool(), function, *args)
