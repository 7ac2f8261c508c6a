"""A second real HTTP server on loopback that records what reaches it: proves where a token went."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests


@dataclass
class Recorder:
    """Every request this server received: (method, path, Authorization header or None)."""

    url: str
    forward_to: str | None
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def authorized(self) -> list[tuple[str, str, str | None]]:
        with self.lock:
            return [r for r in self.requests if r[2] is not None]


def _handler(recorder: Recorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with recorder.lock:
                recorder.requests.append(("POST", self.path, self.headers.get("Authorization")))
            if recorder.forward_to is None:
                self._answer(404, "application/json", b'{"msg":"not here","code":404}')
                return
            # Forward as a reverse proxy in front of the real endpoint would.
            headers = {
                k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type", "accept")
            }
            answer = requests.post(recorder.forward_to + self.path, data=body, headers=headers, timeout=30)
            self._answer(answer.status_code, answer.headers.get("Content-Type", "application/json"), answer.content)

        def _answer(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    return Handler


@contextlib.contextmanager
def recording_server(forward_to: str | None = None, host: str = "127.0.0.1") -> Iterator[Recorder]:
    """Serve on a free port of `host` for the `with` block; forward each POST to `forward_to` when given."""
    recorder = Recorder(url="", forward_to=forward_to.rstrip("/") if forward_to else None)
    server = ThreadingHTTPServer((host, 0), _handler(recorder))
    recorder.url = f"http://{host}:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="recording-server", daemon=True)
    thread.start()
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
