"""The command line as a user runs it: help, check, the sandbox command, backfill killed with SIGKILL, the daemon."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import OFFLINE_ENV, ROOT

if TYPE_CHECKING:
    from b24_1c_sandbox.runner import Sandbox

pytestmark = pytest.mark.integration
COMMANDS = [
    "init",
    "check",
    "setup",
    "backfill",
    "sync",
    "run",
    "status",
    "failed",
    "history",
    "explain",
    "retry",
    "schema",
    "sandbox",
    "demo",
    "report",
    "version",
]


def cli(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path = ROOT,
    timeout: float = 120,
    base: dict[str, str] = OFFLINE_ENV,
) -> subprocess.CompletedProcess[str]:
    """`b24-1c ARGS` in its own process; `base` (default: offline addresses) and then `env` set the variables."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("B24_", "ONEC_", "CREDENTIALS_"))}
    return subprocess.run(
        [sys.executable, "-m", "connector", *args],
        cwd=cwd,
        env={**clean, **base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def write_config(
    tmp_path: Path, box: Sandbox, page_size: int = 500, batch: int = 25, every: str = "10s"
) -> Path:
    (tmp_path / "schedule.yaml").write_text(f"flows:\n  orders:\n    every: {every}\n", encoding="utf-8")
    text = (ROOT / "config.example.yaml").read_text(encoding="utf-8")
    text = text.replace("page_size: 500", f"page_size: {page_size}").replace(
        "batch_size: 25", f"batch_size: {batch}"
    )
    text = text.replace("mappings_dir: mappings", f"mappings_dir: {ROOT / 'mappings'}")
    text = text.replace("schedule: schedules/default.yaml", f"schedule: {tmp_path / 'schedule.yaml'}")
    text = re.sub(r"(?m)^flows:.*$", "flows: [counterparties, orders]", text)
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    env_file = {**box.env(), "B24_1C_LEDGER": str(tmp_path / "ledger.sqlite3"), "B24_1C_LOG_LEVEL": "WARNING"}
    (tmp_path / "env").write_text("\n".join(f"{k}={v}" for k, v in env_file.items()), encoding="utf-8")
    return path


def env_of(tmp_path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in (tmp_path / "env").read_text(encoding="utf-8").splitlines())


def test_help_explains_every_command() -> None:
    top = cli("--help")
    assert top.returncode == 0
    for command in COMMANDS:
        assert command in top.stdout
        sub = cli(command, "--help")
        assert sub.returncode == 0, sub.stderr
        assert "usage:" in sub.stdout.lower() and len(sub.stdout.splitlines()) > 3


def test_check_passes_on_the_example_and_fails_clearly_on_a_broken_copy(tmp_path: Path) -> None:
    ok = cli("check", "--config", "config.example.yaml")
    assert ok.returncode == 0, ok.stderr
    assert "ok:" in ok.stdout
    # Without the variables the example names each one and stops; nothing falls back to a sandbox.
    bare = cli("check", "--config", "config.example.yaml", base={})
    assert bare.returncode == 2, bare.stdout
    for name in ("B24_WEBHOOK_URL", "ONEC_ODATA_URL", "ONEC_USER", "ONEC_PASSWORD"):
        assert f"environment variable {name} is not set" in bare.stderr
    assert "ok:" not in bare.stdout
    broken = (
        (ROOT / "config.example.yaml")
        .read_text(encoding="utf-8")
        .replace("  page_size: 500", "  pagesize: 500")
    )
    broken = broken.replace("mappings_dir: mappings", f"mappings_dir: {ROOT / 'mappings'}")
    broken = broken.replace("plan: ${B24_PLAN:-standard}", "plan: platinum")
    (tmp_path / "config.yaml").write_text(broken, encoding="utf-8")
    bad = cli("check", "--config", str(tmp_path / "config.yaml"))
    assert bad.returncode == 2
    assert f"{tmp_path / 'config.yaml'}:" in bad.stderr
    assert "onec.pagesize: unknown key; did you mean 'page_size'?" in bad.stderr
    assert "bitrix24.plan" in bad.stderr  # both problems at once


def test_check_reports_broken_mappings_and_schedules(tmp_path: Path) -> None:
    (tmp_path / "mappings").mkdir()
    text = (
        (ROOT / "mappings" / "orders.yaml")
        .read_text(encoding="utf-8")
        .replace("type: money", "type: currency")
    )
    (tmp_path / "mappings" / "orders.yaml").write_text(text, encoding="utf-8")
    (tmp_path / "schedules").mkdir()
    (tmp_path / "schedules" / "default.yaml").write_text("flows:\n  orders:\n    every: 5 minutes\n", "utf-8")
    (tmp_path / "config.yaml").write_text((ROOT / "config.example.yaml").read_text(encoding="utf-8"), "utf-8")
    bad = cli("check", "--config", str(tmp_path / "config.yaml"))
    assert bad.returncode == 2
    assert "orders.yaml" in bad.stderr and "type" in bad.stderr and "'money'" in bad.stderr
    assert "default.yaml" in bad.stderr and "every must look like" in bad.stderr


@pytest.fixture
def box() -> Iterator[Sandbox]:
    from b24_1c_sandbox.runner import Sandbox, SandboxOptions

    with Sandbox(SandboxOptions(orders=300, seed=5, rate_limit="off")) as sandbox:
        yield sandbox


def test_backfill_killed_with_sigkill_resumes_without_duplicates(tmp_path: Path, box: Sandbox) -> None:
    """SIGKILL at several points of a backfill; each rerun continues; in the end every order is in Bitrix24 once."""
    config = write_config(tmp_path, box, page_size=20, batch=5)
    env = env_of(tmp_path)
    assert cli("setup", "--config", str(config), env=env).returncode == 0
    eligible = {
        o["Ref_Key"]
        for o in box.infobase.all("Document_ЗаказКлиента")
        if o["Posted"] and not o["DeletionMark"]
    }
    from b24_1c_sandbox.faults import FaultInjector

    box.portal.faults = FaultInjector({"latency": 1.0}, latency=0.01)  # slow enough to be killed mid-run
    kills = 0
    log = tmp_path / "runs.log"
    for target in (20, 90, 160):
        with log.open("a") as sink:
            proc = subprocess.Popen(
                [sys.executable, "-m", "connector", "backfill", "--config", str(config)],
                cwd=ROOT,
                env={**os.environ, **env},
                stdout=sink,
                stderr=sink,
            )
            deadline = time.monotonic() + 60
            while (
                len(box.portal.entities["deal"]) < target
                and proc.poll() is None
                and time.monotonic() < deadline
            ):
                time.sleep(0.002)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait(timeout=10)
    assert kills >= 2, log.read_text()
    box.portal.faults = None
    final = cli("backfill", "--config", str(config), env=env)
    assert final.returncode == 0, final.stderr
    origins = Counter(d["ORIGIN_ID"] for d in box.portal.deals())
    assert set(origins) == eligible
    assert max(origins.values()) == 1, [k for k, v in origins.items() if v > 1]


def _stop(proc: subprocess.Popen[str], signum: int) -> None:
    """Send `signum` and wait 20 s for the exit; past that, kill it (not left running into the next test) and fail."""
    proc.send_signal(signum)
    try:
        proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate(timeout=20)
        raise


def test_sandbox_command_prints_ready_lines_and_keeps_state(tmp_path: Path) -> None:
    def start() -> tuple[subprocess.Popen[str], list[str]]:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "connector",
                "sandbox",
                "--bitrix24-port",
                "0",
                "--onec-port",
                "0",
                "--orders",
                "30",
                "--state",
                str(tmp_path / "st"),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        lines = [proc.stdout.readline().strip(), proc.stdout.readline().strip()]
        return proc, lines

    proc, lines = start()
    try:
        assert lines[0].startswith("bitrix24 ready: http://127.0.0.1:") and lines[0].endswith("/")
        assert (
            lines[1].startswith("onec ready: http://127.0.0.1:")
            and "user=Администратор password=sandbox" in lines[1]
        )
        import requests

        hook = lines[0].split(": ", 1)[1]
        deal = requests.post(
            hook + "crm.deal.add.json", json={"fields": {"TITLE": "Сделка из теста"}}, timeout=10
        )
        assert deal.status_code == 200
        deal_id = deal.json()["result"]
    finally:
        _stop(proc, signal.SIGTERM)
    assert proc.returncode == 0
    proc, lines = start()
    try:
        hook = lines[0].split(": ", 1)[1]
        got = requests.post(hook + "crm.deal.get.json", json={"id": deal_id}, timeout=10).json()
        assert got["result"]["TITLE"] == "Сделка из теста"
    finally:
        _stop(proc, signal.SIGINT)
    assert proc.returncode == 0


def test_daemon_runs_flows_stops_on_sigterm_and_refuses_a_second_instance(
    tmp_path: Path, box: Sandbox
) -> None:
    config = write_config(tmp_path, box)
    env = env_of(tmp_path)
    assert cli("setup", "--config", str(config), env=env).returncode == 0
    assert cli("backfill", "--config", str(config), env=env).returncode == 0
    assert box.dataset is not None
    from datetime import timedelta

    new = box.dataset.order(box.infobase.now().replace(microsecond=0) - timedelta(minutes=1))
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector", "run", "--config", str(config)],
        cwd=ROOT,
        env={**os.environ, **env, "B24_1C_LOG_LEVEL": "INFO"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while (
            not any(d["ORIGIN_ID"] == new["Ref_Key"] for d in box.portal.deals())
            and time.monotonic() < deadline
        ):
            assert proc.poll() is None, proc.communicate()[1]
            time.sleep(0.05)
        second = cli("sync", "--config", str(config), env=env)
        assert second.returncode == 4
        assert "another b24-1c process" in second.stderr and "stop it first" in second.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert any(d["ORIGIN_ID"] == new["Ref_Key"] for d in box.portal.deals())
    assert "stopping" in stderr and "daemon stopped" in stderr


def test_dry_run_prints_a_reviewable_diff_and_writes_nothing(tmp_path: Path, box: Sandbox) -> None:
    from datetime import timedelta

    config = write_config(tmp_path, box)
    env = env_of(tmp_path)
    recent = box.dataset.order(box.infobase.now().replace(microsecond=0) - timedelta(days=1))
    assert cli("setup", "--config", str(config), env=env).returncode == 0
    assert cli("backfill", "--config", str(config), env=env).returncode == 0
    box.dataset.edit_order(recent["Ref_Key"])
    fresh = box.dataset.order(box.infobase.now().replace(microsecond=0) - timedelta(hours=2))
    before = len(box.portal.calls)
    plan = cli("sync", "orders", "--dry-run", "--config", str(config), env=env)
    assert plan.returncode == 0, plan.stderr
    writes = [c for c in box.portal.calls[before:] if c.method.endswith((".add", ".update", ".set"))]
    assert writes == []
    deal = next(d for d in box.portal.deals() if d["ORIGIN_ID"] == recent["Ref_Key"])
    edited = box.infobase.get("Document_ЗаказКлиента", recent["Ref_Key"])
    assert f"~ update {deal['ID']}: Document_ЗаказКлиента {recent['Number']}" in plan.stdout
    assert f"OPPORTUNITY: '{deal['OPPORTUNITY']}' → '{edited['СуммаДокумента']:.2f}'" in plan.stdout
    assert f"+ create: Document_ЗаказКлиента {fresh['Number']}" in plan.stdout
    assert "TITLE:" not in plan.stdout.split(f"~ update {deal['ID']}")[1].split("+ create")[0]  # unchanged
