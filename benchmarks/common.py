"""Shared set-up for the benchmarks: sandboxes with scaled limits, seeded data, our clients, printed figures.

The Bitrix24 portal and the 1C publication run in a child process (``RemoteSandbox``), as the real servers run
elsewhere: the client under test gets its own core and its own GIL, and its memory is measured alone. The child
answers a few control messages over a pipe (census of the deal store, call-log summary, injected faults) that
read the emulator's state directly, bypassing HTTP, limits and auth.
"""

from __future__ import annotations

import argparse
import bisect
import json
import multiprocessing as mp
import random
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python benchmarks/x.py` from anywhere
    sys.path.insert(0, str(ROOT))

from connector.app import make_session  # noqa: E402
from connector.bitrix24.auth import WebhookAuth  # noqa: E402
from connector.bitrix24.client import Bitrix24Client  # noqa: E402
from connector.clock import Clock, SystemClock  # noqa: E402
from connector.mapping.schema import ExternalKey  # noqa: E402
from connector.ratelimit import PLANS, OperatingPacer, RequestPacer  # noqa: E402
from connector.records import Action, Mapped  # noqa: E402

STANDARD_BURST, STANDARD_RATE = PLANS["standard"]
EXTERNAL_KEY = ExternalKey()  # ORIGINATOR_ID=1C, ORIGIN_ID=<source key>, as mappings/orders.yaml
PRODUCTS = [
    "Профлист С8",
    "Профлист НС35",
    "Металлочерепица Монтеррей",
    "Саморез кровельный 4,8×35",
    "Уголок 50×50",
    "Труба профильная 40×20",
    "Лист г/к 3 мм",
    "Арматура А500С Ø12",
    "Швеллер 10П",
    "Доборный элемент «конёк»",
    "Водосток 125/90",
    "Утеплитель 100 мм",
]
COMMENTS = ["", "", "Срочно!", "Доставка до объекта", 'Клиент просил "без НДС" в счёте', "Отгрузка частями"]


# -- printing ---------------------------------------------------------------------------------------------------


def header(title: str, lines: list[str] | None = None) -> None:
    print(f"\n== {title}")
    for line in lines or []:
        print(f"   {line}")


def figure(label: str, value: Any, unit: str = "") -> None:
    if isinstance(value, float):
        text = f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    elif isinstance(value, int):
        text = f"{value:,}"
    else:
        text = str(value)
    print(f"   {label:<44} {text} {unit}".rstrip())


def ratio(label: str, value: float, target: str, met: bool) -> None:
    """A ratio to its reference, with the target it is judged against (printed, never asserted)."""
    print(f"   {label:<44} {value:.1%}   (target {target}: {'met' if met else 'MISSED'})")


def parser(description: str, n: int) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--n", type=int, default=n, help=f"how many records (default {n:,})")
    p.add_argument("--seed", type=int, default=7, help="random seed for data and faults")
    return p


# -- data -------------------------------------------------------------------------------------------------------


def deal_records(n: int, seed: int = 7, prefix: str = "bench") -> list[Mapped]:
    """`n` mapped deals (1C orders) with 1–6 product rows each, Cyrillic throughout, stable for a seed."""
    rng = random.Random(seed)
    day = datetime(2024, 1, 1)
    out = []
    for i in range(n):
        rows: list[dict[str, Any]] = []
        for _ in range(rng.randint(1, 6)):
            price = float(rng.randint(50, 9000))
            rows.append(
                {
                    "PRODUCT_NAME": rng.choice(PRODUCTS),
                    "PRICE": price,
                    "QUANTITY": rng.choice([1, 2, 3, 5, 10, 25, 2.5]),
                }
            )
        date = day + timedelta(minutes=37 * i)
        number = f"ЦБ00-{i + 1:06d}"
        fields = {
            "TITLE": f"Заказ {number} от {date:%d.%m.%Y} [{prefix}]",
            "OPPORTUNITY": f"{sum(r['PRICE'] * r['QUANTITY'] for r in rows):.2f}",
            "CURRENCY_ID": "RUB",
            "IS_MANUAL_OPPORTUNITY": "Y",
            "BEGINDATE": date.date().isoformat(),
            "COMMENTS": rng.choice(COMMENTS),
        }
        out.append(Mapped(f"{prefix}-{i + 1:07d}", "1", fields, rows, label=number))
    return out


def create_actions(records: list[Mapped]) -> list[Action]:
    return [Action("create", r) for r in records]


def fast_items(records: list[Mapped]) -> list[dict[str, Any]]:
    """The same deals as `crm.deal.add` parameters, with the external key DealWriter stamps on creates."""
    return [
        {
            "fields": {
                **r.fields,
                EXTERNAL_KEY.originator_field: EXTERNAL_KEY.originator_id,
                EXTERNAL_KEY.field: r.key,
            },
            "params": {"REGISTER_SONET_EVENT": "N"},
        }
        for r in records
    ]


# -- our client ---------------------------------------------------------------------------------------------------


def our_client(
    webhook_url: str,
    burst: float,
    rate: float,
    clock: Clock | None = None,
    operating: OperatingPacer | None = None,
    timeout: float = 60.0,
    paced: bool = True,
) -> Bitrix24Client:
    """Bitrix24Client as app.py builds it, with a pacer matching the (scaled) plan of the sandbox (`paced=False`:
    none, the client learns the limit from the portal's 503s)."""
    clock = clock or SystemClock()
    return Bitrix24Client(
        make_session(),
        WebhookAuth(webhook_url),
        clock,
        RequestPacer(clock, burst, rate) if paced else None,
        timeout=timeout,
        operating=operating,
    )


# -- the emulators in a child process -----------------------------------------------------------------------------


@dataclass
class SandboxSpec:
    """What the child builds: limits, faults, seeded deals, 1C orders."""

    scale: float = 1.0
    burst: float | None = None
    rate_limit: str = "standard"
    faults: dict[str, float] | None = None
    fault_seed: int = 7
    seed_deals: int = 0
    indexed_keyset: bool = False
    orders: int = 0
    seed: int = 7
    keep_calls: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


def _child(spec: SandboxSpec, conn: Any) -> None:
    from b24_1c_sandbox.faults import FaultInjector
    from b24_1c_sandbox.runner import Sandbox, SandboxOptions

    started = time.perf_counter()
    faults = FaultInjector(spec.faults, spec.fault_seed) if spec.faults else None
    sandbox = Sandbox(
        SandboxOptions(
            orders=spec.orders,
            seed=spec.seed,
            rate_limit=spec.rate_limit,
            scale=spec.scale,
            bitrix24_faults=faults,
        )
    )
    settings = sandbox.portal.settings
    if spec.burst is not None:
        settings.burst = spec.burst
    sandbox.portal.configure_limits()
    sandbox.portal.keep_calls = spec.keep_calls
    onec = _MeteredApp(sandbox.onec_app)
    sandbox.onec_app = onec  # type: ignore[assignment]  # the server gets the meter, which calls the app
    generated = time.perf_counter() - started
    seeded = 0.0
    if spec.seed_deals:
        t0 = time.perf_counter()
        seed_deals(sandbox.portal, spec.seed_deals, spec.seed)
        seeded = time.perf_counter() - t0
    if spec.indexed_keyset:
        install_indexed_keyset()
    sandbox.start()
    conn.send(
        {"webhook": sandbox.webhook_url, "odata": sandbox.odata_url, "generated": generated, "seeded": seeded}
    )
    while True:
        try:
            message = conn.recv()
        except EOFError:
            break
        name, args = message
        if name == "stop":
            break
        try:
            if name == "census":
                conn.send(deal_census(sandbox.portal, *args))
            elif name == "calls":
                conn.send(call_summary(sandbox.portal))
            elif name == "onec":  # 1C requests and the CPU seconds its handlers spent (all threads)
                conn.send({"requests": onec.requests, "cpu": onec.cpu, "shapes": dict(onec.shapes)})
            elif name == "faults":
                conn.send(dict(faults.injected) if faults else {})
            elif name == "fill_bucket":  # as after earlier work: the drain, not the burst, is the limit
                with sandbox.portal.lock:
                    bucket = sandbox.portal.bucket_for("127.0.0.1")
                    if bucket is not None:
                        bucket.count, bucket.at = bucket.ceiling, sandbox.portal.clock.monotonic()
                conn.send({"level": bucket.count if bucket else None})
            elif name == "counts":  # every call ever made: [method, batch sub-command, status, calls]
                conn.send([[m, b, st, n] for (m, b, st), n in sandbox.portal.calls.counts.items()])
            elif name == "settings":  # change portal settings between phases (e.g. latency, server_time)
                for key, value in args[0].items():
                    setattr(sandbox.portal.settings, key, value)
                conn.send({k: getattr(sandbox.portal.settings, k) for k in args[0]})
            elif name == "empty_bucket":  # as after a quiet spell: the full burst is available again
                with sandbox.portal.lock:
                    bucket = sandbox.portal.bucket_for("127.0.0.1")
                    if bucket is not None:
                        bucket.count, bucket.at = 0.0, sandbox.portal.clock.monotonic()
                conn.send({"level": bucket.count if bucket else None})
            elif name == "check_index":
                conn.send(check_indexed_keyset(sandbox.portal, *args))
            else:
                conn.send({"error": f"unknown message {name}"})
        except Exception as exc:  # report, do not hang the parent
            conn.send({"error": f"{type(exc).__name__}: {exc}"})
    sandbox.stop()
    conn.close()


def query_shape(method: str, path: str, query: str) -> str:
    """A 1C request with its literals (GUIDs, dates, $top/$skip) blanked: one line per kind of query."""
    text = unquote_plus(f"{method} {path.rsplit('/', 1)[-1]}?{query}")
    text = re.sub(r"(guid|datetime)'[^']*'", r"\1'…'", text)
    text = re.sub(r"\$(skip|top)=\d+", r"$\1=…", text)
    text = re.sub(r"&?\$format=json", "", text)
    # many alternatives of one condition ("… or …") collapse to one
    return re.sub(r"([\w/]+ eq (?:cast\()?guid'…'(?:, '\w+'\))?)(?: or \1)+", r"\1 or …", text)


class _MeteredApp:
    """The 1C emulator's app, counting requests and the thread CPU time its handlers spend, in all and per
    query shape (`query_shape`)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests = 0
        self.cpu = 0.0
        self.shapes: dict[str, list[float]] = {}  # shape -> [requests, CPU seconds]
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)

    def __call__(self, request: Any) -> Any:
        started = time.thread_time()
        try:
            return self.app(request)
        finally:
            spent = time.thread_time() - started
            shape = query_shape(request.method, request.path, request.query)
            with self._lock:
                self.requests += 1
                self.cpu += spent
                counted = self.shapes.setdefault(shape, [0, 0.0])
                counted[0] += 1
                counted[1] += spent


class RemoteSandbox:
    """Both emulators in a forked child; `ask()` queries its state."""

    def __init__(self, spec: SandboxSpec) -> None:
        ctx = mp.get_context("fork")
        self.spec = spec
        self._conn, child_conn = ctx.Pipe()
        self._proc = ctx.Process(target=_child, args=(spec, child_conn), daemon=True)
        self._proc.start()
        child_conn.close()
        info = self._conn.recv()
        self.webhook_url: str = info["webhook"]
        self.odata_url: str = info["odata"]
        self.generated: float = info["generated"]
        self.seeded: float = info["seeded"]

    def ask(self, name: str, *args: Any) -> Any:
        self._conn.send((name, args))
        answer = self._conn.recv()
        if isinstance(answer, dict) and "error" in answer and len(answer) == 1:
            raise RuntimeError(f"sandbox child: {answer['error']}")
        return answer

    def stop(self) -> None:
        with suppress(BrokenPipeError, OSError):
            self._conn.send(("stop", ()))
        self._proc.join(timeout=20)
        if self._proc.is_alive():
            self._proc.kill()

    @property
    def burst(self) -> float:
        return self.spec.burst or STANDARD_BURST

    @property
    def rate(self) -> float:
        return PLANS[self.spec.rate_limit][1] * self.spec.scale


@contextmanager
def remote_sandbox(spec: SandboxSpec) -> Iterator[RemoteSandbox]:
    sandbox = RemoteSandbox(spec)
    try:
        yield sandbox
    finally:
        sandbox.stop()


# -- emulator state, read directly ----------------------------------------------------------------------------------


def seed_deals(portal: Any, n: int, seed: int = 7) -> None:
    """Insert `n` deals straight into the portal's store (no HTTP, no limits), as `crm.deal.add` stores them."""
    from b24_1c_sandbox.bitrix24.deals import DEAL
    from b24_1c_sandbox.bitrix24.portal import CallContext
    from b24_1c_sandbox.bitrix24.store import create

    rng = random.Random(seed)
    ctx = CallContext(1, frozenset({"crm"}))
    stages = ["NEW", "PREPARATION", "EXECUTING", "WON", "LOSE"]
    with portal.lock:
        events, portal.events = portal.events, None  # nobody subscribes here; skip the event bus
        try:
            for i in range(n):
                create(
                    portal,
                    DEAL,
                    {
                        "TITLE": f"Заказ ЦБ00-{i + 1:06d}",
                        "STAGE_ID": rng.choice(stages),
                        "OPPORTUNITY": f"{rng.randint(1000, 900000)}.00",
                        "CURRENCY_ID": "RUB",
                        "IS_MANUAL_OPPORTUNITY": "Y",
                        "ORIGINATOR_ID": "1C",
                        "ORIGIN_ID": f"seed-{i + 1:07d}",
                        "COMMENTS": rng.choice(COMMENTS),
                    },
                    ctx,
                )
        finally:
            portal.events = events


def deal_census(portal: Any, keys: list[str], rows_expected: dict[str, int] | None = None) -> dict[str, Any]:
    """Duplicates per ORIGIN_ID and per TITLE, keys missing, and deals of ours whose product rows are wrong."""
    deals = portal.objects("deal")
    ours = set(keys)
    by_origin = Counter(d.get("ORIGIN_ID") for d in deals if d.get("ORIGIN_ID") in ours)
    by_title = Counter(d.get("TITLE") for d in deals if d.get("ORIGIN_ID") in ours)
    rows_bad = 0
    if rows_expected:
        good: set[str] = set()
        for d in deals:
            key = d.get("ORIGIN_ID")
            if key in rows_expected and len(portal.deal_rows(int(d["ID"]))) == rows_expected[key]:
                good.add(key)
        rows_bad = len(set(rows_expected) - good)
    return {
        "deals": sum(by_origin.values()),
        "distinct": len(by_origin),
        "dup_origin": sum(c - 1 for c in by_origin.values()),
        "dup_title": sum(c - 1 for c in by_title.values()),
        "missing": len(ours - set(by_origin)),
        "rows_bad": rows_bad,
    }


def call_summary(portal: Any) -> dict[str, Any]:
    """Top-level requests by status, sub-commands, and limit refusals as the portal saw them (the call log's
    counters: they cover every call, while the log keeps only the newest in full)."""
    log = portal.calls
    return {
        "requests": log.requests(),
        "ok": log.requests(200),
        "503": log.requests(503),
        "429": log.limit_errors,
        "sub_commands": log.sub_commands(),
        "faults": log.faults,
        "first": log.first_ok or 0.0,
        "last": log.last_ok or 0.0,
    }


# -- an index for keyset reads (benchmark (d)) ---------------------------------------------------------------------

_STOCK_LIST: dict[str, Any] = {}


def _keyset_bound(params: dict[str, Any]) -> int | None:
    """The `>ID` bound of an ID-ordered, count-less (`start=-1`) list request, or None if it is not one."""
    if int(params.get("__start", 0)) != -1:
        return None
    order = params.get("order", params.get("ORDER"))
    if not isinstance(order, dict) or len(order) != 1:
        return None
    ((name, direction),) = order.items()
    if str(name).upper() != "ID" or str(direction).upper() != "ASC":
        return None
    flt = params.get("filter", params.get("FILTER"))
    if not isinstance(flt, dict):
        return None
    bounds = [v for k, v in flt.items() if str(k).upper() == ">ID"]
    if len(bounds) != 1:
        return None
    try:
        return int(str(bounds[0]))
    except ValueError:
        return None


class _Narrowed:
    """The portal, seen with one store narrowed to a slice of candidates (everything else delegated)."""

    def __init__(self, portal: Any, store: str, rows: dict[int, dict[str, Any]]) -> None:
        self._portal = portal
        self.entities = {**portal.entities, store: rows}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._portal, name)


def _indexed(name: str, store: str) -> Any:
    stock = _STOCK_LIST[name]
    cache: dict[str, Any] = {}

    def handler(portal: Any, params: dict[str, Any], ctx: Any) -> Any:
        bound = _keyset_bound(params)
        rows = portal.entities.get(store, {})
        if bound is None:
            # Not an integer bound: e.g. the trailing sub-lists of a batch after the last short page, whose
            # `$result[pN][49][ID]` resolves (PHP isset) to the whole short result. Identical ones inside one
            # read-only batch (same context object) give identical answers: scan once per batch.
            if not isinstance(params.get("order", params.get("ORDER")), dict):
                return stock(portal, params, ctx)
            key = (id(ctx), len(rows), json.dumps(params, sort_keys=True, default=str))
            if cache.get("batch") != key[:2]:
                cache["batch"], cache["answers"] = key[:2], {}
            if key[2] not in cache["answers"]:
                cache["answers"][key[2]] = stock(portal, params, ctx)
            found = cache["answers"][key[2]]
            return type(found)(list(found.rows), found.total, found.next)
        if cache.get("len") != len(rows) or cache.get("rows") is not rows:
            cache.update(len=len(rows), rows=rows, ids=sorted(rows))
        ids: list[int] = cache["ids"]
        at = bisect.bisect_right(ids, bound)
        width = 64
        while True:
            # The stock handler over the next `width` candidates in ID order: the same filter, select and
            # shape; its first 50 matches are the whole table's first 50 when it found 50 or reached the end.
            part = ids[at : at + width]
            result = stock(_Narrowed(portal, store, {i: rows[i] for i in part}), dict(params), ctx)
            if len(result.rows) >= 50 or at + width >= len(ids):
                return result
            width *= 4

    return handler


def install_indexed_keyset(methods: tuple[str, ...] = ("crm.deal.list",)) -> None:
    """Answer `>ID` + `order ID ASC` + `start=-1` lists from an ID index instead of a full scan, as the real
    portal's database does; results are the stock handler's own (it runs over the candidates in ID order)."""
    from b24_1c_sandbox.bitrix24.registry import METHODS

    for name in methods:
        meth = METHODS[name]
        if name not in _STOCK_LIST:
            _STOCK_LIST[name] = meth.handler
        store = {"crm.deal.list": "deal", "crm.company.list": "company", "crm.contact.list": "contact"}[name]
        object.__setattr__(meth, "handler", _indexed(name, store))


def check_indexed_keyset(portal: Any, samples: int = 5) -> dict[str, Any]:
    """Compare the indexed answer with the stock full scan at a few cursors; both must be equal."""
    from b24_1c_sandbox.bitrix24.portal import CallContext
    from b24_1c_sandbox.bitrix24.registry import METHODS

    ctx = CallContext(1, frozenset({"crm"}))
    ids = sorted(portal.entities.get("deal", {}))
    rng = random.Random(1)
    cursors = [0] + [rng.choice(ids) for _ in range(samples - 2)] + [ids[-25] if len(ids) > 25 else 0]
    equal = 0
    for bound in cursors:
        for select in (["ID", "TITLE", "ORIGIN_ID"], []):
            params = {"filter": {">ID": str(bound)}, "order": {"ID": "ASC"}, "__start": -1, "select": select}
            with portal.lock:
                fast = METHODS["crm.deal.list"].handler(portal, dict(params), ctx)
                slow = _STOCK_LIST["crm.deal.list"](portal, dict(params), ctx)
            equal += fast.rows == slow.rows
    return {"compared": 2 * len(cursors), "equal": equal}


def fill_pacer(client: Bitrix24Client) -> None:
    """Our pacer's view of a full bucket (call right after the portal's `fill_bucket`)."""
    if client.pacer is not None:
        bucket = client.pacer.bucket
        bucket.level, bucket.last = bucket.capacity, client.clock.monotonic()


def elapsed(start: float) -> float:
    return time.perf_counter() - start
