"""HTTP front of the infobase: /<base>/odata/standard.odata/ with 1C's JSON, auth, errors and quirks."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any
from urllib.parse import parse_qsl, unquote
from xml.sax.saxutils import escape

from connector.sandbox.faults import GATEWAY_PAGE, FaultInjector
from connector.sandbox.http import Request, Response
from connector.sandbox.onec.errors import ODataError, not_found, not_published
from connector.sandbox.onec.infobase import EMPTY_REF, Infobase
from connector.sandbox.onec.metadata import edmx
from connector.sandbox.onec.query import ODataQueryError, compile_filter, parse_orderby, parse_select, sort_records

_KEYED = re.compile(r"^(?P<set>[^()/]+)\(guid'(?P<ref>[0-9a-fA-F-]{36})'\)(?:/(?P<action>Post|Unpost)(?:\(\))?)?$")


class ODataApp:
    """Request → Response for one publication (`/<base>/odata/standard.odata/`)."""

    def __init__(self, infobase: Infobase, base: str = "ut", faults: FaultInjector | None = None) -> None:
        self.ib = infobase
        self.prefix = f"/{base}/odata/standard.odata"
        self.faults = faults
        self.html_auth_errors = False  # a misconfigured publication answers auth errors with HTML and 200
        self.requests = 0

    def __call__(self, request: Request) -> Response:
        self.requests += 1
        try:
            return self._handle(request)
        except ODataError as err:
            return Response.json(err.body(), err.status)
        except ODataQueryError as err:
            return Response.json(ODataError(400, err.code, err.message).body(), 400)

    # -- plumbing -----------------------------------------------------------------------------------------------

    def _auth(self, request: Request) -> Response | None:
        header = request.headers.get("authorization", "")
        user = password = None
        if header.lower().startswith("basic "):
            try:
                user, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                user = None
        if user is not None and self.ib.users.get(user) == password:
            return None
        if self.html_auth_errors:
            return Response.text("<html><body><h1>Ошибка авторизации</h1></body></html>", 200, "text/html")
        return Response(401, "Не удалось выполнить аутентификацию".encode(),
                        {"WWW-Authenticate": 'Basic realm="1C:Enterprise"', "Content-Type": "text/plain; charset=utf-8"})

    def _json(self, payload: Any, status: int = 200) -> Response:
        resp = Response.json(payload, status)
        resp.headers["DataServiceVersion"] = "3.0"
        return resp

    def _fault(self, method: str, write: bool) -> Response | str | None:
        if self.faults is None:
            return None
        kind = self.faults.pick(method, write)
        if kind == "lost_reply":
            return kind
        if kind == "latency":
            import time

            time.sleep(self.faults.latency)
        elif kind in ("error500", "overload"):
            return Response.text("Внутренняя ошибка сервера", 500)
        elif kind in ("html502", "html504"):
            code, title = (502, "Bad Gateway") if kind == "html502" else (504, "Gateway Time-out")
            return Response.text(GATEWAY_PAGE.format(code=code, title=title), code, "text/html")
        elif kind == "reset":
            return Response(fault="reset")
        return None

    # -- routing ------------------------------------------------------------------------------------------------

    def _handle(self, request: Request) -> Response:
        path = unquote(request.path)
        if not path.startswith(self.prefix):
            return Response.text("Not Found", 404, "text/html")
        denied = self._auth(request)
        if denied is not None:
            return denied
        rest = path[len(self.prefix):].strip("/")
        options = {k.lstrip("$").lower(): v for k, v in parse_qsl(request.query, keep_blank_values=True)}
        write = request.method in ("POST", "PATCH", "PUT", "DELETE")
        fault = self._fault(rest.split("(")[0] or "service", write)
        if isinstance(fault, Response):
            return fault
        json_wanted = "json" in options.get("format", "") or "json" in request.headers.get("accept", "")
        response = self._route(request, rest, options, json_wanted)
        if fault == "lost_reply":
            return Response(fault="reset")
        return response

    def _route(self, request: Request, rest: str, options: dict[str, str], json_wanted: bool) -> Response:
        if rest == "":
            return self._service_document(json_wanted)
        if rest == "$metadata":
            return Response(200, edmx(self.ib.types).encode(), {"Content-Type": "application/xml;charset=utf-8",
                                                               "DataServiceVersion": "3.0"})
        keyed = _KEYED.match(rest)
        if keyed:
            entity, ref, action = keyed.group("set"), keyed.group("ref").lower(), keyed.group("action")
            self._check_set(entity)
            if action:
                return self._post_action(request, entity, ref, action, options)
            return self._one(request, entity, ref, options, json_wanted)
        if rest.endswith("/$count"):
            entity = rest[: -len("/$count")]
            self._check_set(entity)
            rows = self._filtered(entity, options)
            return Response.text("\ufeff" + str(len(rows)), 200)
        self._check_set(rest)
        if request.method == "GET":
            return self._collection(rest, options, json_wanted)
        raise ODataError(405, "19", "Метод HTTP не поддерживается для данного ресурса")

    def _check_set(self, entity: str) -> None:
        if entity not in self.ib.types or (self.ib.published is not None and entity not in self.ib.published):
            raise not_published(entity)

    # -- reads --------------------------------------------------------------------------------------------------

    def _resolver(self, entity: str) -> Any:
        etype = self.ib.types[entity]

        def resolve(record: dict[str, Any], nav: str) -> dict[str, Any] | None:
            target = etype.refs.get(nav)
            ref = record.get(f"{nav}_Key")
            if target is None or not ref or ref == EMPTY_REF:
                return None
            return self.ib.get(target, ref)

        return resolve

    def _filtered(self, entity: str, options: dict[str, str]) -> list[dict[str, Any]]:
        rows = self.ib.all(entity)
        if options.get("filter"):
            predicate = compile_filter(options["filter"])
            resolve = self._resolver(entity)
            rows = [r for r in rows if predicate(r, resolve)]
        return rows

    def _collection(self, entity: str, options: dict[str, str], json_wanted: bool) -> Response:
        rows = self._filtered(entity, options)
        if options.get("orderby"):
            rows = sort_records(rows, parse_orderby(options["orderby"]), self._resolver(entity))
        skip = _int_option(options, "skip")
        top = _int_option(options, "top")
        if skip:
            rows = rows[skip:]
        if top is not None:
            rows = rows[:top]
        select = parse_select(options["select"]) if options.get("select") else None
        shaped = [self._shape(entity, r, select) for r in rows]
        if not json_wanted:
            return self._atom(entity, shaped)
        return self._json({"odata.metadata": f"{self._root()}$metadata#{entity}", "value": shaped})

    def _one(self, request: Request, entity: str, ref: str, options: dict[str, str], json_wanted: bool) -> Response:
        if request.method == "GET":
            record = self.ib.get(entity, ref)
            if record is None:
                raise not_found()
            select = parse_select(options["select"]) if options.get("select") else None
            body = {"odata.metadata": f"{self._root()}$metadata#{entity}/@Element", **self._shape(entity, record,
                                                                                                select)}
            return self._json(body)
        raise ODataError(405, "19", "Метод HTTP не поддерживается для данного ресурса")

    def _post_action(self, request: Request, entity: str, ref: str, action: str, options: dict[str, str]) -> Response:
        raise ODataError(405, "19", "Метод HTTP не поддерживается для данного ресурса")

    def _shape(self, entity: str, record: dict[str, Any], select: list[str] | None) -> dict[str, Any]:
        etype = self.ib.types[entity]
        tables = {t.name for t in etype.tables}
        if select is None or "*" in select:
            out = dict(record)
        else:
            keep_all_scalars = "**" in select
            out = {}
            for name, value in record.items():
                if name in tables:
                    cols = [s.split("/", 1)[1] for s in select if s.startswith(name + "/")]
                    if name in select:
                        out[name] = value
                    elif cols:
                        out[name] = [{c: row.get(c) for c in ["Ref_Key", "LineNumber", *cols]} for row in value]
                elif keep_all_scalars or name in select:
                    out[name] = value
        for nav in etype.refs:
            ref = out.get(f"{nav}_Key")
            if ref and ref != EMPTY_REF:
                out[f"{nav}@navigationLinkUrl"] = f"{entity}(guid'{record['Ref_Key']}')/{nav}"
        return out

    def _root(self) -> str:
        return f"http://127.0.0.1{self.prefix}/"

    def _service_document(self, json_wanted: bool) -> Response:
        names = [n for n in self.ib.types if self.ib.published is None or n in self.ib.published]
        if json_wanted:
            return self._json({"odata.metadata": f"{self._root()}$metadata",
                               "value": [{"name": n, "url": n} for n in names]})
        items = "".join(f'<collection href="{escape(n)}"><atom:title>{escape(n)}</atom:title></collection>'
                        for n in names)
        xml = ('<?xml version="1.0" encoding="UTF-8"?><service xmlns="http://www.w3.org/2007/app" '
               'xmlns:atom="http://www.w3.org/2005/Atom" xml:base="' + self._root() + '"><workspace>'
               '<atom:title>Default</atom:title>' + items + "</workspace></service>")
        return Response(200, xml.encode(), {"Content-Type": "application/xml;charset=utf-8"})

    def _atom(self, entity: str, rows: list[dict[str, Any]]) -> Response:
        entries = []
        for r in rows:
            props = "".join(f"<d:{escape(k)}>{escape(str(v))}</d:{escape(k)}>" for k, v in r.items()
                            if not isinstance(v, list) and "@" not in k)
            entries.append(f"<entry><id>{self._root()}{entity}(guid'{r.get('Ref_Key', '')}')</id>"
                           f'<category term="StandardODATA.{escape(entity)}" '
                           'scheme="http://schemas.microsoft.com/ado/2007/08/dataservices/scheme"/>'
                           f'<content type="application/xml"><m:properties>{props}</m:properties></content></entry>')
        xml = ('<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom" '
               'xmlns:d="http://schemas.microsoft.com/ado/2007/08/dataservices" '
               'xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata" xml:base="'
               + self._root() + f'"><id>{self._root()}{escape(entity)}</id><title type="text">{escape(entity)}'
               "</title>" + "".join(entries) + "</feed>")
        return Response(200, xml.encode(), {"Content-Type": "application/atom+xml;type=feed;charset=utf-8",
                                            "DataServiceVersion": "3.0"})


def _int_option(options: dict[str, str], name: str) -> int | None:
    if name not in options:
        return None
    try:
        value = int(options[name])
    except ValueError:
        raise ODataError(400, "14", f"Ошибка разбора параметра запроса ${name}: '{options[name]}'") from None
    if value < 0:
        raise ODataError(400, "14", f"Недопустимое значение параметра ${name}")
    return value
