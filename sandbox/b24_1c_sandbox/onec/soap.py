"""/<base>/ws/: 1C web services over SOAP 1.1 and 1.2 (WSDL at `<Name>.1cws?wsdl` or `<Name>?wsdl`).

Responses use the `m:` prefix (`<m:opResponse xmlns:m="ns"><m:return>…`); an exception in the service code is
HTTP 500 with a `soap:Fault` whose text is the Russian 1C message, as 1C does.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any
from xml.sax.saxutils import escape

from b24_1c_sandbox.http import Request, Response
from b24_1c_sandbox.onec import contract
from b24_1c_sandbox.onec.infobase import Infobase
from b24_1c_sandbox.onec.services import ServiceFault, services
from b24_1c_sandbox.onec.wsdl import Service, wsdl

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


class SoapApp:
    """Dispatches /ws/ requests to the services of one infobase."""

    def __init__(self, ib: Infobase, base: str, location_host: str = "http://srv-1c.local") -> None:
        self.ib = ib
        self.base = base
        # 1C writes the publication's configured host into the WSDL; often unreachable from the client.
        self.location_host = location_host
        self.services: dict[str, Service] = services(ib)
        self.calls: list[tuple[str, str, dict[str, str]]] = []

    def __call__(self, request: Request, alias: str) -> Response:
        name = alias.strip("/").removesuffix(".1cws")
        service = self.services.get(name)
        if service is None:
            return Response.text(f"Веб-сервис не найден: {alias}", 404)
        if request.method == "GET":
            if "wsdl" not in request.query.lower():
                return Response.text("Для получения описания сервиса используйте ?wsdl", 400)
            location = f"{self.location_host}/{self.base}/ws/{name}.1cws"
            return Response(
                200, wsdl(service, location).encode(), {"Content-Type": "text/xml; charset=utf-8"}
            )
        if request.method != "POST":
            return Response.text("Метод не поддерживается", 405)
        version = SOAP12 if "soap+xml" in request.headers.get("content-type", "") else SOAP11
        try:
            envelope = ET.fromstring(request.body)
            body = next(c for c in envelope if _local(c.tag) == "Body")
            call = next(iter(body))
        except (ET.ParseError, StopIteration):
            return self._fault(version, "Ошибка разбора SOAP-сообщения", client=True)
        if envelope.tag.startswith("{" + SOAP12):
            version = SOAP12
        args = {_local(c.tag): (c.text or "") for c in call}
        contract.observe_soap(self.ib.profile, service.name, _local(call.tag), list(args))  # records only
        op = service.operations.get(_local(call.tag))
        if op is None:
            return self._fault(version, f"Операция не найдена: {_local(call.tag)}", client=True)
        self.calls.append((service.name, op.name, args))
        try:
            result = op.handler(**{p: args.get(p, "") for p, _ in op.params})
        except ServiceFault as fault:
            return self._fault(version, str(fault))
        return self._answer(version, service, op.name, result)

    def _answer(self, version: str, service: Service, op: str, result: Any) -> Response:
        if isinstance(result, list):
            value = "".join(f"<m:string>{escape(str(v))}</m:string>" for v in result)
        elif isinstance(result, bool):
            value = "true" if result else "false"
        else:
            value = escape(str(result))
        xml = (
            f'<soap:Envelope xmlns:soap="{version}"><soap:Header/><soap:Body><m:{op}Response '
            f'xmlns:m="{escape(service.namespace)}"><m:return xmlns:xs="http://www.w3.org/2001/XMLSchema" '
            f'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">{value}</m:return></m:{op}Response>'
            "</soap:Body></soap:Envelope>"
        )
        return Response(200, xml.encode(), {"Content-Type": self._ctype(version)})

    def _fault(self, version: str, text: str, client: bool = False) -> Response:
        if version == SOAP12:
            code = "soap:Sender" if client else "soap:Receiver"
            fault = (
                f"<soap:Fault><soap:Code><soap:Value>{code}</soap:Value></soap:Code><soap:Reason>"
                f'<soap:Text xml:lang="ru">{escape(text)}</soap:Text></soap:Reason></soap:Fault>'
            )
        else:
            code = "soap:Client" if client else "soap:Server"
            fault = f"<soap:Fault><faultcode>{code}</faultcode><faultstring>{escape(text)}</faultstring></soap:Fault>"
        xml = f'<soap:Envelope xmlns:soap="{version}"><soap:Body>{fault}</soap:Body></soap:Envelope>'
        return Response(500, xml.encode(), {"Content-Type": self._ctype(version)})

    @staticmethod
    def _ctype(version: str) -> str:
        return "application/soap+xml; charset=utf-8" if version == SOAP12 else "text/xml; charset=utf-8"
