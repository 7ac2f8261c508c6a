"""Limits that keep the worker inside its memory limit: it fails with a clear reason, never OOM-killed."""

from __future__ import annotations

import os
from dataclasses import dataclass

from wallaroo_operator.data.inputs import MAX_DECOMPRESSED_BYTES, InputError
from wallaroo_operator.data.streaming import StreamLimits
from wallaroo_operator.worker.manifest import MEMORY_LIMIT_ENV

MiB = 2**20
DEFAULT_MEMORY_BYTES = 256 * MiB
# Measured (docs/execution.md): in a worker Pod the interpreter with its libraries (the Kubernetes client,
# pyarrow) peaks at about 122 MiB while importing, counted by the container's cgroup, before any batch is held...
BASELINE_BYTES = 128 * MiB
# ...and each value of a row held in flight adds about this much: the row as Python objects, the request
# body, the response and the parsed outputs (fitted to the peaks measured up to batchSize 5000 x 8).
BYTES_PER_VALUE_IN_FLIGHT = 75
HEADROOM = 0.8  # of what the limit leaves after the baseline: the estimate must never meet the OOM killer
# An output value held for an object-store part: the float in a list (32 bytes), its share of the row's dict,
# and its encoded text or column while the part is written (a generous round figure, not a fit).
BYTES_PER_RESULT_VALUE = 120


@dataclass(frozen=True)
class WorkerLimits:
    memory_bytes: int

    @property
    def stream(self) -> StreamLimits:
        # Streaming holds no document, so the decompressed size only bounds the time a gzip bomb costs;
        # one row is held whole, so it gets a slice of the memory.
        return StreamLimits(
            max_decompressed_bytes=min(MAX_DECOMPRESSED_BYTES, 2 * self.memory_bytes),
            max_row_bytes=max(64 * 1024, self.memory_bytes // 64),
        )

    def check_in_flight(self, batch_size: int, parallelism: int, width: int) -> None:
        """At most 2 x parallelism batches are held at once (sent, or waiting for an earlier one)."""
        needed = 2 * parallelism * batch_size * width * BYTES_PER_VALUE_IN_FLIGHT
        available = int(max(0, self.memory_bytes - BASELINE_BYTES) * HEADROOM)
        if needed > available:
            raise InputError(
                "InsufficientWorkerMemory",
                f"batchSize {batch_size} x parallelism {parallelism} rows of {width} values need about "
                f"{needed // MiB + 1} MiB in flight, more than this worker's memory limit of "
                f"{self.memory_bytes // MiB} MiB allows; lower inference.batchSize or inference.parallelism, "
                "or raise execution.resources.limits.memory",
            )

    @property
    def max_part_values(self) -> int:
        """Output values an object-store part may hold before it is written: a quarter of the memory, so
        a large results.objectStore.rowsPerPart writes smaller parts instead of meeting the OOM killer."""
        return max(10_000, self.memory_bytes // 4 // BYTES_PER_RESULT_VALUE)


def limits_from_environment() -> WorkerLimits:
    return WorkerLimits(int(os.environ.get(MEMORY_LIMIT_ENV) or DEFAULT_MEMORY_BYTES))
