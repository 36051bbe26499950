"""How fast the 1C emulator serves 1,000-row JSON pages over real HTTP, and what its indexes (indexes.py) save on
the queries a real base answers from an index: request CPU with the indexes on and off (prints; asserts nothing).

.venv/bin/python benchmarks/bench_onec_emulator.py [orders]
"""

from __future__ import annotations

import sys
import time
from datetime import datetime

import requests
from b24_1c_sandbox.dataset import generate
from b24_1c_sandbox.http import HTTPService
from b24_1c_sandbox.onec.app import ODataApp
from b24_1c_sandbox.onec.infobase import Infobase


def main(orders: int = 5000) -> None:
    ib = Infobase(users={"Администратор": "sandbox"})
    started = time.perf_counter()
    generate(ib, orders, seed=1, now=datetime(2025, 3, 14, 12, 0))
    print(f"dataset: {orders} orders with money flows in {time.perf_counter() - started:.1f} s")
    service = HTTPService(ODataApp(ib)).start()
    session = requests.Session()
    session.auth = ("Администратор".encode(), b"sandbox")
    url = f"{service.url}/ut/odata/standard.odata/Document_ЗаказКлиента"
    try:
        for label, select in (
            ("full rows", None),
            ("$select=**", "**"),
            ("keys only", "Ref_Key,DataVersion,Date"),
        ):
            params = {"$format": "json", "$orderby": "Date,Ref_Key", "$top": "1000"}
            if select:
                params["$select"] = select
            pages, rows, size = 0, 0, 0
            started = time.perf_counter()
            for skip in range(0, min(orders, 5000), 1000):
                resp = session.get(url, params={**params, "$skip": str(skip)}, timeout=120)
                pages, rows, size = pages + 1, rows + len(resp.json()["value"]), size + len(resp.content)
            took = time.perf_counter() - started
            print(
                f"{label:>12}: {pages} pages of 1,000 rows, {pages / took:.1f} pages/s, {rows / took:,.0f} rows/s, "
                f"{size / pages / 1024:.0f} KiB/page"
            )
        indexed_queries(ib, session, service.url, orders)
    finally:
        service.stop()


def indexed_queries(ib: Infobase, session: requests.Session, root: str, orders: int) -> None:
    """Emulator CPU per request of the money and orders flows' indexed queries, indexes on vs off."""
    base = f"{root}/ut/odata/standard.odata/"
    docs = sorted(ib.all("Document_ЗаказКлиента"), key=lambda d: (d["Date"], d["Ref_Key"]))
    middle = docs[len(docs) // 2]
    step = docs[:: max(len(docs) // 20, 1)][:20]
    objects = " or ".join(f"ОбъектРасчетов_Key eq guid'{d['ОбъектРасчетов_Key']}'" for d in step)
    refs = " or ".join(f"Ref_Key eq guid'{d['Ref_Key']}'" for d in step)
    queries = {
        "20 orders by Ref_Key": ("Document_ЗаказКлиента", {"$filter": refs}),
        "500 orders from a date": (
            "Document_ЗаказКлиента",
            {
                "$filter": f"Posted eq true and DeletionMark eq false and Date ge datetime'{middle['Date']}'",
                "$orderby": "Date asc,Ref_Key asc",
                "$top": "500",
            },
        ),
        "a page of payment versions": (
            "Document_ПоступлениеБезналичныхДенежныхСредств",
            {"$select": "Ref_Key,DataVersion", "$orderby": "Date asc,Ref_Key asc", "$top": "1000"},
        ),
        "20 settlement objects (no index)": (
            "Document_ЗаказКлиента",
            {"$filter": objects, "$select": "Ref_Key"},
        ),
    }
    print(f"\nCPU per request at {orders:,} orders, emulator and client in this process (indexes on / off):")
    for label, (entity, params) in queries.items():
        spent = []
        for enabled in (True, False):
            ib.indexes.enabled = enabled
            session.get(base + entity, params={**params, "$format": "json"}, timeout=120)  # builds the index
            started = time.process_time()
            for _ in range(5):
                session.get(
                    base + entity, params={**params, "$format": "json"}, timeout=120
                ).raise_for_status()
            spent.append((time.process_time() - started) / 5 * 1000)
        ib.indexes.enabled = True
        print(
            f"{label:>30}: {spent[0]:8.1f} ms / {spent[1]:8.1f} ms  ({spent[1] / max(spent[0], 1e-6):.1f} ×)"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
