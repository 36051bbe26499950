"""Errors a newcomer meets (issue 14 point 6): seconds and HTTP attempts until the sync's clients give up, per case,
and the one line each ends with. Prints figures; asserts nothing (the tests assert attempts and text).

Cases: connection refused (a closed 127.0.0.1 port) and DNS failure (a `.invalid` host) for each system, a portal
404 (a path that is no webhook), a webhook code the portal does not know (401), a wrong OData path (404), an object
left out of the OData publication (404, code 6) and a wrong 1C password (401), through the production Connector on
the sandbox; then whole `b24-1c sync`, `run` and `backfill` commands against closed ports and `.invalid` hosts (the
seconds include starting Python). The goal is under 5 s per case. For contrast (skip with --skip-ladder): a refused
connection after the portal has answered once is retried as a transient fault, the ladder it always had (~15 s).

    .venv/bin/python benchmarks/bench_unreachable.py [--skip-ladder]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from common import figure, header, ratio  # noqa: E402

GOAL_SECONDS = 5.0


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _case(label: str, run: Callable[[], Any], attempts: Callable[[], int], goal: bool = True) -> None:
    from connector.errors import ConnectorError

    start = time.monotonic()
    try:
        run()
        message = "(no error)"
    except ConnectorError as exc:
        message = f"{type(exc).__name__}: {exc}"
    seconds = time.monotonic() - start
    header(label)
    figure("seconds", seconds, "s")
    figure("attempts", attempts())
    figure("message", message)
    if goal:
        ratio(
            "seconds / goal",
            seconds / GOAL_SECONDS,
            f"<= 100% of {GOAL_SECONDS:g} s",
            seconds <= GOAL_SECONDS,
        )


def _clients(box: Any, tmp: Path, **env: str) -> Any:
    """Each case through a fresh Connector (its clients have not talked to anyone yet, as at a command's start)."""
    from connector.app import Connector
    from tests.conftest import make_config

    config = make_config(box, tmp / f"{len(list(tmp.iterdir()))}.db", **env)
    return Connector(config, lock=False)


def _command(label: str, args: list[str], env: dict[str, str]) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("B24_", "ONEC_"))}
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "connector", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    seconds = time.monotonic() - start
    header(label)
    figure("seconds (with Python's start)", seconds, "s")
    figure("exit code", done.returncode)
    figure("last line", (done.stderr.strip().splitlines() or ["-"])[-1])
    ratio("seconds / goal", seconds / GOAL_SECONDS, f"<= 100% of {GOAL_SECONDS:g} s", seconds <= GOAL_SECONDS)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--skip-ladder", action="store_true", help="do not time the retry ladder during a run")
    args = p.parse_args()
    from b24_1c_sandbox.degraded import Degraded, degrade
    from b24_1c_sandbox.runner import Sandbox, SandboxOptions

    with (
        tempfile.TemporaryDirectory() as tmp_name,
        Sandbox(SandboxOptions(orders=10, seed=11, rate_limit="off")) as box,
    ):
        tmp = Path(tmp_name)
        degrade(box, Degraded(unpublished=("Catalog_Валюты",)))
        closed = _closed_port()
        b24_cases = {
            "Bitrix24: connection refused": f"http://127.0.0.1:{closed}/rest/1/benchcode/",
            "Bitrix24: DNS failure": "http://portal.invalid/rest/1/benchcode/",
            "Bitrix24: 404 (not a webhook path)": f"{box.portal_url}/portal/rest/1/benchcode/",
            "Bitrix24: 401 (unknown webhook code)": f"{box.portal_url}/rest/1/benchcode/",
        }
        for label, url in b24_cases.items():
            conn = _clients(box, tmp, B24_WEBHOOK_URL=url)
            _case(
                label,
                lambda c=conn: c.bitrix24.call("crm.deal.list", {}),
                lambda c=conn: c.bitrix24.stats.requests,
            )
        onec_cases: dict[str, tuple[dict[str, str], str]] = {
            "1C: connection refused": (
                {"ONEC_ODATA_URL": f"http://127.0.0.1:{closed}/ut/odata/standard.odata/"},
                "Catalog_Контрагенты",
            ),
            "1C: DNS failure": (
                {"ONEC_ODATA_URL": "http://onec.invalid/ut/odata/standard.odata/"},
                "Catalog_Контрагенты",
            ),
            "1C: 404 (wrong OData path)": (
                {"ONEC_ODATA_URL": box.odata_url.replace("standard.odata", "standart.odata")},
                "Catalog_Контрагенты",
            ),
            "1C: 404 (object not published)": ({}, "Catalog_Валюты"),
            "1C: 401 (wrong password)": ({"ONEC_PASSWORD": "not-the-password"}, "Catalog_Контрагенты"),
        }
        for label, (env, entity) in onec_cases.items():
            conn = _clients(box, tmp, **env)
            _case(label, lambda c=conn, e=entity: c.odata.query(e, top=1), lambda c=conn: c.odata.requests)
        closed_env = {
            "B24_WEBHOOK_URL": f"http://127.0.0.1:{closed}/rest/1/benchcode/",
            "ONEC_ODATA_URL": f"http://127.0.0.1:{closed}/ut/odata/standard.odata/",
            "ONEC_USER": "u",
            "ONEC_PASSWORD": "p",
            "B24_1C_LEDGER": str(tmp / "cli.db"),
        }
        dns_env = {
            **closed_env,
            "B24_WEBHOOK_URL": "http://portal.invalid/rest/1/benchcode/",
            "ONEC_ODATA_URL": "http://onec.invalid/ut/odata/standard.odata/",
        }
        _command("b24-1c sync orders: both systems on a closed port", ["sync", "orders"], closed_env)
        _command("b24-1c sync orders: both hosts .invalid", ["sync", "orders"], dns_env)
        _command("b24-1c run: both systems on a closed port", ["run"], closed_env)
        _command(
            "b24-1c backfill --since 2020-01-01: closed ports",
            ["backfill", "--since", "2020-01-01"],
            closed_env,
        )
        if not args.skip_ladder:
            conn = _clients(box, tmp, B24_WEBHOOK_URL=f"http://127.0.0.1:{closed}/rest/1/benchcode/")
            conn.bitrix24.answered = (
                True  # the portal answered earlier in the run: a refusal now is a restart
            )
            _case(
                "for contrast: refused after the portal has answered once (retried as transient)",
                lambda: conn.bitrix24.call("crm.deal.list", {}),
                lambda: conn.bitrix24.stats.requests,
                goal=False,
            )


if __name__ == "__main__":
    main()
