"""The admin guide's list of 1C objects to publish over OData, generated from the shipped mappings.

python -m connector.docs_gen            # rewrite docs/onec-objects.md, deploy/1c-extension/CrmExchange.wsdl and the
                                        # generated sections of docs/admin-guide.md
python -m connector.docs_gen --check    # exit 1 when a committed file is out of date

Per shipped mapping set (mappings/ for УТ 11.5 and 11.4, mappings/bp30/ for БП 3.0) and per flow: the objects the
flow reads or writes (connector.verify.requirements.onec_entities, the same list `b24-1c verify` checks online),
each with the mapping key that names it, its kind in the 1C publication dialog, and whether the 1C contract
(connector/contracts/onec.yaml) lists it for that profile. Also the WSDL of the CrmExchange web service the SOAP
path expects, from the contract's `soap.CrmExchange`, in the shape 1C generates (document/literal wrapped).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from connector.contracts import FLOWS, PARTS, load_bitrix24
from connector.contracts.onec import load_onec
from connector.mapping.schema import Mapping, load_mapping
from connector.verify.requirements import flow_kind, onec_entities

DOC = Path("docs/onec-objects.md")
WSDL = Path("deploy/1c-extension/CrmExchange.wsdl")
GUIDE = Path("docs/admin-guide.md")
SERVICE = "CrmExchange"
# (folder of a shipped mapping set, the contract profiles it is for, title)
SETS = (
    ("mappings", ("ut11.5", "ut11.4"), "УТ 11.5 / УТ 11.4 (`mappings/`)"),
    ("mappings/bp30", ("bp3.0",), "БП 3.0 (`mappings/bp30/`)"),
)
_KINDS = {
    "Catalog_": "Справочники (Catalogs)",
    "Document_": "Документы (Documents)",
    "InformationRegister_": "Регистры сведений (Information registers)",
    "AccumulationRegister_": "Регистры накопления (Accumulation registers)",
    "ChartOfCharacteristicTypes_": "Планы видов характеристик",
    "Constant_": "Константы (Constants)",
    "ExchangePlan_": "Планы обмена (Exchange plans)",
}


_COLLECTIONS = {
    "Catalog_": "Справочники",
    "Document_": "Документы",
    "InformationRegister_": "РегистрыСведений",
    "AccumulationRegister_": "РегистрыНакопления",
    "ChartOfCharacteristicTypes_": "ПланыВидовХарактеристик",
    "Constant_": "Константы",
    "ExchangePlan_": "ПланыОбмена",
}


def bsl_publish(entities: list[str]) -> list[str]:
    """A 1C script that adds these objects to the published composition (DOC §17.4.12), for a console or an
    external data processor run by an administrator."""
    lines = ["Состав = ПолучитьСоставСтандартногоИнтерфейсаOData();"]
    for entity in entities:
        prefix = next((p for p in _COLLECTIONS if entity.startswith(p)), None)
        if prefix is None:
            continue
        ref = f"Метаданные.{_COLLECTIONS[prefix]}.{entity[len(prefix) :]}"
        lines.append(f"Если Состав.Найти({ref}) = Неопределено Тогда Состав.Добавить({ref}); КонецЕсли;")
    lines.append("УстановитьСоставСтандартногоИнтерфейсаOData(Состав);")
    return lines


def kind_of(entity: str) -> str:
    """The branch of the 1C publication dialog ("Состав стандартного интерфейса OData") an object is under."""
    return next((title for prefix, title in _KINDS.items() if entity.startswith(prefix)), "other")


def _load(root: Path, folder: str) -> list[Mapping]:
    return [load_mapping(p) for p in sorted((root / folder).glob("*.yaml"))]


def _listed(entity: str, profiles: tuple[str, ...]) -> str:
    contract = load_onec()
    missing = [p for p in profiles if contract.entity(p, entity) is None]
    return "yes" if not missing else "NOT in " + ", ".join(missing)


def render(root: Path = Path(".")) -> str:
    """The whole generated document (mapping folders read under `root`)."""
    lines = [
        "# 1C objects to publish over OData, per flow",
        "",
        "<!-- Generated from the shipped mappings and connector/contracts/onec.yaml by"
        " `python -m connector.docs_gen`; do not edit by hand. -->",
        "",
        "In the 1C client: *Администрирование → Общие настройки → Интеграция с другими программами →"
        " Настройки стандартного интерфейса OData* (or in Конфигуратор: *Администрирование → Публикация на"
        " веб-сервере*, then the processing *Настройка стандартного интерфейса OData*), tick each object below."
        " Publishing a document does not publish the catalogs it references: tick those too. An object that is not"
        " ticked answers 404 and `b24-1c verify` names it. A customized mapping needs its own objects:"
        " `b24-1c verify` lists them from your mappings.",
        "",
        "'In the 1C contract' says whether connector/contracts/onec.yaml lists the object for the profile"
        " (the emulator refuses everything else).",
        "",
    ]
    for folder, profiles, title in SETS:
        specs = _load(root, folder)
        union: dict[str, str] = {}
        lines += [f"## {title}", ""]
        for spec in specs:
            found = onec_entities(spec)
            if not found:
                lines += [f"### Flow `{spec.flow}` ({flow_kind(spec)})", "", "No 1C object.", ""]
                continue
            lines += [
                f"### Flow `{spec.flow}` ({flow_kind(spec)})",
                "",
                "| Object | Publication dialog branch | Named by (mapping key) | In the 1C contract |",
                "|---|---|---|---|",
            ]
            for entity in sorted(found):
                union.setdefault(entity, kind_of(entity))
                lines.append(
                    f"| `{entity}` | {kind_of(entity)} | `{found[entity]}` | {_listed(entity, profiles)} |"
                )
            lines.append("")
        lines += [f"### All flows of {title}: tick these {len(union)} objects", ""]
        ordered = sorted(union, key=lambda e: (union[e], e))
        for entity in ordered:
            lines.append(f"- [ ] `{entity}` ({union[entity]})")
        lines += [
            "",
            "Or, as an administrator, run this in a 1C script console (it adds them to what is published;"
            " not run on a real base here):",
            "",
            "```bsl",
            *bsl_publish(ordered),
            "```",
            "",
        ]
    return "\n".join(lines)


def render_wsdl(location: str = "http://HOST/BASE/ws/CrmExchange.1cws") -> str:
    """The WSDL the connector expects for the CrmExchange service: the contract's operations, every parameter and
    result a nillable element of its xs type; messages, port type, SOAP 1.1 and 1.2 bindings and ports named as 1C
    names them (`<S>PortType`, `<S>SoapBinding`, soapAction `<ns>#<S>:<op>`)."""
    spec = load_onec().soap[SERVICE]
    ns, s, ops = str(spec["namespace"]), SERVICE, dict(spec["operations"])
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f"<!-- Generated from connector/contracts/onec.yaml (soap.{s}) by `python -m connector.docs_gen`;"
        " do not edit by hand. -->",
        '<definitions xmlns="http://schemas.xmlsoap.org/wsdl/"'
        ' xmlns:soap12bind="http://schemas.xmlsoap.org/wsdl/soap12/"',
        '    xmlns:soapbind="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:xsd="http://www.w3.org/2001/XMLSchema"',
        f'    xmlns:tns="{ns}" xmlns:xsd1="{ns}" name="{s}" targetNamespace="{ns}">',
        "  <types>",
        f'    <xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:tns="{ns}" targetNamespace="{ns}"',
        '        attributeFormDefault="unqualified" elementFormDefault="qualified">',
    ]
    for op, body in ops.items():
        out.append(f'      <xs:element name="{op}"><xs:complexType><xs:sequence>')
        for name, xs in dict(body["params"]).items():
            out.append(f'        <xs:element name="{name}" type="{xs}" nillable="true"/>')
        out += [
            "      </xs:sequence></xs:complexType></xs:element>",
            f'      <xs:element name="{op}Response"><xs:complexType><xs:sequence>',
            f'        <xs:element name="return" type="{body["result"]}" nillable="true"/>',
            "      </xs:sequence></xs:complexType></xs:element>",
        ]
    out += ["    </xs:schema>", "  </types>"]
    for op in ops:
        out += [
            f'  <message name="{op}RequestMessage"><part name="parameters" element="tns:{op}"/></message>',
            f'  <message name="{op}ResponseMessage"><part name="parameters" element="tns:{op}Response"/></message>',
        ]
    out.append(f'  <portType name="{s}PortType">')
    for op in ops:
        out.append(
            f'    <operation name="{op}"><input message="tns:{op}RequestMessage"/>'
            f'<output message="tns:{op}ResponseMessage"/></operation>'
        )
    out.append("  </portType>")
    for prefix, suffix in (("soapbind", "SoapBinding"), ("soap12bind", "Soap12Binding")):
        out += [
            f'  <binding name="{s}{suffix}" type="tns:{s}PortType">',
            f'    <{prefix}:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>',
        ]
        for op in ops:
            out += [
                f'    <operation name="{op}"><{prefix}:operation style="document" soapAction="{ns}#{s}:{op}"/>',
                f'      <input><{prefix}:body use="literal"/></input><output><{prefix}:body use="literal"/></output>',
                "    </operation>",
            ]
        out.append("  </binding>")
    out += [
        f'  <service name="{s}">',
        f'    <port name="{s}Soap" binding="tns:{s}SoapBinding"><soapbind:address location="{location}"/></port>',
        f'    <port name="{s}Soap12" binding="tns:{s}Soap12Binding">'
        f'<soap12bind:address location="{location}"/></port>',
        "  </service>",
        "</definitions>",
        "",
    ]
    return "\n".join(out)


def scopes_section() -> str:
    """The webhook's scopes and the administrator-only methods, per flow and part, from the Bitrix24 contract."""
    used = [m for m in load_bitrix24().methods.values() if m.flows]
    every = sorted({m.scope for m in used if m.scope and m.scope != "basic"})
    lines = [
        f"- **Scopes to tick** for all flows: {', '.join(f'`{x}`' for x in every)} (`basic` is always there).",
        "- **Administrator only** (the webhook's user must be a portal administrator): "
        + ", ".join(f"`{m.name}`" for m in sorted(used, key=lambda m: m.name) if m.spec.admin)
        + ".",
        "",
        "| Flow or command | Scopes | Methods only an administrator may call |",
        "|---|---|---|",
    ]
    for part in (*FLOWS, *PARTS):
        mine = [m for m in used if part in m.flows]
        scopes = sorted({m.scope for m in mine if m.scope and m.scope != "basic"})
        admin = sorted(m.name for m in mine if m.spec.admin)
        lines.append(
            f"| `{part}` | {', '.join(scopes) or 'basic'} | {', '.join(f'`{n}`' for n in admin) or '-'} |"
        )
    return "\n".join(lines)


def checklist_section(root: Path = Path(".")) -> str:
    """Per shipped mapping set, the objects to tick in the OData publication (all flows)."""
    lines = []
    for folder, _profiles, title in SETS:
        found: dict[str, str] = {}
        for spec in _load(root, folder):
            found.update(onec_entities(spec))
        names = sorted(found, key=lambda e: (kind_of(e), e))
        lines.append(f"- {title}: " + ", ".join(f"`{e}`" for e in names) + ".")
    return "\n".join(lines)


def fill(text: str, name: str, body: str) -> str:
    """Replace what lies between `<!-- generated:NAME -->` and `<!-- /generated:NAME -->`."""
    pattern = re.compile(rf"(<!-- generated:{name} -->\n).*?(<!-- /generated:{name} -->)", re.S)
    if not pattern.search(text):
        raise ValueError(f"{GUIDE}: no <!-- generated:{name} --> … <!-- /generated:{name} --> markers")
    return pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)


def render_guide(current: str, root: Path = Path(".")) -> str:
    """The admin guide with its generated sections brought up to date."""
    return fill(fill(current, "scopes", scopes_section()), "odata", checklist_section(root))


def main(argv: list[str] | None = None) -> int:
    """Write the documents, or with --check compare them with the committed ones."""
    args = sys.argv[1:] if argv is None else argv
    stale = 0
    guide = render_guide(GUIDE.read_text(encoding="utf-8"))
    for path, text in ((DOC, render()), (WSDL, render_wsdl()), (GUIDE, guide)):
        if "--check" in args:
            current = path.read_text(encoding="utf-8") if path.exists() else ""
            if current != text:
                print(f"{path} is out of date: run python -m connector.docs_gen", file=sys.stderr)
                stale = 1
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return stale


if __name__ == "__main__":
    raise SystemExit(main())
