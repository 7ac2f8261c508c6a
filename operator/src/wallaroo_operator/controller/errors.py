"""How a failed run is classified: wait for a missing object, retry later, or fail."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from enum import Enum

import kubernetes
import pydantic
import urllib3

from wallaroo_operator.data.inputs import InputError
from wallaroo_operator.data.results import ResultsTooLarge
from wallaroo_operator.kube.references import InvalidReference, MissingReference
from wallaroo_operator.kube.results_store import ResultsConflict
from wallaroo_operator.objectstore import ObjectStoreError
from wallaroo_operator.schedule import InvalidSchedule
from wallaroo_operator.wallaroo import WallarooError


class Disposition(Enum):
    WAIT = "wait"  # something referenced is missing: keep retrying until it appears
    RETRY = "retry"  # transient: retry the run, up to spec.backoffLimit
    FAIL = "fail"  # retrying cannot help until the user changes something


@dataclass(frozen=True)
class RunError:
    reason: str
    message: str
    disposition: Disposition


def classify(error: BaseException) -> RunError:
    """Map any exception of a run to a condition reason and message, safe to show a user."""
    reported = getattr(error, "run_error", None)
    if isinstance(reported, RunError):  # a worker's report (executors.base.WorkerFailure)
        return reported
    if isinstance(error, MissingReference):
        return RunError(error.reason, str(error), Disposition.WAIT)
    if isinstance(error, (InvalidReference, ResultsConflict)):
        return RunError(error.reason, str(error), Disposition.FAIL)
    if isinstance(error, (WallarooError, ObjectStoreError)):
        return RunError(error.reason, error.message, Disposition.RETRY if error.retryable else Disposition.FAIL)
    if isinstance(error, (InputError, ResultsTooLarge)):
        return RunError(getattr(error, "reason", "InvalidInput"), str(error), Disposition.FAIL)
    if isinstance(error, InvalidSchedule):
        return RunError("InvalidSchedule", str(error), Disposition.FAIL)
    if isinstance(error, pydantic.ValidationError):
        return RunError("InvalidSpec", _validation_message(error), Disposition.FAIL)
    return _unexpected(error)


@dataclass(frozen=True)
class Stage:
    module: str  # the operator's module (or package) the exception came out of
    reason: str
    doing: str  # what the run was doing, for the message
    disposition: Disposition


# Where a run can fail, deepest first in a traceback: the stage names the reason and the message.
STAGES = (
    Stage("wallaroo_operator.data.inputs", "InvalidInput", "decoding the input", Disposition.FAIL),
    Stage(
        "wallaroo_operator.kube.references",
        "ReferenceReadFailed",
        "reading the job's connection, Secret, CA bundle or input ConfigMaps",
        Disposition.RETRY,
    ),
    Stage(
        "wallaroo_operator.controller.connection",
        "ConnectionResolveFailed",
        "resolving the WallarooConnection",
        Disposition.RETRY,
    ),
    Stage("wallaroo_operator.wallaroo", "WallarooClientFailed", "talking to Wallaroo", Disposition.RETRY),
    Stage("wallaroo_operator.data.results", "ResultsWriteFailed", "packing the results", Disposition.RETRY),
    Stage(
        "wallaroo_operator.kube.results_store",
        "ResultsWriteFailed",
        "writing the results ConfigMaps",
        Disposition.RETRY,
    ),
    Stage("wallaroo_operator.kube.status", "StatusWriteFailed", "writing the job's status", Disposition.RETRY),
)


def stage_of(error: BaseException) -> Stage | None:
    """The stage whose module raised `error` (the deepest operator frame of its traceback)."""
    for frame, _ in reversed(list(traceback.walk_tb(error.__traceback__))):
        module = frame.f_globals.get("__name__", "")
        stage = next((s for s in STAGES if module == s.module or module.startswith(s.module + ".")), None)
        if stage:
            return stage
    return None


def _unexpected(error: BaseException) -> RunError:
    """An exception no module turned into an error of its own. Its text could carry anything (a
    token, a password), so only its type, the stage and, for the API server, the HTTP status are shown."""
    what = type(error).__name__
    transient = _transient_kubernetes(error)
    if isinstance(error, kubernetes.client.ApiException):
        what = f"Kubernetes API answered {error.status} {error.reason or ''}".rstrip()
    elif transient:
        what = f"Kubernetes API unreachable ({what})"
    stage = stage_of(error)
    if stage is None:
        return RunError("InternalError", f"unexpected {what}; the operator log has the traceback", Disposition.RETRY)
    disposition = Disposition.RETRY if transient else stage.disposition
    return RunError(stage.reason, f"{stage.doing}: unexpected {what}", disposition)


def _transient_kubernetes(error: BaseException) -> bool:
    if isinstance(error, kubernetes.client.ApiException):
        return error.status in (429, 500, 502, 503, 504)
    return isinstance(error, urllib3.exceptions.HTTPError)


def _validation_message(error: pydantic.ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()[:5])
