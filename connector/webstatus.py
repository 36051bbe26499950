"""`b24-1c run --http 127.0.0.1:PORT`: /metrics (Prometheus), /healthz, and a small read-only HTML status page
(flows, last runs, failed records with their reasons, the last reconcile's drift). Served from a thread of the
daemon; it only reads."""

from __future__ import annotations

import html
import json
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from connector.errors import ConfigError
from connector.logs import get_logger
from connector.metrics import CONTENT_TYPE, Metrics
from connector.status import reconcile_words

log = get_logger(__name__)
StartResponse = Callable[..., Any]


def parse_address(text: str) -> tuple[str, int]:
    """HOST:PORT (PORT 0 picks a free one); the host must be given, e.g. 127.0.0.1."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"--http must look like 127.0.0.1:9108 (HOST:PORT), got {text!r}")
    return host.strip("[]"), int(port)


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http", request=format % args)


class _Threaded(WSGIServer):
    daemon_threads = True

    def process_request(self, request: Any, client_address: Any) -> None:
        threading.Thread(target=self._handle, args=(request, client_address), daemon=True).start()

    def _handle(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)


class WebStatus:
    """The WSGI app and its server thread."""

    def __init__(self, connector: Any, daemon: Any, metrics: Metrics) -> None:
        self.connector = connector
        self.daemon = daemon
        self.metrics = metrics
        self.server: WSGIServer | None = None
        self.thread: threading.Thread | None = None

    def start(self, host: str, port: int) -> tuple[str, int]:
        """Serve in a background thread; returns the address actually bound."""
        self.server = make_server(host, port, self.app, server_class=_Threaded, handler_class=_Quiet)
        bound = self.server.server_address
        self.thread = threading.Thread(target=self.server.serve_forever, name="b24-1c http", daemon=True)
        self.thread.start()
        address = (str(bound[0]), int(bound[1]))
        log.info("status page, /metrics and /healthz", url=f"http://{address[0]}:{address[1]}/")
        return address

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def app(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            return _reply(start_response, "405 Method Not Allowed", "text/plain", b"read only\n")
        try:
            if path == "/metrics":
                return _reply(start_response, "200 OK", CONTENT_TYPE, self.metrics.render())
            if path == "/healthz":
                healthy, body = self.health()
                code = "200 OK" if healthy else "503 Service Unavailable"
                return _reply(start_response, code, "application/json", json.dumps(body).encode())
            if path in ("/", "/index.html"):
                return _reply(start_response, "200 OK", "text/html; charset=utf-8", self.page().encode())
        except Exception as exc:
            log.warning("status page failed", path=path, error=str(exc))
            return _reply(start_response, "500 Internal Server Error", "text/plain", f"{exc}\n".encode())
        return _reply(start_response, "404 Not Found", "text/plain", b"try /, /metrics or /healthz\n")

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Healthy once a cycle has succeeded and while the daemon is not stopping."""
        daemon = self.daemon
        if daemon is None:
            return True, {"status": "ok"}
        if daemon.fatal is not None:
            return False, {"status": "failed", "reason": str(daemon.fatal)}
        if self.connector.stop.is_set():
            return False, {"status": "stopping"}
        if not daemon.ready:
            return False, {"status": "starting", "reason": "no cycle has succeeded yet"}
        return True, {"status": "ok", "cycles": daemon.cycles}

    def page(self) -> str:
        """The read-only status page."""
        status = self.connector.status()
        runs = self.connector.ledger.last_runs(20)
        letters = self.connector.ledger.dead_letters(None, ("open", "requeued", "waiting"))
        live = self.daemon.flows if self.daemon is not None else {}
        e = html.escape
        rows = []
        for f in status.flows:
            state = live.get(f.flow)
            error = (state.last_error if state and state.last_error else None) or f.last_error or ""
            lag = f"{f.lag_seconds:.0f} s" if f.lag_seconds is not None else "—"
            next_run = state.next_run if state and state.next_run else f.next_run
            success = (state.last_success if state and state.last_success else None) or f.last_success
            rows.append(
                f"<tr data-flow='{e(f.flow)}'><td>{e(f.flow)}</td><td>{e(success or 'never')}</td>"
                f"<td>{e(error)}</td><td>{e(lag)}</td><td>{f.failed}</td><td>{f.waiting}</td>"
                f"<td>{e(next_run or '—')}</td></tr>"
            )
        run_rows = [
            f"<tr><td>{r['id']}</td><td>{e(str(r['flow']))}</td><td>{e(str(r['kind']))}</td>"
            f"<td>{e(str(r['status']))}</td><td>{e(str(r['started_at']))}</td>"
            f"<td>{e(str(r['finished_at'] or ''))}</td></tr>"
            for r in runs
        ]
        failed_rows = [
            f"<tr><td>{d.id}</td><td>{e(d.flow)}</td><td>{e(d.label or d.source_key)}</td>"
            f"<td>{e(d.status)}</td><td>{d.attempts}</td><td class='reason'>{e(d.reason)}</td></tr>"
            for d in letters[:200]
        ]
        reconciled = [
            f"<tr data-flow='{e(f.flow)}'><td>{e(f.flow)}</td><td>{e(str(f.reconcile.get('at')))}</td>"
            f"<td>{f.reconcile.get('checked', 0)}</td><td>{f.reconcile.get('drifted', 0)}</td>"
            f"<td>{e('—' if f.reconcile.get('repaired') is None else str(f.reconcile['repaired']))}</td>"
            f"<td>{e(reconcile_words(f.reconcile))}</td></tr>"
            for f in status.flows
            if f.reconcile
        ]
        reconcile_html = "".join(reconciled) or "<tr><td colspan='6'>never run (b24-1c reconcile)</td></tr>"
        holder = e(status.daemon.note)
        return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="30">
<title>b24-1c status</title>
<style>body{{font-family:sans-serif;margin:1.5em}}table{{border-collapse:collapse;margin-bottom:1.5em}}
td,th{{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}}.reason{{max-width:50em}}</style>
</head><body>
<h1>b24-1c</h1>
<p id="daemon">{holder}; ledger {e(status.ledger)}; installation {e(status.installation)}</p>
<h2>Flows</h2>
<table id="flows"><thead><tr><th>flow</th><th>last success</th><th>last error</th><th>lag</th><th>failed</th>
<th>waiting</th><th>next run</th></tr></thead><tbody>{"".join(rows)}</tbody></table>
<h2>Last runs</h2>
<table id="runs"><thead><tr><th>run</th><th>flow</th><th>kind</th><th>status</th><th>started</th><th>finished</th>
</tr></thead><tbody>{"".join(run_rows)}</tbody></table>
<h2>Last reconcile</h2>
<table id="reconcile"><thead><tr><th>flow</th><th>when</th><th>orders checked</th><th>drift found</th>
<th>repaired</th><th>in words</th></tr></thead><tbody>{reconcile_html}</tbody></table>
<h2>Failed records ({len(letters)})</h2>
<table id="failed"><thead><tr><th>#</th><th>flow</th><th>record</th><th>status</th><th>attempts</th><th>reason</th>
</tr></thead><tbody>{"".join(failed_rows)}</tbody></table>
<p>Read only. <a href="/metrics">/metrics</a> · <a href="/healthz">/healthz</a></p>
</body></html>
"""


def _reply(start_response: StartResponse, status: str, ctype: str, body: bytes) -> list[bytes]:
    start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(body)))])
    return [body]
