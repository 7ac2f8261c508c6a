"""A small TCP forwarder: pods on the node's bridge reach a service that listens on host loopback.

Pods see the host only at the bridge's gateway address (no masquerade, no default route), while the
API server, the Wallaroo simulator and other test services listen on 127.0.0.1. A forwarder listens
on the gateway address and relays each connection to the loopback port, byte for byte (TLS passes
through untouched, so certificates keep naming the service, not the forwarder).

Run as a process (``python -m localcluster.forward LISTEN TARGET [MARKER]``: the node's forwarder to
the API server, which outlives the caller under ``make cluster-up``), or in a thread with ``forwarding``.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from collections.abc import Iterator


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            writer.close()


async def _start(listen: str, target: str) -> asyncio.Server:
    target_host, target_port = _split(target)

    async def relay(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(target_host, target_port)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(_pipe(client_reader, upstream_writer), _pipe(upstream_reader, client_writer))

    host, port = _split(listen)
    return await asyncio.start_server(relay, host, port, reuse_address=True)


@contextlib.contextmanager
def forwarding(listen: str, target: str) -> Iterator[str]:
    """Forward `listen` ("host:port", port 0 picks one) to `target` in a background thread; yields the
    address actually listened on."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name=f"forward {listen}", daemon=True)
    thread.start()
    server = asyncio.run_coroutine_threadsafe(_start(listen, target), loop).result(timeout=10)
    host, port = server.sockets[0].getsockname()[:2]
    try:
        yield f"{host}:{port}"
    finally:

        async def close() -> None:
            server.close()
            await server.wait_closed()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(asyncio.wait_for(close(), 5), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


async def _serve_forever(listen: str, target: str) -> None:
    server = await _start(listen, target)
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> None:
    # argv[2], when given, only marks the command line (the cluster finds its processes by state dir).
    asyncio.run(_serve_forever(argv[0], argv[1]))


if __name__ == "__main__":
    main(sys.argv[1:])
