"""WSDL as 1C generates it for a web service (real Neofly sample in the reference, §7.2).

Prefixes soapbind/soap12bind/xsd1/tns, document/literal wrapped: per operation an element `<op>` with the
parameters and `<opResponse>` with one `return`; messages `<op>RequestMessage`/`<op>ResponseMessage` with the
part `parameters`; portType `<S>PortType`; bindings `<S>SoapBinding`/`<S>Soap12Binding`; soapAction
`<ns>#<S>:<op>`; ports `<S>Soap`/`<S>Soap12` with the configured address and a WS-I BP 1.1 claim.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import quoteattr

WSDL_NS = (
    'xmlns="http://schemas.xmlsoap.org/wsdl/" xmlns:soap12bind="http://schemas.xmlsoap.org/wsdl/soap12/" '
    'xmlns:soapbind="http://schemas.xmlsoap.org/wsdl/soap/" '
    'xmlns:wsp="http://schemas.xmlsoap.org/ws/2004/09/policy" '
    'xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd" '
    'xmlns:xsd="http://www.w3.org/2001/XMLSchema"'
)


@dataclass
class Operation:
    """One web-service operation: parameters (name, xs type), the return type, and the code behind it."""

    name: str
    params: list[tuple[str, str]]
    returns: str
    handler: Callable[..., Any]


@dataclass
class Service:
    """A 1C web service: name, namespace URI (often not a URL), operations, extra XDTO types."""

    name: str
    namespace: str
    operations: dict[str, Operation] = field(default_factory=dict)
    types: str = ""  # extra xs: definitions (complex types) in the service namespace

    def action(self, op: str) -> str:
        return f"{self.namespace}#{self.name}:{op}"


def wsdl(service: Service, location: str) -> str:
    """The WSDL document of a service whose port address is `location`."""
    ns, s = service.namespace, service.name
    q = quoteattr
    elements = []
    for op in service.operations.values():
        params = "".join(f'<xs:element name={q(p)} type={q(t)} nillable="true"/>' for p, t in op.params)
        elements.append(
            f"<xs:element name={q(op.name)}><xs:complexType><xs:sequence>{params}</xs:sequence>"
            f"</xs:complexType></xs:element>"
        )
        elements.append(
            f"<xs:element name={q(op.name + 'Response')}><xs:complexType><xs:sequence>"
            f'<xs:element name="return" type={q(op.returns)} nillable="true"/></xs:sequence>'
            "</xs:complexType></xs:element>"
        )
    messages = "".join(
        f'<message name={q(op.name + "RequestMessage")}><part name="parameters" '
        f"element={q('tns:' + op.name)}/></message><message name={q(op.name + 'ResponseMessage')}>"
        f'<part name="parameters" element={q("tns:" + op.name + "Response")}/></message>'
        for op in service.operations.values()
    )
    port_ops = "".join(
        f"<operation name={q(op.name)}><input message={q('tns:' + op.name + 'RequestMessage')}/>"
        f"<output message={q('tns:' + op.name + 'ResponseMessage')}/></operation>"
        for op in service.operations.values()
    )

    def binding(prefix: str, suffix: str) -> str:
        ops = "".join(
            f'<operation name={q(op.name)}><{prefix}:operation style="document" '
            f'soapAction={q(service.action(op.name))}/><input><{prefix}:body use="literal"/></input>'
            f'<output><{prefix}:body use="literal"/></output></operation>'
            for op in service.operations.values()
        )
        return (
            f"<binding name={q(s + suffix)} type={q('tns:' + s + 'PortType')}><{prefix}:binding "
            f'style="document" transport="http://schemas.xmlsoap.org/soap/http"/>{ops}</binding>'
        )

    claim = (
        '<documentation><wsi:Claim xmlns:wsi="http://ws-i.org/schemas/conformanceClaim/" '
        'conformsTo="http://ws-i.org/profiles/basic/1.1"/></documentation>'
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><definitions {WSDL_NS} xmlns:tns={q(ns)} xmlns:xsd1={q(ns)} '
        f'name={q(s)} targetNamespace={q(ns)}><types><xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" '
        f'xmlns:tns={q(ns)} targetNamespace={q(ns)} attributeFormDefault="unqualified" '
        f'elementFormDefault="qualified">{service.types}{"".join(elements)}</xs:schema></types>{messages}'
        f"<portType name={q(s + 'PortType')}>{port_ops}</portType>{binding('soapbind', 'SoapBinding')}"
        f"{binding('soap12bind', 'Soap12Binding')}<service name={q(s)}><port name={q(s + 'Soap')} "
        f"binding={q('tns:' + s + 'SoapBinding')}>{claim}<soapbind:address location={q(location)}/></port>"
        f"<port name={q(s + 'Soap12')} binding={q('tns:' + s + 'Soap12Binding')}><soap12bind:address "
        f"location={q(location)}/></port></service></definitions>"
    )
