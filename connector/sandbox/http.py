"""A small threaded HTTP/1.1 server shared by the emulators: plain requests in, responses (or faults) out."""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Request:
    """What a handler sees: method, decoded path, raw query string, headers (lowercase keys), body bytes."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    client: str = "127.0.0.1"
    secure: bool = False


@dataclass
class Response:
    """What a handler returns. `fault` asks the server to misbehave after (or instead of) answering."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    fault: str | None = None  # "reset" (close without reply), "hang" (no reply until the client gives up)

    @classmethod
    def json(cls, payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        return cls(status, body, {"Content-Type": "application/json; charset=utf-8", **(headers or {})})

    @classmethod
    def text(cls, text: str, status: int = 200, content_type: str = "text/plain; charset=utf-8") -> Response:
        return cls(status, text.encode(), {"Content-Type": content_type})


App = Callable[[Request], Response]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the apps keep their own call logs
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = Request(self.command, parts.path, parts.query, {k.lower(): v for k, v in self.headers.items()},
                          body, self.client_address[0], self.server.secure)
        try:
            response = self.server.app(request)
        except Exception as exc:  # an emulator bug must show, not hang the client
            response = Response.text(f"emulator error: {type(exc).__name__}: {exc}", 500)
        if response.fault == "reset":
            self._reset()
            return
        if response.fault == "hang":
            self.server.hung.wait(timeout=120)
            self._reset()
            return
        self.send_response(response.status)
        for k, v in response.headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def _reset(self) -> None:
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        except OSError:
            pass
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: App, secure: bool) -> None:
        self.app = app
        self.secure = secure
        self.hung = threading.Event()
        super().__init__(address, _Handler)


class HTTPService:
    """Runs an app on 127.0.0.1 in a background thread; port 0 picks a free port."""

    def __init__(self, app: App, port: int = 0, host: str = "127.0.0.1",
                 tls: ssl.SSLContext | None = None) -> None:
        self.server = _Server((host, port), app, secure=tls is not None)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.host = host
        self.port = int(self.server.server_address[1])
        self.scheme = "https" if tls is not None else "http"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"sandbox-{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def start(self) -> HTTPService:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.hung.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)
