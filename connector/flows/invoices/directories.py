"""The directories a smart invoice's rules need from the portal, read once a run: the default pipeline, the stages
of the pipelines named by meaning, our own company. What is not known yet is asked in one round of shared `batch`
requests, with the lookup by external key (`find`) or with the item lists of `same` where those read too.

Stage names the mapping may give (anything else is written as a literal stage id, e.g. "DT31_3:S"):
`new` the first in-process stage, `sent` the in-process stage after it (the first one if there is only one),
`paid` the first success stage, `declined` the first failure stage — all read once from the directory
SMART_INVOICE_STAGE_<category> by EXTRA.SEMANTICS, because the suffix codes differ between portals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from connector.bitrix24.client import Bitrix24Client
from connector.bitrix24.reads import run_reads
from connector.errors import RecordError, RemoteRejected
from connector.logs import get_logger
from connector.records import Action

log = get_logger(__name__)
SMART_INVOICE = 31
STAGE_NAMES = ("new", "sent", "paid", "declined")
Command = tuple[str, dict[str, Any]]


def describe(err: dict[str, Any]) -> str:
    """The portal's words for a command's error."""
    code, desc = err.get("error"), err.get("error_description") or ""
    return f"{code}: {desc}".strip(": ") if code not in (None, "") else str(desc or "rejected")


def stages_by_meaning(rows: list[dict[str, Any]]) -> dict[str, str]:
    """{new, sent, paid, declined} → stage id, from one pipeline's crm.status.list rows."""
    by_sort = sorted(rows, key=lambda r: int(r.get("SORT") or 0))

    def meaning(row: dict[str, Any]) -> str:
        extra = row.get("EXTRA") if isinstance(row.get("EXTRA"), dict) else {}
        legacy = {"S": "success", "F": "failure"}.get(str(row.get("SEMANTICS") or ""), "process")
        return str((extra or {}).get("SEMANTICS") or legacy)

    process = [str(r["STATUS_ID"]) for r in by_sort if meaning(r) == "process"]
    success = [str(r["STATUS_ID"]) for r in by_sort if meaning(r) == "success"]
    failure = [str(r["STATUS_ID"]) for r in by_sort if meaning(r) == "failure"]
    out: dict[str, str] = {}
    if process:
        out["new"] = process[0]
        out["sent"] = process[1] if len(process) > 1 else process[0]
    if success:
        out["paid"] = success[0]
    if failure:
        out["declined"] = failure[0]
    return out


def resolve_stage(stages: dict[str, str], category: int, wanted: Any) -> str:
    """The stage id for a meaning (new, sent, paid, declined) in a pipeline's stages, or the literal id given."""
    text = str(wanted)
    if text not in STAGE_NAMES:
        return text
    found = stages.get(text)
    if found is None:
        raise RecordError(
            f"smart invoice pipeline {category} has no '{text}' stage (SMART_INVOICE_STAGE_"
            f"{category}: {stages or 'no stages'}); give a stage id instead"
        )
    return found


@dataclass
class Directories:
    """What the rules of a page's invoices need from the portal: the default pipeline, the stages of the pipelines
    named by meaning, our own company (the seller)."""

    category: int = 0
    stages: dict[int, dict[str, str]] = field(default_factory=dict)
    my_company: int | None = None


class DirectoryReads:
    """The directories of a run, read once; mixed into the invoices target."""

    client: Bitrix24Client
    _category: int | None
    _stages: dict[int, dict[str, str]]
    _my_company: int | None
    _my_company_read: bool

    def default_category(self) -> int:
        """The smart invoice pipeline marked isDefault."""
        if self._category is None:
            self._category = _default_of(self.client.call(*_category_read()).result)
        return self._category

    def stages(self, category: int) -> dict[str, str]:
        """{new, sent, paid, declined} → stage id of a pipeline, read once from its directory."""
        if category not in self._stages:
            rows = self.client.call(*_stage_read(str(category))).result or []
            self._stages[category] = stages_by_meaning([r for r in rows if isinstance(r, dict)])
        return self._stages[category]

    def my_company(self) -> int | None:
        """Our own company (isMyCompany), which a smart invoice names as the seller; None if the portal has none."""
        if not self._my_company_read:
            try:
                reply = self.client.call(*_company_read()).result
            except RemoteRejected as exc:  # optional: the invoice is valid without it
                self._my_company_read = True
                _no_company(str(exc))
                return None
            self._take_company(reply)
        return self._my_company

    def _take_company(self, reply: Any) -> None:
        items = reply.get("items", []) if isinstance(reply, dict) else []
        self._my_company = int(items[0]["id"]) if items else None
        self._my_company_read = True

    def _directory_reads(self, default: bool, named: set[int | None], company: bool) -> dict[str, Command]:
        """The read commands of the directories not known yet: the default pipeline (`default`), the stages of the
        pipelines named by meaning (None: the default one), our own company. The default pipeline's stages, when
        the pipeline is not known yet, are asked of the first pipeline the list returns (a `$result` reference in
        the same batch) and kept only if that pipeline is the default one."""
        out: dict[str, Command] = {}
        if default and self._category is None:
            out["cat"] = _category_read()
        for wanted in named:
            category = self._category if wanted is None else wanted
            if category is None:
                out["std"] = _stage_read("$result[cat][categories][0][id]")
            elif category not in self._stages:
                out[f"st{category}"] = _stage_read(str(category))
        if company and not self._my_company_read:
            out["me"] = _company_read()
        return out

    def _take_directories(
        self, reads: dict[str, Command], results: dict[str, Any], errors: dict[str, Any]
    ) -> None:
        """Keeps what a round of directory reads returned (a failed pipeline or stage read stops the page, as a
        failed call does; a failed company read leaves the seller out)."""
        for name in reads:
            if name in errors and name not in ("std", "me"):
                method = reads[name][0]
                raise RemoteRejected(
                    f"{method} failed inside a batch: {describe(errors[name])}", method=method
                )
        if "cat" in reads:
            self._category = _default_of(results.get("cat"))
        for name in reads:
            if name.startswith("st") and name != "std":
                rows = results.get(name) or []
                self._stages[int(name[2:])] = stages_by_meaning([r for r in rows if isinstance(r, dict)])
        guessed = [r for r in results.get("std") or [] if isinstance(r, dict)] if "std" in reads else []
        entity = f"SMART_INVOICE_STAGE_{self._category}"
        if guessed and all(str(r.get("ENTITY_ID")) == entity for r in guessed):
            self._stages[cast(int, self._category)] = stages_by_meaning(guessed)
        if "me" in reads:
            if "me" in errors:
                self._my_company_read = True
                _no_company(describe(errors["me"]))
            else:
                self._take_company(results.get("me"))

    def _needs(self, actions: Sequence[Action]) -> tuple[bool, set[int | None], bool]:
        """(the default pipeline, the pipelines whose stages are named by meaning, our own company): what the
        rules of these actions need read."""
        default, named, company = False, set[int | None](), False
        for action in actions:
            fields = action.record.create_fields() if action.kind == "create" else action.record.fields
            category = int(fields["categoryId"]) if fields.get("categoryId") else None
            default = default or category is None
            if str(fields.get("stageId")) in STAGE_NAMES:
                named.add(category)
            company = company or (action.kind == "create" and "mycompanyId" not in fields)
        return default, named, company

    def _reads(self, commands: dict[str, Command]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Every command once, 50 to a `batch` request, in the order given (reads only): (results, errors)."""
        answers = run_reads(self.client, commands)
        return answers.results, answers.errors


def _category_read() -> Command:
    return ("crm.category.list", {"entityTypeId": SMART_INVOICE})


def _default_of(reply: Any) -> int:
    """The pipeline marked isDefault in a crm.category.list result (the first one if none is; 0 if none)."""
    cats = reply.get("categories", []) if isinstance(reply, dict) else []
    default = [c for c in cats if c.get("isDefault") == "Y"] or cats
    return int(default[0]["id"]) if default else 0


def _stage_read(category: str) -> Command:
    return (
        "crm.status.list",
        {"order": {"SORT": "ASC"}, "filter": {"ENTITY_ID": f"SMART_INVOICE_STAGE_{category}"}},
    )


def _company_read() -> Command:
    return (
        "crm.item.list",
        {"entityTypeId": 4, "filter": {"isMyCompany": "Y"}, "select": ["id"], "order": {"id": "ASC"}},
    )


def _no_company(error: str) -> None:
    log.warning("could not read our own company; smart invoices are created without mycompanyId", error=error)
