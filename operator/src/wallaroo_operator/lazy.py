"""Modules imported when first used. pyarrow and boto3 take about 55 MiB of memory between them and are
needed only by runs that use Arrow, Parquet or an object store: imported at start, they sat in the
operator (and in every local worker forked from it) for all the runs that use none of these."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands for a module until an attribute is read; then imports it (once: Python caches modules)."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        module: ModuleType = importlib.import_module(self._name)
        try:
            return getattr(module, attribute)
        except AttributeError:  # a submodule its package does not import itself (botocore.config)
            return importlib.import_module(f"{self._name}.{attribute}")

    def __repr__(self) -> str:
        return f"<module {self._name!r}, imported when first used>"
