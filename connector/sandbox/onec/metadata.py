"""$metadata as 1C writes it: EDMX 1.0 envelope, DataServiceVersion 3.0, schema StandardODATA."""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from connector.sandbox.onec.model import EntityType


def edmx(types: dict[str, EntityType]) -> str:
    """The EDMX document for an entity model."""
    parts = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<edmx:Edmx xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx" Version="1.0">',
             '<edmx:DataServices xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata" '
             'm:DataServiceVersion="3.0">',
             '<Schema xmlns="http://schemas.microsoft.com/ado/2009/11/edm" Namespace="StandardODATA">']
    associations = []
    for t in types.values():
        parts.append(f'<EntityType Name={quoteattr(t.name)} OpenType="true"><Key><PropertyRef Name="Ref_Key"/></Key>')
        plain = [(n, e) for n, e in t.properties if not n.endswith("_Type")]
        tagged = [(n, e) for n, e in t.properties if n.endswith("_Type")]
        for name, edm in plain:
            nullable = "false" if name == "Ref_Key" else "true"
            parts.append(f"<Property Name={quoteattr(name)} Type={quoteattr(edm)} Nullable=\"{nullable}\"/>")
        for table in t.tables:
            row_type = f"StandardODATA.{t.name}_{table.name}_RowType"
            parts.append(f"<Property Name={quoteattr(table.name)} Type={quoteattr(f'Collection({row_type})')} "
                         'Nullable="true"/>')
        for name, edm in tagged:
            parts.append(f'<Property Name={quoteattr(name)} Type={quoteattr(edm)} Nullable="true"/>')
        for nav, target in t.refs.items():
            assoc = f"{t.name}_{nav}"
            parts.append(f'<NavigationProperty Name={quoteattr(nav)} Relationship={quoteattr("StandardODATA." + assoc)}'
                         ' FromRole="Begin" ToRole="End"/>')
            associations.append((assoc, t.name, target))
        parts.append("</EntityType>")
        for table in t.tables:
            parts.append(f"<ComplexType Name={quoteattr(f'{t.name}_{table.name}_RowType')}>")
            parts.append('<Property Name="Ref_Key" Type="Edm.Guid" Nullable="false"/>')
            for name, edm in table.properties:
                parts.append(f'<Property Name={quoteattr(name)} Type={quoteattr(edm)} Nullable="true"/>')
            parts.append("</ComplexType>")
    for assoc, begin, end in associations:
        parts.append(f'<Association Name={quoteattr(assoc)}><End Role="Begin" Type={quoteattr("StandardODATA." + begin)}'
                     f' Multiplicity="*"/><End Role="End" Type={quoteattr("StandardODATA." + end)} '
                     'Multiplicity="0..1"/></Association>')
    parts.append('<EntityContainer Name="StandardODATA" m:IsDefaultEntityContainer="true">')
    for t in types.values():
        parts.append(f"<EntitySet Name={quoteattr(t.name)} EntityType={quoteattr('StandardODATA.' + t.name)}/>")
    for t in types.values():
        if t.postable:
            parts.append(f'<FunctionImport Name="Post" m:HttpMethod="POST" IsBindable="true" '
                         f'EntitySetPath={quoteattr(t.name)}><Parameter Name="PostingModeOperational" '
                         'Type="Edm.Boolean" Nullable="true" Mode="In"/></FunctionImport>')
            parts.append(f'<FunctionImport Name="Unpost" m:HttpMethod="POST" IsBindable="true" '
                         f"EntitySetPath={quoteattr(t.name)}/>")
    parts.append("</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>")
    return "".join(parts)
