"""A read-only, seekable file over one object version, read by HTTP ranges: what pyarrow needs to read a
Parquet footer and single row groups, or an Arrow IPC file batch by batch, without downloading the object."""

from __future__ import annotations

import io

from wallaroo_operator.objectstore.client import ObjectInfo, ObjectStore

MIN_READ_BYTES = 64 * 1024  # small reads (footers, page headers) are served from one larger range


class RangeFile(io.RawIOBase):
    def __init__(self, store: ObjectStore, obj: ObjectInfo) -> None:
        self._store, self._obj = store, obj
        self._position = 0
        self._buffer_start, self._buffer = 0, b""
        self.range_requests = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._obj.size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def size(self) -> int:
        return self._obj.size

    def readinto(self, target) -> int:  # type: ignore[no-untyped-def]
        data = self.read(len(target))
        target[: len(data)] = data
        return len(data)

    def read(self, size: int = -1) -> bytes:
        end = self._obj.size if size is None or size < 0 else min(self._obj.size, self._position + size)
        if end <= self._position:
            return b""
        start = self._position
        buffered_end = self._buffer_start + len(self._buffer)
        if not (self._buffer_start <= start and end <= buffered_end):
            fetch_end = min(self._obj.size, max(end, start + MIN_READ_BYTES))
            self._buffer = self._store.read_range(self._obj, start, fetch_end)
            self._buffer_start = start
            self.range_requests += 1
        data = self._buffer[start - self._buffer_start : end - self._buffer_start]
        self._position = end
        return data
