"""The CRD models (pydantic): the single source of truth for the CRDs in crds/."""

from wallaroo_operator.models.conditions import Condition
from wallaroo_operator.models.connection import WallarooConnectionSpec, WallarooConnectionStatus
from wallaroo_operator.models.job import InferenceJobSpec, InferenceJobStatus, RunRecord

__all__ = [
    "Condition",
    "InferenceJobSpec",
    "InferenceJobStatus",
    "RunRecord",
    "WallarooConnectionSpec",
    "WallarooConnectionStatus",
]
