"""Shared by the proofs of issue 6: a config for the orders flow alone, a clean reference run, and the final state
of Bitrix24 and of the ledger reduced to what must be equal after crashes and faults."""

from __future__ import annotations

import re
import shutil
import sqlite3
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from tests.conftest import ROOT

if TYPE_CHECKING:
    from b24_1c_sandbox.runner import Sandbox, SandboxOptions

    from connector.clock import Clock

TZ = ZoneInfo("Europe/Moscow")
SINCE = datetime(2017, 1, 1, tzinfo=TZ)
NOW = datetime(
    2026, 3, 2, 12, 0, 0
)  # every proof sandbox is generated at this moment: identical for equal seeds
FLOW = "orders"


class FastForwardClock:
    """Real time plus every second anyone slept: backoffs and pauses take no wall time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.skipped = 0.0
        self.sleeps = 0

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + timedelta(seconds=self.skipped)  # noqa: TID251 - a Clock for the proofs

    def monotonic(self) -> float:
        with self._lock:
            return time.monotonic() + self.skipped

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            with self._lock:
                self.skipped += seconds
                self.sleeps += 1


@dataclass
class Setup:
    """A config file for `flows: [orders]`, the environment that points it at a sandbox, and its ledger."""

    config: Path
    env: dict[str, str]
    ledger: Path


def write_setup(tmp: Path, box: Sandbox, page_size: int, batch: int) -> Setup:
    """config.example.yaml pointed at `box` and at a copy of the shipped mappings, running the orders flow alone."""
    tmp.mkdir(parents=True, exist_ok=True)
    mappings = tmp / "mappings"
    mappings.mkdir(exist_ok=True)
    for path in (ROOT / "mappings").glob("*.yaml"):
        shutil.copy(path, mappings / path.name)
    (tmp / "schedule.yaml").write_text("flows:\n  orders:\n    every: 10s\n", encoding="utf-8")
    text = (ROOT / "config.example.yaml").read_text(encoding="utf-8")
    for old, new in (
        ("page_size: 500", f"page_size: {page_size}"),
        ("batch_size: 25", f"batch_size: {batch}"),
        ("mappings_dir: mappings", f"mappings_dir: {mappings}"),
        ("schedule: schedules/default.yaml", f"schedule: {tmp / 'schedule.yaml'}"),
    ):
        assert old in text, f"config.example.yaml no longer contains {old!r}"
        text = text.replace(old, new)
    text, flows = re.subn(r"(?m)^flows: .*$", "flows: [orders]", text)
    assert flows == 1, "config.example.yaml has no `flows:` line"
    config = tmp / "config.yaml"
    config.write_text(text, encoding="utf-8")
    ledger = tmp / "ledger.sqlite3"
    env = {**box.env(), "B24_1C_LEDGER": str(ledger), "B24_1C_LOG_LEVEL": "WARNING"}
    return Setup(config, env, ledger)


def connector_for(setup: Setup, clock: Clock | None = None) -> Any:
    from connector.app import Connector
    from connector.config import load_config

    return Connector(load_config(setup.config, env=setup.env), clock=clock)


def eligible(box: Sandbox) -> set[str]:
    """Orders the flow must carry: posted and not marked for deletion."""
    return {
        o["Ref_Key"]
        for o in box.infobase.all("Document_ЗаказКлиента")
        if o["Posted"] and not o["DeletionMark"]
    }


def origins(box: Sandbox) -> Counter[str]:
    """How many deals carry each ORIGIN_ID (deals without one count under '')."""
    return Counter(str(d.get("ORIGIN_ID") or "") for d in box.portal.deals())


def mapped_names() -> tuple[list[str], list[str]]:
    """The deal fields and product-row fields the shipped orders mapping writes."""
    from connector.mapping.schema import load_mapping

    spec = load_mapping(ROOT / "mappings" / "orders.yaml")
    rows = list(spec.rows.fields) if spec.rows is not None else []
    return [*spec.fields, "ORIGINATOR_ID", "ORIGIN_ID"], rows


def deal_state(box: Sandbox) -> dict[str, dict[str, Any]]:
    """Every deal by ORIGIN_ID with its mapped content and its product rows (ids and timestamps left out)."""
    fields, row_fields = mapped_names()
    state: dict[str, dict[str, Any]] = {}
    for deal in box.portal.deals():
        content = {name: deal.get(name) for name in fields}
        content["rows"] = [
            {name: row.get(name) for name in row_fields} for row in box.portal.deal_rows(int(deal["ID"]))
        ]
        state[str(deal.get("ORIGIN_ID") or "")] = content
    return state


def clean_state(options: SandboxOptions, tmp: Path) -> dict[str, dict[str, Any]]:
    """The reference: one uninterrupted, fault-free backfill on a fresh sandbox built from the same options."""
    from dataclasses import replace

    from b24_1c_sandbox.runner import Sandbox

    with Sandbox(replace(options, bitrix24_faults=None, onec_faults=None)) as box:
        setup = write_setup(tmp, box, page_size=500, batch=25)
        with connector_for(setup) as conn:
            conn.setup()
            report = conn.runner(FLOW).backfill(SINCE, None)
        assert report.failed == 0 and report.created == len(eligible(box)), report.as_dict()
        return deal_state(box)


def ledger_problems(path: Path, box: Sandbox, open_letters: set[str] = frozenset()) -> list[str]:  # type: ignore[assignment]
    """What is wrong with the ledger after a finished backfill: every eligible order linked (with the hash of what
    was written) to the one deal carrying its key, no pending intents, dead letters exactly for `open_letters`."""
    problems: list[str] = []
    deals = {str(d.get("ORIGIN_ID")): str(d["ID"]) for d in box.portal.deals()}
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        links = {
            k: (t, h)
            for k, t, h in conn.execute(
                "SELECT source_key, target_id, content_hash FROM links WHERE flow = ?", (FLOW,)
            )
        }
        want = eligible(box) - open_letters
        missing = want - set(links)
        if missing:
            problems.append(f"{len(missing)} eligible orders have no link, e.g. {sorted(missing)[:3]}")
        extra = set(links) - eligible(box)
        if extra:
            problems.append(f"{len(extra)} links for orders that are not eligible, e.g. {sorted(extra)[:3]}")
        wrong = [k for k, (t, _) in links.items() if deals.get(k) != t]
        if wrong:
            problems.append(
                f"{len(wrong)} links point at another deal than the one carrying the key: {wrong[:3]}"
            )
        unhashed = [k for k, (_, h) in links.items() if h is None]
        if unhashed:
            problems.append(f"{len(unhashed)} links without the hash of a completed write: {unhashed[:3]}")
        pending = conn.execute(
            "SELECT COUNT(*) FROM intents WHERE flow = ? AND status = 'pending'", (FLOW,)
        ).fetchone()[0]
        if pending:
            problems.append(f"{pending} pending intents")
        letters = {
            k
            for (k,) in conn.execute(
                "SELECT source_key FROM dead_letters WHERE flow = ? AND status IN "
                "('open', 'requeued', 'waiting')",
                (FLOW,),
            )
        }
        if letters != set(open_letters):
            problems.append(f"unresolved dead letters {sorted(letters)} instead of {sorted(open_letters)}")
        cursor = conn.execute("SELECT value FROM cursors WHERE flow = ?", (f"{FLOW}:backfill",)).fetchone()
        if cursor is None or '"done": true' not in cursor[0]:
            problems.append(f"the backfill cursor is not marked done: {cursor}")
    finally:
        conn.close()
    return problems


def state_differences(got: dict[str, dict[str, Any]], want: dict[str, dict[str, Any]]) -> list[str]:
    """Human-readable differences between two deal states, at most a few per kind."""
    out = []
    if set(got) != set(want):
        out.append(
            f"deal keys differ: {len(set(got) - set(want))} extra, {len(set(want) - set(got))} missing"
        )
    differing = [k for k in sorted(set(got) & set(want)) if got[k] != want[k]]
    for key in differing[:3]:
        diff = {
            f: (got[key].get(f), want[key].get(f)) for f in want[key] if got[key].get(f) != want[key].get(f)
        }
        out.append(f"deal {key}: {diff}")
    if len(differing) > 3:
        out.append(f"... {len(differing)} deals differ in all")
    return out
