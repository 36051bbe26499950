"""The XML side of 1C's OData: atom feeds and entries (the default format), the service document, XML errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import escape, quoteattr

NS = (
    'xmlns="http://www.w3.org/2005/Atom" xmlns:d="http://schemas.microsoft.com/ado/2007/08/dataservices" '
    'xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"'
)
SCHEME = "http://schemas.microsoft.com/ado/2007/08/dataservices/scheme"
RELATED = "http://schemas.microsoft.com/ado/2007/08/dataservices/related/"
TOMBSTONES = "http://purl.org/atompub/tombstones/1.0"
EdmOf = Callable[[str], str | None]


def _value(name: str, value: Any, edm: str | None, row_type: str | None = None) -> str:
    tag = f"d:{name}"
    if isinstance(value, list):
        rows = "".join(
            f"<d:element>{''.join(_value(k, v, None) for k, v in row.items())}</d:element>"
            for row in value
            if isinstance(row, dict)
        )
        return f"<{tag} m:type={quoteattr(f'Collection({row_type})' if row_type else 'Collection')}>{rows}</{tag}>"
    if isinstance(value, dict):
        return f"<{tag}>{''.join(_value(k, v, None) for k, v in value.items())}</{tag}>"
    if value is None:
        return f'<{tag} m:null="true"/>'
    if edm is None:
        edm = (
            "Edm.Boolean"
            if isinstance(value, bool)
            else "Edm.Double"
            if isinstance(value, int | float)
            else "Edm.String"
        )
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        value = int(value)  # 1C writes a whole Edm.Double without a fraction
    text = ("true" if value else "false") if isinstance(value, bool) else escape(str(value))
    attr = "" if edm == "Edm.String" else f" m:type={quoteattr(edm)}"
    return f"<{tag}{attr}>{text}</{tag}>"


def entry(
    root: str,
    entity: str,
    record: dict[str, Any],
    edm_of: EdmOf,
    navs: list[str],
    updated: str,
    standalone: bool = False,
) -> str:
    """One `<entry>`: properties typed with m:type, tabular sections as collections, related links."""
    key = f"{entity}(guid'{record.get('Ref_Key', '')}')"
    links = "".join(
        f'<link rel={quoteattr(RELATED + n)} type="application/atom+xml;type=entry" title={quoteattr(n)} '
        f"href={quoteattr(key + '/' + n)}/>"
        for n in navs
    )
    props = "".join(
        _value(k, v, edm_of(k), f"StandardODATA.{entity}_{k}_RowType")
        for k, v in record.items()
        if "@" not in k
    )
    head = f"<entry {NS} xml:base={quoteattr(root)}>" if standalone else "<entry>"
    return (
        f"{head}<id>{escape(root + key)}</id><category term={quoteattr('StandardODATA.' + entity)} "
        f'scheme={quoteattr(SCHEME)}/><link rel="edit" href={quoteattr(key)}/>{links}'
        f"<title/><updated>{updated}</updated><author/>"
        f'<content type="application/xml"><m:properties>{props}</m:properties></content></entry>'
    )


def deleted(root: str, entity: str, ref: str, when: str) -> str:
    """RFC 6721 tombstone for an object deleted since it was registered."""
    return (
        f'<at:deleted-entry ref={quoteattr(f"{root}{entity}(guid{chr(39)}{ref}{chr(39)})")} when="{when}"/>'
    )


def feed(root: str, title: str, parts: list[str], updated: str, count: int | None = None) -> bytes:
    """An atom `<feed>` with entries (and tombstones); `m:count` for $inlinecount."""
    counted = f"<m:count>{count}</m:count>" if count is not None else ""
    xml = (
        f'<?xml version="1.0" encoding="UTF-8"?><feed {NS} xmlns:at="{TOMBSTONES}" xml:base={quoteattr(root)}>'
        f'<id>{escape(root + title)}</id><title type="text">{escape(title)}</title><updated>{updated}</updated>'
        f'<author/><link rel="self" href={quoteattr(title)} title={quoteattr(title)}/>{counted}'
        + "".join(parts)
        + "</feed>"
    )
    return xml.encode()


def single(xml_entry: str) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?>' + xml_entry).encode()


def service(root: str, names: list[str]) -> bytes:
    """The AtomPub service document: one collection per published entity set."""
    items = "".join(
        f"<collection href={quoteattr(n)}><atom:title>{escape(n)}</atom:title></collection>" for n in names
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><service xmlns="http://www.w3.org/2007/app" '
        f'xmlns:atom="http://www.w3.org/2005/Atom" xml:base={quoteattr(root)}><workspace>'
        f"<atom:title>Default</atom:title>{items}</workspace></service>"
    ).encode()


def error(code: str, message: str) -> bytes:
    """`<m:error>` as 1C writes it for XML requests."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?><m:error xmlns:m="http://schemas.microsoft.com/ado/2007/08/'
        f'dataservices/metadata"><m:code>{escape(code)}</m:code><m:message xml:lang="ru">{escape(message)}'
        "</m:message></m:error>"
    ).encode()
