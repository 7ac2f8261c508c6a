"""How a failed run is classified: wait for a missing object, retry later, or fail."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import pydantic

from wallaroo_operator.data.inputs import InputError
from wallaroo_operator.data.results import ResultsTooLarge
from wallaroo_operator.kube.references import MissingReference
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
    if isinstance(getattr(error, "run_error", None), RunError):  # a worker's report (executors.base.WorkerFailure)
        return error.run_error
    if isinstance(error, MissingReference):
        return RunError(error.reason, str(error), Disposition.WAIT)
    if isinstance(error, WallarooError):
        return RunError(error.reason, error.message, Disposition.RETRY if error.retryable else Disposition.FAIL)
    if isinstance(error, (InputError, ResultsTooLarge)):
        return RunError(getattr(error, "reason", "InvalidInput"), str(error), Disposition.FAIL)
    if isinstance(error, InvalidSchedule):
        return RunError("InvalidSchedule", str(error), Disposition.FAIL)
    if isinstance(error, pydantic.ValidationError):
        return RunError("InvalidSpec", _validation_message(error), Disposition.FAIL)
    # Unknown failure (an API server hiccup, a bug): retry, and say only the type, since an arbitrary
    # exception text could carry anything.
    return RunError("InternalError", f"unexpected {type(error).__name__}; see the operator log",
                    Disposition.RETRY)


def _validation_message(error: pydantic.ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()[:5])
