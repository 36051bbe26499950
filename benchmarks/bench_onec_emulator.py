"""How fast the 1C emulator serves 1,000-row JSON pages over real HTTP (prints; asserts nothing).

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
    finally:
        service.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
