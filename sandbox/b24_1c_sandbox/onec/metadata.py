"""$metadata as 1C writes it: EDMX 1.0 envelope, DataServiceVersion 3.0, schema StandardODATA.

Generated from the same model the data uses: entity types (OpenType, Nullable="true" but Ref_Key), tabular
sections as both an entity type `X_ТЧ` (key Ref_Key + LineNumber) and a complex `X_ТЧ_RowType`, composite type
tags after the collections, navigation properties with associations, registers with `_RecordType` and virtual
tables, and the bindable function imports Post/Unpost, Balance/Turnovers, SelectChanges/NotifyChangesReceived.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import quoteattr

from b24_1c_sandbox.onec.model import EntityType, Props, Register

if TYPE_CHECKING:
    from b24_1c_sandbox.onec.fullmeta import Extension
    from b24_1c_sandbox.onec.infobase import Infobase

NS = "StandardODATA."


def _props(props: Props, parts: list[str], key: str | None = "Ref_Key") -> None:
    for name, edm in props:
        nullable = "false" if name == key else "true"
        parts.append(f'<Property Name={quoteattr(name)} Type={quoteattr(edm)} Nullable="{nullable}"/>')


def _entity(t: EntityType, parts: list[str], associations: list[tuple[str, str, str]]) -> None:
    parts.append(
        f'<EntityType Name={quoteattr(t.name)} OpenType="true"><Key><PropertyRef Name="Ref_Key"/></Key>'
    )
    tags = {f"{c}_Type" for c in t.composites()}
    _props([p for p in t.properties if p[0] not in tags], parts)
    for table in t.tables:
        row_type = f"{NS}{t.name}_{table.name}_RowType"
        parts.append(
            f"<Property Name={quoteattr(table.name)} Type={quoteattr(f'Collection({row_type})')} "
            'Nullable="true"/>'
        )
    _props([p for p in t.properties if p[0] in tags], parts)  # composite type tags come after collections
    for nav, target in t.refs.items():
        assoc = f"{t.name}_{nav}"
        parts.append(
            f"<NavigationProperty Name={quoteattr(nav)} Relationship={quoteattr(NS + assoc)} "
            'FromRole="Begin" ToRole="End"/>'
        )
        associations.append((assoc, t.name, target))
    parts.append("</EntityType>")
    for table in t.tables:
        name = f"{t.name}_{table.name}"
        parts.append(
            f'<EntityType Name={quoteattr(name)} OpenType="true"><Key><PropertyRef Name="Ref_Key"/>'
            '<PropertyRef Name="LineNumber"/></Key><Property Name="Ref_Key" Type="Edm.Guid" '
            'Nullable="false"/>'
        )
        _props(table.properties, parts, key="LineNumber")
        parts.append(f"</EntityType><ComplexType Name={quoteattr(name + '_RowType')}>")
        parts.append('<Property Name="Ref_Key" Type="Edm.Guid" Nullable="false"/>')
        _props(table.properties, parts, key=None)
        parts.append("</ComplexType>")


def _register(r: Register, parts: list[str]) -> None:
    record = r.record_properties()
    parts.append(
        f'<EntityType Name={quoteattr(r.name)} OpenType="true"><Key><PropertyRef Name="Recorder"/></Key>'
        '<Property Name="Recorder" Type="Edm.String" Nullable="false"/>'
        f'<Property Name="RecordSet" Type={quoteattr(f"Collection({NS}{r.name}_RowType)")} '
        'Nullable="true"/><Property Name="Recorder_Type" Type="Edm.String" Nullable="true"/></EntityType>'
    )
    parts.append(
        f'<EntityType Name={quoteattr(r.name + "_RecordType")} OpenType="true"><Key>'
        '<PropertyRef Name="Recorder"/><PropertyRef Name="LineNumber"/></Key>'
    )
    _props(record, parts, key="Recorder")
    parts.append(f"</EntityType><ComplexType Name={quoteattr(r.name + '_RowType')}>")
    _props(record[2:], parts, key=None)
    parts.append("</ComplexType>")
    dims = [d for d in r.dimensions]
    for suffix, columns in (
        ("Balance", ["Balance"]),
        ("Turnover", ["Receipt", "Expense", "Turnover"]),
        ("BalanceAndTurnovers", ["OpeningBalance", "Receipt", "Expense", "Turnover", "ClosingBalance"]),
    ):
        parts.append(f"<ComplexType Name={quoteattr(f'{r.name}_{suffix}')}>")
        _props(dims + [(f"{res}{c}", "Edm.Double") for res in r.resources for c in columns], parts, key=None)
        parts.append("</ComplexType>")


def _function(
    name: str, method: str, entity_set: str | None, params: list[tuple[str, str]], returns: str | None = None
) -> str:
    attrs = f"Name={quoteattr(name)}" + (f" ReturnType={quoteattr(returns)}" if returns else "")
    attrs += f' m:HttpMethod="{method}"' + (
        f' IsBindable="true" EntitySetPath={quoteattr(entity_set)}' if entity_set else ""
    )
    inner = "".join(
        f'<Parameter Name={quoteattr(p)} Type={quoteattr(t)} Nullable="true" Mode="In"/>' for p, t in params
    )
    return f"<FunctionImport {attrs}>{inner}</FunctionImport>" if inner else f"<FunctionImport {attrs}/>"


def edmx(source: Infobase | dict[str, EntityType], extension: Extension | None = None) -> str:
    """The EDMX document for an infobase (or, as in the skeleton, a bare entity model), plus generated objects."""
    types: dict[str, EntityType] = source if isinstance(source, dict) else source.types
    regs: dict[str, Register] = {} if isinstance(source, dict) else source.config.registers
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<edmx:Edmx xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx" Version="1.0">',
        '<edmx:DataServices xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata" '
        'm:DataServiceVersion="3.0">',
        '<Schema xmlns="http://schemas.microsoft.com/ado/2009/11/edm" Namespace="StandardODATA">',
    ]
    associations: list[tuple[str, str, str]] = []
    for t in types.values():
        _entity(t, parts, associations)
    for r in regs.values():
        _register(r, parts)
    for assoc, begin, end in associations:
        parts.append(
            f'<Association Name={quoteattr(assoc)}><End Role="Begin" Type={quoteattr(NS + begin)}'
            f' Multiplicity="*"/><End Role="End" Type={quoteattr(NS + end)} '
            'Multiplicity="0..1"/></Association>'
        )
    if extension is not None:
        parts += extension.schema
    parts.append('<EntityContainer Name="StandardODATA" m:IsDefaultEntityContainer="true">')
    sets: list[Any] = [(t.name, t.name) for t in types.values()]
    sets += [(f"{t.name}_{tab.name}", f"{t.name}_{tab.name}") for t in types.values() for tab in t.tables]
    sets += [(r.name, r.name) for r in regs.values()] + [
        (f"{r.name}_RecordType", f"{r.name}_RecordType") for r in regs.values()
    ]
    for name, etype in sets:
        parts.append(f"<EntitySet Name={quoteattr(name)} EntityType={quoteattr(NS + etype)}/>")
    for assoc, begin, end in associations:
        parts.append(
            f"<AssociationSet Name={quoteattr(assoc)} Association={quoteattr(NS + assoc)}>"
            f'<End Role="Begin" EntitySet={quoteattr(begin)}/><End Role="End" EntitySet={quoteattr(end)}/>'
            "</AssociationSet>"
        )
    for t in types.values():
        if t.postable:
            parts.append(_function("Post", "POST", t.name, [("PostingModeOperational", "Edm.Boolean")]))
            parts.append(_function("Unpost", "POST", t.name, []))
    for r in regs.values():
        parts.append(
            _function(
                "Balance",
                "GET",
                r.name,
                [("Period", "Edm.DateTime"), ("Condition", "Edm.String"), ("Dimensions", "Edm.String")],
                f"Collection({NS}{r.name}_Balance)",
            )
        )
        parts.append(
            _function(
                "Turnovers",
                "GET",
                r.name,
                [
                    ("StartPeriod", "Edm.DateTime"),
                    ("EndPeriod", "Edm.DateTime"),
                    ("Condition", "Edm.String"),
                    ("Dimensions", "Edm.String"),
                ],
                f"Collection({NS}{r.name}_Turnover)",
            )
        )
        parts.append(
            _function(
                "BalanceAndTurnovers",
                "GET",
                r.name,
                [
                    ("StartPeriod", "Edm.DateTime"),
                    ("EndPeriod", "Edm.DateTime"),
                    ("Condition", "Edm.String"),
                    ("Dimensions", "Edm.String"),
                ],
                f"Collection({NS}{r.name}_BalanceAndTurnovers)",
            )
        )
    if not isinstance(source, dict):
        exchange = [("DataExchangePoint", "Edm.String"), ("MessageNo", "Edm.Int64")]
        parts.append(_function("SelectChanges", "POST", None, exchange))
        parts.append(_function("NotifyChangesReceived", "POST", None, exchange))
    if extension is not None:
        parts += extension.container
    parts.append("</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>")
    return "".join(parts)
