"""1C OData client: UTF-8 Basic auth, $top/$skip paging with $orderby, retries, bounded concurrency.

A failure on a write is classified by what the caller can safely do: a create whose reply is unknown (reset, timeout,
a 5xx or a page that is not OData) is OutcomeUnknown — looked up by its external key, never blindly sent again; the
same on an update or a posting is a TransientWriteError — the record fails this run and is written again on the next
(both are idempotent); a connection that was never made is retried like a read. 1C's business errors (500, code
"-1") are RemoteRejected with 1C's whole text, reason included. What each reply means is in `replies.py`.
"""

from __future__ import annotations

import base64
import json
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import requests
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from connector.clock import Clock
from connector.errors import AuthError, OutcomeUnknown, TransientError, TransientWriteError
from connector.netfail import first_timeout, shown, stop_if_unreached
from connector.onec.metadata import MetadataCache
from connector.onec.query import Guid, literal
from connector.onec.replies import NotSent, parse_reply, unsure

_SYSTEM_OPTIONS = {"filter", "select", "orderby", "top", "skip", "format", "expand", "inlinecount"}


def as_written(value: Any) -> Any:
    """Numbers as 1C writes them (Edm.Double): `10000`, never `10000.0`; a Decimal as its number, not a string."""
    if isinstance(value, Decimal):
        value = int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < 1e15 else value
    if isinstance(value, dict):
        return {k: as_written(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [as_written(v) for v in value]
    return value


class ODataClient:
    """Reads and writes 1C objects through /odata/standard.odata/."""

    def __init__(
        self,
        session: requests.Session,
        base_url: str,
        user: str,
        password: str,
        tz: ZoneInfo,
        clock: Clock,
        timeout: float = 120.0,
        max_connections: int = 2,
        max_attempts: int = 5,
    ) -> None:
        self.session = session
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        self._auth_header = f"Basic {token}"
        self.tz = tz
        self.clock = clock
        self.timeout = timeout
        self.max_attempts = max_attempts
        self._slots = threading.BoundedSemaphore(max_connections)
        self.requests = 0
        # Requests that failed on 1C's side, per kind: the HTTP status of a 5xx reply (never a business error,
        # which is a 500 with code -1), "timeout" or "connection"; the metrics read them (connector/metrics.py).
        self.failures: Counter[str] = Counter()
        self._failures_lock = threading.Lock()
        self.metadata = MetadataCache(self._fetch_metadata)
        # False until 1C has answered once: before that a refused connection or an unknown host is a configuration
        # problem (StopRun at once), afterwards a transient fault that is retried.
        self.answered = False

    def _fetch_metadata(self) -> bytes:
        with self._slots:
            self.requests += 1
            first = not self.answered
            try:
                resp = self.session.get(
                    self.base_url + "$metadata",
                    headers={"Authorization": self._auth_header},
                    timeout=first_timeout(not first, self.timeout),
                )
            except requests.RequestException as exc:
                self._failed(exc)
                stop_if_unreached(
                    exc, first, "1C", self.base_url + "$metadata", "ONEC_ODATA_URL", system="1c"
                )
                raise TransientError(
                    f"1C did not answer $metadata: {type(exc).__name__}", system="1c"
                ) from None
        self.answered = True
        if resp.status_code in (401, 403):
            raise AuthError(
                f"1C refused $metadata at {shown(self.base_url)} ({resp.status_code}): check ONEC_USER and "
                "ONEC_PASSWORD, and the user's right to OData",
                system="1c",
            )
        if resp.status_code != 200:
            self._failed(resp.status_code)
            raise TransientError(f"1C answered $metadata with {resp.status_code}", system="1c")
        return resp.content

    # -- low level ----------------------------------------------------------------------------------------------

    def url(self, resource: str, options: Mapping[str, str | int] | None = None) -> str:
        query = "&".join(
            f"{'$' if k in _SYSTEM_OPTIONS else ''}{k}={quote(str(v), safe='')}"
            for k, v in (options or {}).items()
        )
        path = quote(resource, safe="()/'=,$")
        return self.base_url + path + ("?" + query if query else "")

    def request(
        self,
        method: str,
        resource: str,
        options: Mapping[str, str | int] | None = None,
        body: Any = None,
        write: bool = False,
        create: bool = False,
    ) -> Any:
        """One HTTP exchange; reads are retried on transient failures, writes only when the connection was never
        made. `create`: a write that makes a new object (its lost reply must be looked up, not sent again)."""
        options = {**(options or {}), "format": "json"}
        retrying = Retrying(
            retry=retry_if_exception_type(TransientError if not write else NotSent),
            wait=wait_exponential(multiplier=0.5, max=20),
            sleep=self.clock.sleep,
            stop=stop_after_attempt(self.max_attempts),
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                return self._send(method, resource, options, body, write or create, create)
        raise AssertionError("unreachable")

    def _send(
        self,
        method: str,
        resource: str,
        options: Mapping[str, str | int],
        body: Any,
        write: bool,
        create: bool = False,
    ) -> Any:
        headers = {"Authorization": self._auth_header, "Accept": "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(as_written(body), ensure_ascii=False).encode()
        url = self.url(resource, options)
        with self._slots:
            self.requests += 1
            first = not self.answered
            try:
                resp = self.session.request(
                    method, url, data=data, headers=headers, timeout=first_timeout(not first, self.timeout)
                )
            except requests.ConnectTimeout as exc:
                self._failed(exc)
                stop_if_unreached(exc, first, "1C", url, "ONEC_ODATA_URL", system="1c")
                raise NotSent("cannot connect to 1C (timeout)", system="1c", resource=resource) from None
            except (requests.ConnectionError, requests.Timeout) as exc:
                self._failed(exc)
                stop_if_unreached(exc, first, "1C", url, "ONEC_ODATA_URL", system="1c")
                what = f"the reply of 1C to {method} {resource} was lost" if write else "1C did not answer"
                raise unsure(f"{what}: {type(exc).__name__}", resource, write, create) from None
        self.answered = True
        try:
            return parse_reply(resp, self.base_url, resource, write, create)
        except (TransientError, TransientWriteError, OutcomeUnknown):
            if resp.status_code >= 500:
                self._failed(resp.status_code)
            raise

    def _failed(self, what: int | Exception) -> None:
        """Count a failure on 1C's side: a 5xx status, a timeout or a connection that broke."""
        if isinstance(what, int):
            kind = str(what)
        else:
            kind = "timeout" if isinstance(what, requests.Timeout) else "connection"
        with self._failures_lock:
            self.failures[kind] += 1

    # -- reads --------------------------------------------------------------------------------------------------

    def query(
        self,
        entity: str,
        *,
        filter: str | None = None,
        select: list[str] | None = None,
        orderby: str | None = None,
        top: int | None = None,
        skip: int | None = None,
    ) -> list[dict[str, Any]]:
        """One GET of a collection."""
        options: dict[str, str | int] = {}
        if filter:
            options["filter"] = filter
        if select:
            options["select"] = ",".join(select)
        if orderby:
            options["orderby"] = orderby
        if top is not None:
            options["top"] = top
        if skip:
            options["skip"] = skip
        payload = self.request("GET", entity, options)
        if not isinstance(payload, dict) or not isinstance(payload.get("value"), list):
            raise TransientError(f"1C answered {entity} without a 'value' list", system="1c")
        rows: list[dict[str, Any]] = payload["value"]
        return rows

    def pages(
        self,
        entity: str,
        *,
        filter: str | None,
        orderby: str,
        page_size: int,
        select: list[str] | None = None,
        skip: int = 0,
    ) -> Iterator[tuple[int, list[dict[str, Any]]]]:
        """(skip, rows) pages with $top/$skip under a stable $orderby, until a short page."""
        while True:
            rows = self.query(entity, filter=filter, select=select, orderby=orderby, top=page_size, skip=skip)
            if rows:
                yield skip, rows
            if len(rows) < page_size:
                return
            skip += len(rows)

    def get(self, entity: str, ref: str) -> dict[str, Any]:
        payload = self.request("GET", f"{entity}({literal(Guid(ref), self.tz)})")
        if not isinstance(payload, dict):
            raise TransientError(f"1C answered {entity} without an object", system="1c")
        return payload

    def by_refs(
        self, entity: str, refs: list[str], select: list[str] | None = None, chunk: int = 20
    ) -> dict[str, dict[str, Any]]:
        """Objects by Ref_Key, fetched `chunk` at a time with `Ref_Key eq guid'…' or …`."""
        found: dict[str, dict[str, Any]] = {}
        unique = list(dict.fromkeys(refs))
        for i in range(0, len(unique), chunk):
            part = unique[i : i + chunk]
            flt = " or ".join(f"Ref_Key eq {literal(Guid(r), self.tz)}" for r in part)
            for row in self.query(entity, filter=flt, select=select):
                found[row["Ref_Key"]] = row
        return found

    # -- writes -------------------------------------------------------------------------------------------------

    def create(self, entity: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        return dict(self.request("POST", entity, body=dict(fields), write=True, create=True))

    def update(self, entity: str, ref: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        return dict(
            self.request("PATCH", f"{entity}({literal(Guid(ref), self.tz)})", body=dict(fields), write=True)
        )

    def post_document(self, entity: str, ref: str, operational: bool = False) -> None:
        self.request(
            "POST",
            f"{entity}({literal(Guid(ref), self.tz)})/Post",
            {"PostingModeOperational": "true" if operational else "false"},
            write=True,
        )

    def unpost_document(self, entity: str, ref: str) -> None:
        self.request("POST", f"{entity}({literal(Guid(ref), self.tz)})/Unpost", write=True)

    def count(self, entity: str, filter: str | None = None) -> int:
        options: dict[str, str | int] = {"filter": filter} if filter else {}
        value = self.request("GET", f"{entity}/$count", options)
        try:
            return int(str(value).strip())
        except ValueError:
            raise TransientError(f"1C answered {entity}/$count with {value!r}", system="1c") from None
