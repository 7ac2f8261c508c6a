"""WallarooConnection status: can the operator log in with it?"""

from __future__ import annotations

from typing import Any

import kopf

from wallaroo_operator import constants as c
from wallaroo_operator.controller.connection import endpoint_urls, resolve_connection
from wallaroo_operator.controller.errors import Disposition, classify
from wallaroo_operator.kube.conditions import get_condition, set_condition
from wallaroo_operator.kube.status import patch_status
from wallaroo_operator.models.connection import WallarooConnectionSpec
from wallaroo_operator.rfc3339 import now_rfc3339

RECHECK_SECONDS = {Disposition.WAIT: 10.0, Disposition.RETRY: 30.0}


def check_connection(body: kopf.Body, retry: int) -> None:
    """Log in once; record the outcome in the Ready condition. A missing Secret or an unreachable
    server is checked again later (kopf TemporaryError); rejected credentials are not retried."""
    namespace, name = body.metadata["namespace"], body.metadata["name"]
    generation = body.metadata.get("generation")
    # Shown as the API column of `kubectl get`: cleared until the spec is known to be valid (an
    # object stored before the URL rules existed may hold a password in its apiUrl).
    status = {**(body.get("status") or {}), "apiUrl": None, "tokenUrl": None}
    try:
        api_url, token_url = endpoint_urls(WallarooConnectionSpec.model_validate(dict(body.spec)))
        status.update(apiUrl=api_url, tokenUrl=token_url)
        resolve_connection(namespace, dict(body)).tokens.token()
    except Exception as exc:
        error = classify(exc)
        previous = get_condition(status.get("conditions"), "Ready")
        if not previous or previous.get("reason") != error.reason:
            kopf.warn(body, reason=error.reason, message=error.message)
        _write(namespace, name, status, generation, False, error.reason, error.message)
        if error.disposition is Disposition.FAIL:
            # Retrying a wrong password could lock the Wallaroo account (brute-force detection):
            # stop until the connection changes (annotate it after fixing its Secret).
            raise kopf.PermanentError(f"{error.reason}: {error.message}") from None
        raise kopf.TemporaryError(
            f"{error.reason}: {error.message}", delay=RECHECK_SECONDS[error.disposition]
        ) from None
    previous = get_condition(status.get("conditions"), "Ready")
    if not previous or previous.get("status") != "True":
        kopf.info(body, reason="Authenticated", message=f"logged in at {token_url}")
    status["lastAuthenticatedTime"] = now_rfc3339()
    _write(namespace, name, status, generation, True, "Authenticated", f"logged in at {token_url}")


def _write(
    namespace: str, name: str, status: dict[str, Any], generation: int | None, ok: bool, reason: str, message: str
) -> None:
    status["conditions"] = set_condition(status.get("conditions"), "Ready", ok, reason, message, generation)
    status["observedGeneration"] = generation
    patch_status(c.CONNECTION_PLURAL, namespace, name, status)
