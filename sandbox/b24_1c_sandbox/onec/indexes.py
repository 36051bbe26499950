"""The indexes a real 1C base keeps, and only those, so that a query the base answers from an index costs the
emulator what it costs the base, and a query the base answers by a scan still scans here.

A 1C table on the DBMS (the platform's own structure, whatever the configuration says) has:
- every object table: the clustered index on `_IDRRef` (`Ref_Key`); a tabular section's table is clustered by its
  owner's reference, so `Document_X_ТЧ?$filter=Ref_Key eq …` is a seek too;
- documents: `_Date_Time` + `_IDRRef` (the date index that `$orderby=Date,Ref_Key` with `Date ge …` walks) and
  `_Number` (`Number eq …`);
- catalogs, charts and exchange plans: `_Code` and `_Description`;
- accumulation registers: the records clustered by `_RecorderRRef` (`Recorder eq …`), and the totals tables that
  `Balance`/`Turnovers` read keyed by the dimensions (`Condition='ОбъектРасчетов_Key eq …'`); the register index
  is rebuilt after a posting changes the register.
An attribute is indexed only when its configuration says "Индексировать"; the emulator indexes none of those, so a
filter on one (`ОбъектРасчетов_Key eq …` on orders, `ДокументОснование eq …`), and any `any()`/`all()` over a tabular
section, is a scan of the whole set here as in the base: O(set size) per request.

An index only narrows the rows the full $filter is then evaluated on, and only where every row the filter keeps is
among them; rows come back in the order the scan gives (insertion order, then the stable $orderby sort), so an
indexed answer equals the scan's (tests/sandbox/onec/test_onecemu_indexes.py compares them on random queries).
Indexes are built on first use and kept up to date by `Infobase.insert/update/delete`: stored records are changed
only through those. `B24_1C_ONEC_INDEXES=off` (or `Indexes.enabled = False`) makes every read a scan again.
"""

from __future__ import annotations

import os
import re
from bisect import bisect_left, insort
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from b24_1c_sandbox.compact import Packed, unpack
from b24_1c_sandbox.compact import field as packed_field
from b24_1c_sandbox.onec.query import Term, is_datetime_literal

if TYPE_CHECKING:
    from b24_1c_sandbox.onec.infobase import Infobase

ENV = "B24_1C_ONEC_INDEXES"
EMPTY_DATE = "0001-01-01T00:00:00"
ZERO_GUID = "00000000-0000-0000-0000-000000000000"
# The (Date, Ref_Key) order the date index serves, as `parse_orderby` gives it (ascending only).
DATE_ORDER = [(["Date"], False), (["Ref_Key"], False)]
_DATE_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\Z")
_GUID_RE = re.compile(r"[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}\Z")
_FIELDS = {
    "Document": ("Number",),
    "Catalog": ("Code", "Description"),
    "ExchangePlan": ("Code", "Description"),
    "ChartOfCharacteristicTypes": ("Code", "Description"),
    "ChartOfAccounts": ("Code", "Description"),
}
Predicate = Callable[[dict[str, Any]], bool]


def _key(value: Any) -> str:
    """Where `query.sort_records` puts a 1C date or reference: empty values first (""), then in string order; any
    other value gets a string too (it makes the index unusable, see `_ByDate.odd`, but keeps it sortable)."""
    if value in (None, "", ZERO_GUID, EMPTY_DATE):
        return ""
    return value if type(value) is str else repr(value)


@dataclass
class _ByDate:
    """Entries (Date key, Ref_Key key, insertion number) in order (small: one per document); `odd` counts values
    the sort of a scan would order otherwise (a date not in 1C's `ГГГГ-ММ-ДДTчч:мм:сс` form, a reference that is
    not a GUID)."""

    entries: list[tuple[Any, ...]] = field(default_factory=list)
    odd: int = 0


@dataclass
class _ByValue:
    """Refs per value of one property; `odd` counts values that are not plain strings (compared numerically)."""

    refs: dict[str, set[str]] = field(default_factory=dict)
    odd: int = 0


class Indexes:
    """The indexes of one infobase, built on first use and maintained on every write after that."""

    def __init__(self, ib: Infobase) -> None:
        self.ib = ib
        self.enabled = os.environ.get(ENV, "on").strip().lower() not in ("off", "0", "false", "no")
        self._order: dict[str, dict[str, int]] = {}  # entity -> ref -> insertion number (the scan's order)
        self._next: dict[str, int] = {}
        self._dates: dict[str, _ByDate] = {}
        self._values: dict[tuple[str, str], _ByValue] = {}
        self._registers: dict[str, list[Packed]] = {}  # register -> its records (packed) in the scan's order
        self._dimensions: dict[
            tuple[str, str], dict[str, list[int]] | None
        ] = {}  # lower-case value -> positions

    def clear(self) -> None:
        """Forget every index (the sets were replaced wholesale, as by `Infobase.load`)."""
        self._order.clear()
        self._next.clear()
        self._dates.clear()
        self._values.clear()
        self._registers.clear()
        self._dimensions.clear()

    def moved(self, register: str) -> None:
        """A posting changed the register's records: its indexes are rebuilt when next used."""
        if self._registers.pop(register, None) is not None:
            for key in [k for k in self._dimensions if k[0] == register]:
                del self._dimensions[key]

    # -- maintenance --------------------------------------------------------------------------------------------

    def written(self, entity: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        """Keep the built indexes of `entity` in step with one write (old/new: the record before/after)."""
        order = self._order.get(entity)
        if order is None:
            return  # nothing built for this set yet
        ref = str((new or old or {})["Ref_Key"])
        if ref not in order:
            order[ref] = self._next[entity]
            self._next[entity] += 1
        seq = order[ref]
        dates = self._dates.get(entity)
        if dates is not None:
            if old is not None:
                self._drop_date(dates, old, seq)
            if new is not None:
                self._add_date(dates, new, seq)
        for (name, prop), index in self._values.items():
            if name == entity:
                if old is not None:
                    self._drop_value(index, old.get(prop), ref)
                if new is not None:
                    self._add_value(index, new.get(prop), ref)
        if new is None:
            del order[ref]

    def _order_of(self, entity: str) -> dict[str, int]:
        order = self._order.get(entity)
        if order is None:
            order = {ref: n for n, ref in enumerate(self.ib.sets[entity])}
            self._order[entity], self._next[entity] = order, len(order)
        return order

    @staticmethod
    def _entry(rec: dict[str, Any], seq: int) -> tuple[tuple[Any, ...], bool]:
        date, ref = rec.get("Date"), rec["Ref_Key"]
        plain = (
            date in (None, "", EMPTY_DATE) or (type(date) is str and _DATE_RE.match(date) is not None)
        ) and (type(ref) is str and _GUID_RE.match(ref) is not None)
        return (_key(date), _key(ref), seq), plain

    def _add_date(self, index: _ByDate, rec: dict[str, Any], seq: int) -> None:
        entry, plain = self._entry(rec, seq)
        insort(index.entries, entry)
        index.odd += not plain

    def _drop_date(self, index: _ByDate, rec: dict[str, Any], seq: int) -> None:
        entry, plain = self._entry(rec, seq)
        at = bisect_left(index.entries, entry)
        if at < len(index.entries) and index.entries[at] == entry:
            del index.entries[at]
            index.odd -= not plain

    @staticmethod
    def _add_value(index: _ByValue, value: Any, ref: str) -> None:
        if type(value) is str:
            index.refs.setdefault(value, set()).add(ref)
        elif value is not None:
            index.odd += 1

    @staticmethod
    def _drop_value(index: _ByValue, value: Any, ref: str) -> None:
        if type(value) is str:
            refs = index.refs.get(value)
            if refs is not None:
                refs.discard(ref)
                if not refs:
                    del index.refs[value]
        elif value is not None:
            index.odd -= 1

    # -- lookups ------------------------------------------------------------------------------------------------

    def _by_date(self, entity: str) -> _ByDate | None:
        if self.ib.types[entity].kind != "Document":
            return None
        index = self._dates.get(entity)
        if index is None:
            order = self._order_of(entity)
            index = _ByDate()
            # The table's key is the record's Ref_Key: the entry keeps that string, not a copy read from the record.
            made = [
                self._entry({"Date": packed_field(rec, "Date"), "Ref_Key": ref}, order[ref])
                for ref, rec in zip(self.ib.sets[entity], self.ib.sets[entity].packed(), strict=True)
            ]
            index.entries = sorted(entry for entry, _ in made)
            index.odd = sum(not plain for _, plain in made)
            self._dates[entity] = index
        return index if index.odd == 0 else None

    def _by_value(self, entity: str, prop: str) -> _ByValue | None:
        etype = self.ib.types[entity]
        if prop not in _FIELDS.get(etype.kind, ()) or etype.edm(prop) is None or etype.edm(prop + "_Type"):
            return None
        index = self._values.get((entity, prop))
        if index is None:
            self._order_of(entity)
            index = _ByValue()
            stored = self.ib.sets[entity]
            for ref, rec in zip(stored, stored.packed(), strict=True):
                self._add_value(index, packed_field(rec, prop), ref)
            self._values[(entity, prop)] = index
        return index if index.odd == 0 else None

    def _refs(self, entity: str, term: Term) -> set[str] | None:
        """Refs of every object that may satisfy an equality term, from an index; None: no index serves it."""
        if term.op not in ("eq", "in"):
            return None
        if term.name == "Ref_Key":
            stored = self.ib.sets[entity]
            # guid'…' literals are lower case and compare case-insensitively; stored refs are lower case. A number
            # or a boolean never equals a reference in a scan.
            return {v for v in term.values if isinstance(v, str) and v in stored}
        index = self._by_value(entity, term.name)
        if index is None or any(type(v) is not str for v in term.values):
            return None  # guid'…'/datetime'…' literals compare case-insensitively: left to the scan
        return {ref for v in term.values for ref in index.refs.get(v, ())}

    def candidates(self, entity: str, terms: Iterable[Term]) -> list[dict[str, Any]] | None:
        """Objects that may satisfy a filter with these conjuncts, in the scan's order, from the narrowest equality
        index that serves one of them (Ref_Key, Number, Code, Description); None when none does (a scan)."""
        if not self.enabled:
            return None
        with self.ib.lock:
            best: set[str] | None = None
            for term in terms:
                refs = self._refs(entity, term)
                if refs is not None and (best is None or len(refs) < len(best)):
                    best = refs
            if best is None:
                return None
            order, stored = self._order_of(entity), self.ib.sets[entity]
            return [stored[ref] for ref in sorted(best, key=order.__getitem__)]

    def date_window(
        self,
        entity: str,
        terms: list[Term],
        keep: Predicate | None,
        skip: int,
        top: int | None,
    ) -> list[dict[str, Any]] | None:
        """The rows a scan ordered by (Date, Ref_Key) would give after `skip` and up to `top`, walking the document
        date index from the filter's lowest `Date ge/gt datetime'…'` to its `Date le/lt datetime'…'`; None when
        the index cannot serve the query (not a document, or values the scan would sort otherwise)."""
        if not self.enabled:
            return None
        with self.ib.lock:
            index = self._by_date(entity)
            if index is None:
                return None
            low = [t.values[0] for t in terms if t.name == "Date" and t.op in ("ge", "gt")]
            high = [t.values[0] for t in terms if t.name == "Date" and t.op in ("le", "lt")]
            since = max((v for v in low if is_datetime_literal(v)), default=None)
            until = min((v for v in high if is_datetime_literal(v)), default=None)
            entries = index.entries
            start = bisect_left(entries, (since,)) if since is not None and since > EMPTY_DATE else 0
            stored = self.ib.sets[entity]
            if keep is None and until is None:
                end = len(entries) if top is None else start + skip + top
                return [stored[e[1] or ZERO_GUID] for e in entries[start + skip : end]]
            out: list[dict[str, Any]] = []
            if top == 0:
                return out
            for at in range(start, len(entries)):
                entry = entries[at]
                if until is not None and entry[0] > until:
                    break
                rec = stored[entry[1] or ZERO_GUID]
                if keep is None or keep(rec):
                    if skip:
                        skip -= 1
                        continue
                    out.append(rec)
                    if top is not None and len(out) >= top:
                        break
            return out

    def register_records(self, register: str, terms: Iterable[Term]) -> list[dict[str, Any]] | None:
        """Records of an accumulation register that may satisfy a condition with these conjuncts, in the scan's
        order, from the index a real base keeps on a register's dimensions (its totals tables) and recorder (the
        records' clustered index); None when no conjunct compares one of them with a value (a scan)."""
        if not self.enabled:
            return None
        reg = self.ib.config.registers[register]
        names = {d for d, _ in reg.dimensions} | {"Recorder"}
        with self.ib.lock:
            best: set[int] | None = None
            for term in terms:
                if term.op not in ("eq", "in") or term.name not in names:
                    continue
                index = self._dimension(register, term.name)
                if index is None or not all(isinstance(v, str) for v in term.values):
                    continue
                # Keys are lower case: a superset of what a guid'…' (case-insensitive) or a string matches.
                found = {at for v in term.values for at in index.get(v.lower(), ())}
                if best is None or len(found) < len(best):
                    best = found
            if best is None:
                return None
            records = self._registers[register]
            return [unpack(records[at]) for at in sorted(best)]

    def _dimension(self, register: str, name: str) -> dict[str, list[int]] | None:
        if register not in self._registers:
            self._registers[register] = self.ib.packed_records(register)
        if (register, name) not in self._dimensions:
            index: dict[str, list[int]] | None = {}
            for at, rec in enumerate(self._registers[register]):
                value = packed_field(rec, name)
                if type(value) is str and index is not None:
                    index.setdefault(value.lower(), []).append(at)
                elif value is not None:
                    index = None  # a number compares numerically in a scan: left to the scan
            self._dimensions[(register, name)] = index
        return self._dimensions[(register, name)]
