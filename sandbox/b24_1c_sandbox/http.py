"""A small threaded HTTP/1.1 server shared by the emulators: plain requests in, responses (or faults) out."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, urlsplit

from b24_1c_sandbox.allocator import ALLOCATOR


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
    # Headers and body go out in one write; without TCP_NODELAY a split reply waits for the delayed ACK.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the apps keep their own call logs
        pass

    def _handle(self) -> None:
        try:
            self._serve()
        except (ssl.SSLError, ConnectionError, TimeoutError):
            self.close_connection = True

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = Request(
            self.command,
            parts.path,
            parts.query,
            {k.lower(): v for k, v in self.headers.items()},
            body,
            self.client_address[0],
            self.server.secure,
        )
        try:
            response = self.server.app(request)
        except Exception as exc:  # an emulator bug must show, not hang the client
            response = Response.text(f"emulator error: {type(exc).__name__}: {exc}", 500)
        ALLOCATOR.served()  # free memory back to the system now and then (allocator.py)
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
        buffer: list[bytes] = self._headers_buffer  # type: ignore[attr-defined]
        buffer.append(b"\r\n")
        head = b"".join(buffer)
        buffer.clear()
        self.wfile.write(head if self.command == "HEAD" else head + response.body)

    def _reset(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: App, tls: ssl.SSLContext | None) -> None:
        self.app = app
        self.tls = tls
        self.secure = tls is not None
        self.hung = threading.Event()
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[Any, Any]:
        sock, addr = self.socket.accept()
        if self.tls is not None:
            # The handshake happens on the first read, in the connection's own thread, so one slow
            # client cannot stall the accept loop.
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that drop TLS handshakes or connections mid-request are normal here (fault tests).
        pass


class HTTPService:
    """Runs an app on 127.0.0.1 in a background thread; port 0 picks a free port."""

    def __init__(
        self, app: App, port: int = 0, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None
    ) -> None:
        self.server = _Server((host, port), app, tls)
        self.host = host
        self.port = int(self.server.server_address[1])
        self.scheme = "https" if tls is not None else "http"
        self._thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"sandbox-{self.port}",
            daemon=True,
        )

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


@dataclass
class LocalTLS:
    """A throwaway CA and a server certificate for 127.0.0.1/localhost, as files clients can trust."""

    context: ssl.SSLContext
    ca_file: Path
    cert_file: Path


def local_tls(directory: Path) -> LocalTLS:
    """Generate a CA and a 127.0.0.1 certificate with trustme; write the CA to `directory/ca.pem`."""
    try:
        import trustme
    except ImportError:  # a test-only dependency: say how to get it
        raise RuntimeError("TLS mode needs the 'trustme' package: pip install 'b24-1c[test]'") from None
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="b24-1c sandbox CA")
    cert = ca.issue_cert("127.0.0.1", "localhost", "::1")
    ca_file = directory / "ca.pem"
    cert_file = directory / "server.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert_file))
    return LocalTLS(context, ca_file, cert_file)


def form_encode(data: Any, prefix: str = "") -> str:
    """Nested data as PHP `http_build_query` writes it: `data[FIELDS][ID]=5` (how portals POST events)."""
    pairs: list[str] = []

    def walk(value: Any, key: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{key}[{k}]" if key else str(k))
        elif isinstance(value, list | tuple):
            for i, v in enumerate(value):
                walk(v, f"{key}[{i}]")
        else:
            text = "" if value is None else ("1" if value is True else "0" if value is False else str(value))
            pairs.append(f"{quote_plus(key)}={quote_plus(text)}")

    walk(data, prefix)
    return "&".join(pairs)
