"""HTTP front of the infobase: /<base>/odata/standard.odata/ (and /<base>/ws/) with 1C's formats, auth and quirks."""

from __future__ import annotations

import os
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

from b24_1c_sandbox.faults import GATEWAY_PAGE, FaultInjector
from b24_1c_sandbox.http import Request, Response
from b24_1c_sandbox.onec import atom, changes, posting, reads, writes
from b24_1c_sandbox.onec import contract as onec_contract
from b24_1c_sandbox.onec.auth import AuthSettings, Gate
from b24_1c_sandbox.onec.errors import ODataError, not_published
from b24_1c_sandbox.onec.fullmeta import Extension, empty_set, full_extension
from b24_1c_sandbox.onec.infobase import Infobase
from b24_1c_sandbox.onec.metadata import edmx
from b24_1c_sandbox.onec.query import ODataQueryError, compile_filter, parse_select
from b24_1c_sandbox.onec.routes import Route, parse_route
from b24_1c_sandbox.onec.shaping import View, as_written, check_expand, check_select, resolver, shape
from b24_1c_sandbox.onec.soap import SoapApp

METADATA_ENV = "B24_1C_ONEC_METADATA"  # "full" serves a whole УТ 11.5 $metadata (see Knobs.metadata)
_NOT_ALLOWED = ("19", "Метод HTTP не поддерживается для данного ресурса")
_WRITES = ("POST", "PATCH", "PUT", "DELETE", "MERGE")


@dataclass
class Knobs:
    """Behaviour switches: strictness that differs between DOC and practice, latency, lock conflicts."""

    strict_if_match: bool = False  # DOC: 412 on a stale If-Match; practice: ignored
    strict_expand: bool = True  # 400 for $expand on a single-entity GET (DOC)
    count_bom: bool = True  # `/$count` bodies start with a UTF-8 BOM
    latency: float = 0.0  # seconds added to every request
    latency_per_1000_skipped: float = 0.0  # deep $skip is slow: 1C re-reads the leading rows
    lock_conflicts: float = 0.0  # share of writes refused with "Конфликт блокировок"
    # "model": $metadata of the emulator's own objects; "full": a whole УТ 11.5 (fullmeta.py, ~15 MB), seeded
    metadata: str = field(default_factory=lambda: os.environ.get(METADATA_ENV, "model"))
    metadata_seed: int = 7


@dataclass
class Logged:
    """One request as the emulator saw it (for inspection in tests)."""

    method: str
    path: str
    query: str
    user: str | None
    status: int
    body: bytes


class ODataApp:
    """Request → Response for one publication (`/<base>/odata/standard.odata/` and `/<base>/ws/`)."""

    def __init__(
        self, infobase: Infobase, base: str = "ut", faults: FaultInjector | None = None, seed: int = 0
    ) -> None:
        self.ib = infobase
        self.prefix = f"/{base}/odata/standard.odata"
        self.ws_prefix = f"/{base}/ws/"
        self.faults = faults
        self.knobs = Knobs()
        self.paging = reads.Paging()
        self.gate = Gate(infobase, AuthSettings())
        self.soap = SoapApp(infobase, base)
        self.sleep: Callable[[float], None] = time.sleep
        self.random = random.Random(seed)
        self.forced_lock_conflicts = 0
        self.requests = 0
        self.log: deque[Logged] = deque(maxlen=20_000)
        self._count_lock = threading.Lock()

    @property
    def html_auth_errors(self) -> bool:
        """A misconfigured publication answers auth errors with an HTML page and status 200."""
        return self.gate.settings.html_errors

    @html_auth_errors.setter
    def html_auth_errors(self, value: bool) -> None:
        self.gate.settings.html_errors = value

    def __call__(self, request: Request) -> Response:
        with self._count_lock:
            self.requests += 1
        user: str | None = None
        path = unquote(request.path)
        if not path.startswith((self.prefix, self.ws_prefix)):
            return Response.text("Not Found", 404, "text/html")
        asks = (request.query + request.headers.get("accept", "")).lower()
        who = self.gate.authenticate(request.headers.get("authorization", ""), "json" in asks)
        if isinstance(who, Response):
            response = who
        else:
            user = who
            busy = self.gate.acquire(user)
            if busy is not None:
                response = busy
            else:
                try:
                    response = self._serve(request, path, user)
                finally:
                    self.gate.release(user)
        self.log.append(Logged(request.method, path, request.query, user, response.status, request.body))
        return response

    def metadata(self) -> bytes:
        """The $metadata document: the model's objects, and in "full" mode a whole УТ 11.5 around them."""
        extension = self._extension()
        return edmx(self.ib, extension).encode()

    def _extension(self) -> Extension | None:
        return full_extension(self.ib, self.knobs.metadata, self.knobs.metadata_seed)

    # -- plumbing -----------------------------------------------------------------------------------------------

    def _serve(self, request: Request, path: str, user: str) -> Response:
        if path.startswith(self.ws_prefix):
            return self.soap(request, path[len(self.ws_prefix) :])
        options = {k.lstrip("$").lower(): v for k, v in parse_qsl(request.query, keep_blank_values=True)}
        fmt = options.get("format", "") or request.headers.get("accept", "")
        wants_json = "json" in fmt.lower() and "atom" not in options.get("format", "")
        rest = path[len(self.prefix) :].strip("/")
        fault = self._fault(rest.split("(")[0] or "service", request.method in _WRITES)
        if isinstance(fault, Response):
            return fault
        if self.knobs.latency or self.knobs.latency_per_1000_skipped:
            skipped = int(options["skip"]) if options.get("skip", "").isdigit() else 0
            self.sleep(self.knobs.latency + self.knobs.latency_per_1000_skipped * skipped / 1000)
        try:
            response = self._route(request, rest, options, wants_json, user)
        except ODataQueryError as err:
            response = self._error(ODataError(400, err.code, err.message), wants_json)
        except ODataError as err:
            response = self._error(err, wants_json)
        if fault == "lost_timeout":  # committed; no reply until the client gives up (faults.py's kind)
            return Response(fault="hang")
        return Response(fault="reset") if fault == "lost_reply" else response

    def _fault(self, method: str, write: bool) -> Response | str | None:
        if self.faults is None:
            return None
        kind = self.faults.pick(method, write)
        if kind == "latency":
            self.sleep(self.faults.latency)
        elif kind in ("error500", "overload"):
            return Response.text("Внутренняя ошибка сервера", 500)
        elif kind in ("html502", "html504"):
            code, title = (502, "Bad Gateway") if kind == "html502" else (504, "Gateway Time-out")
            return Response.text(GATEWAY_PAGE.format(code=code, title=title), code, "text/html")
        elif kind == "reset":
            return Response(fault="reset")
        return kind

    def _error(self, err: ODataError, wants_json: bool) -> Response:
        if wants_json:
            return self._json(err.body(), err.status)
        return Response(
            err.status,
            atom.error(err.code, err.message),
            {"Content-Type": "application/xml;charset=utf-8", "DataServiceVersion": "3.0"},
        )

    def _json(self, payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        resp = Response.json(
            as_written(payload),
            status,
            {
                "Content-Type": "application/json;charset=utf-8",
                "DataServiceVersion": "3.0",
                **(headers or {}),
            },
        )
        return resp

    def _xml(
        self,
        body: bytes,
        status: int = 200,
        kind: str = "application/atom+xml;type=feed",
        headers: dict[str, str] | None = None,
    ) -> Response:
        return Response(
            status,
            body,
            {"Content-Type": f"{kind};charset=utf-8", "DataServiceVersion": "3.0", **(headers or {})},
        )

    def _lock_conflict(self) -> None:
        if self.forced_lock_conflicts > 0 or (
            self.knobs.lock_conflicts and self.random.random() < self.knobs.lock_conflicts
        ):
            self.forced_lock_conflicts = max(0, self.forced_lock_conflicts - 1)
            raise posting.business_error(
                "Конфликт блокировок при выполнении транзакции:\nПревышено максимальное "
                "время ожидания предоставления блокировки"
            )

    # -- routing ------------------------------------------------------------------------------------------------

    def _route(
        self, request: Request, rest: str, options: dict[str, str], wants_json: bool, user: str
    ) -> Response:
        root = f"http://{request.headers.get('host', '127.0.0.1')}{self.prefix}/"
        meta = (
            "nometadata"
            if "nometadata" in (options.get("format", "") + request.headers.get("accept", ""))
            else "fullmetadata"
            if "fullmetadata" in options.get("format", "")
            else "minimalmetadata"
        )
        method = request.method
        if rest == "":
            names = [n for n in self.ib.types if self.ib.published is None or n in self.ib.published]
            names += ((extension := self._extension()) and extension.sets) or []
            if wants_json:
                return self._json(
                    {"odata.metadata": f"{root}$metadata", "value": [{"name": n, "url": n} for n in names]}
                )
            return self._xml(atom.service(root, names), kind="application/atomsvc+xml")
        if rest == "$metadata":  # XML only, whatever the client asked for (DOC §17.4.7)
            return self._xml(self.metadata(), kind="application/xml")
        if rest in ("SelectChanges", "NotifyChangesReceived"):
            if method != "POST":
                raise ODataError(405, *_NOT_ALLOWED)
            self.gate.check(user, self.ib.config.exchange_plan, write=False)
            status, body, ctype = changes.handle(self.ib, rest, options, wants_json, root)
            return Response(status, body, {"Content-Type": ctype, "DataServiceVersion": "3.0"})
        empty = empty_set(self._extension(), self.ib, rest, method)
        if empty is not None:  # a set only the full $metadata has: published, holding no data
            return (
                Response.text(("\ufeff" if self.knobs.count_bom else "") + "0", 200)
                if empty == "count"
                else self._json({"odata.metadata": f"{root}$metadata#{empty}", "value": []})
            )
        route = parse_route(self.ib, rest)
        onec_contract.observe(self.ib, route, options, method, request.body)  # records what is outside it
        published = self.ib.published
        if published is not None and route.base not in published:
            raise not_published(route.base)
        self.gate.check(
            user, route.base, write=(method in _WRITES and route.kind != "action") or route.kind == "action"
        )
        view = View(
            parse_select(options["select"]) if options.get("select") else None,
            [e.strip() for e in options["expand"].split(",")] if options.get("expand") else None,
            meta,
            root,
        )
        if route.kind == "entity":
            return self._entity(request, route, options, view, wants_json, user)
        if method != "GET":
            if route.kind == "table" and method == "POST":
                raise ODataError(
                    400, "13", "Непосредственное создание строк табличной части не поддерживается"
                )
            raise ODataError(405, *_NOT_ALLOWED)
        if route.kind == "count":
            n = reads.count(self.ib, route.base, options, self.gate.row_filter(user, route.base))
            return Response.text(("\ufeff" if self.knobs.count_bom else "") + str(n), 200)
        if route.kind == "table":
            result = reads.table_set(self.ib, route.base, route.section, options, self.paging, route.row_key)
        elif route.kind == "virtual":
            result = reads.virtual(self.ib, route.base, route.section, route.args, options, self.paging)
        else:
            result = reads.record_sets(self.ib, route.base, route.kind == "records", options, self.paging)
        return self._result(result, root, wants_json, meta, single=route.row_key is not None)

    def _entity(
        self, request: Request, route: Route, options: dict[str, str], view: View, wants_json: bool, user: str
    ) -> Response:
        ib, entity, method, root = self.ib, route.base, request.method, view.root
        etype = ib.types[entity]
        if view.select:
            check_select(etype, view.select)
        load_mode = request.headers.get("1c_odata-dataloadmode", "").lower() == "true"
        if_match, strict = request.headers.get("if-match"), self.knobs.strict_if_match
        if route.action and route.ref:
            if method != "POST":
                raise ODataError(405, *_NOT_ALLOWED)
            self._lock_conflict()
            if route.action == "Post":
                operational = options.get("postingmodeoperational", "false").lower() == "true"
                posting.post(ib, entity, route.ref, operational, load_mode)
            else:
                posting.unpost(ib, entity, route.ref)
            return Response(200, b"", {"DataServiceVersion": "3.0"})
        if route.ref is None:
            if method == "GET":
                if view.expand:
                    view.expand = check_expand(ib, entity, view.expand)
                result = reads.collection(
                    ib, entity, options, view, self.paging, self.gate.row_filter(user, entity)
                )
                return self._result(result, root, wants_json, view.meta)
            if method != "POST":
                raise ODataError(405, *_NOT_ALLOWED)
            self._lock_conflict()
            stored = writes.create(ib, entity, _body(request), load_mode)
            key = f"{entity}(guid'{stored['Ref_Key']}')"
            # Header values are latin-1 on the wire: the Cyrillic path goes percent-encoded.
            return self._one(
                entity, stored, view, wants_json, 201, {"Location": quote(root + key, safe=":/()'=,")}
            )
        if method == "GET":
            if view.expand and self.knobs.strict_expand:
                raise ODataError(400, "0", "Параметр $expand не поддерживается при получении одной сущности")
            record = ib.get(entity, route.ref)
            if record is None:
                raise ODataError(404, "9", "Экземпляр сущности не найден")
            rls = self.gate.row_filter(user, entity)
            if rls and not compile_filter(rls)(record, None):
                raise ODataError(
                    401, "20", f"Нарушение прав доступа: недостаточно прав на чтение данных {entity}"
                )
            if route.nav:
                found = resolver(ib, entity)(record, route.nav)
                target = etype.refs.get(route.nav)
                if found is None or target is None:
                    raise ODataError(404, "9", "Экземпляр сущности не найден")
                return self._one(target, found, View(meta=view.meta, root=root), wants_json)
            if view.expand:
                view.expand = check_expand(ib, entity, view.expand)
            return self._one(entity, record, view, wants_json)
        if method not in ("PATCH", "MERGE", "PUT", "DELETE"):
            raise ODataError(405, *_NOT_ALLOWED)
        self._lock_conflict()
        if method == "DELETE":
            writes.delete(ib, entity, route.ref, if_match, strict)
            return Response(204, b"", {"DataServiceVersion": "3.0"})
        if method == "PUT":
            stored = writes.put(ib, entity, route.ref, _body(request), load_mode, if_match, strict)
        else:
            stored = writes.patch(ib, entity, route.ref, _body(request), load_mode, if_match, strict)
        return self._one(entity, stored, View(meta=view.meta, root=root), wants_json)

    # -- output -------------------------------------------------------------------------------------------------

    def _one(
        self,
        entity: str,
        record: dict[str, Any],
        view: View,
        wants_json: bool,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> Response:
        shaped = shape(self.ib, entity, record, view)
        if wants_json:
            head = (
                {}
                if view.meta == "nometadata"
                else {"odata.metadata": f"{view.root}$metadata#{entity}/@Element"}
            )
            return self._json({**head, **shaped}, status, headers)
        entry = atom.entry(
            view.root,
            entity,
            shaped,
            self._edm_of(entity),
            list(self.ib.types[entity].refs),
            self._now(),
            standalone=True,
        )
        return self._xml(atom.single(entry), status, "application/atom+xml;type=entry", headers)

    def _result(
        self, result: reads.Result, root: str, wants_json: bool, meta: str, single: bool = False
    ) -> Response:
        if wants_json:
            if single:
                head = (
                    {} if meta == "nometadata" else {"odata.metadata": f"{root}$metadata#{result.fragment}"}
                )
                return self._json({**head, **result.rows[0]})
            body: dict[str, Any] = (
                {} if meta == "nometadata" else {"odata.metadata": f"{root}$metadata#{result.fragment}"}
            )
            if result.count is not None:
                body["odata.count"] = str(result.count)  # Int64: a string in 1C's JSON
            body["value"] = result.rows
            if result.next_skip is not None:
                body["odata.nextLink"] = f"{root}{result.fragment}?$skip={result.next_skip}"
            return self._json(body)
        edm_of = self._edm_of(result.entity) if result.entity else (lambda _n: None)
        navs = list(self.ib.types[result.entity].refs) if result.entity else []
        now = self._now()
        entries = [
            atom.entry(root, result.entity or result.fragment, r, edm_of, navs, now) for r in result.rows
        ]
        return self._xml(atom.feed(root, result.fragment, entries, now, result.count))

    def _now(self) -> str:
        return self.ib.now().replace(microsecond=0).isoformat()

    def _edm_of(self, entity: str) -> Callable[[str], str | None]:
        types = dict(self.ib.types[entity].properties)
        return types.get


def _body(request: Request) -> Any:
    import json

    try:
        return json.loads(request.body.decode("utf-8-sig") or "{}")
    except (ValueError, UnicodeDecodeError):
        raise ODataError(400, "2", "Неверный формат тела запроса: ожидается JSON") from None
