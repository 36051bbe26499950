"""`b24-1c backfill` stopped with SIGTERM as systemd or a terminal would: it finishes the page being written, says
what was committed and how to resume, exits 3; run again, it resumes, and every order is in Bitrix24 once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import ROOT
from tests.integration.test_cli import box, cli, env_of, write_config

if TYPE_CHECKING:
    from b24_1c_sandbox.runner import Sandbox

pytestmark = [pytest.mark.integration, pytest.mark.slow]
__all__ = ["box"]  # the sandbox fixture


def test_sigterm_stops_backfill_after_a_committed_page_and_the_rerun_resumes(
    tmp_path: Path, box: Sandbox
) -> None:
    config = write_config(tmp_path, box, page_size=20, batch=5)
    env = env_of(tmp_path)
    assert cli("setup", "--config", str(config), env=env).returncode == 0
    from b24_1c_sandbox.faults import FaultInjector

    box.portal.faults = FaultInjector({"latency": 1.0}, latency=0.01)  # slow enough to be stopped mid-run
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector", "backfill", "counterparties", "orders", "--config", str(config)],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while len(box.portal.entities["deal"]) < 20 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    assert proc.poll() is None, "the backfill ended before it could be stopped"
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 3, stderr
    assert "SIGTERM: stopping once the page being written is committed" in stderr
    assert "stopped by SIGTERM after a committed page: orders:" in stderr
    assert "Run the same command again to resume" in stderr
    assert "Traceback" not in stderr
    stopped_at = len(box.portal.entities["deal"])
    assert (
        0 < stopped_at < len({o["Ref_Key"] for o in box.infobase.all("Document_ЗаказКлиента") if o["Posted"]})
    )
    box.portal.faults = None
    again = cli("backfill", "--flow", "counterparties", "--flow", "orders", "--config", str(config), env=env)
    assert again.returncode == 0, again.stderr
    eligible = {
        o["Ref_Key"]
        for o in box.infobase.all("Document_ЗаказКлиента")
        if o["Posted"] and not o["DeletionMark"]
    }
    origins = Counter(d["ORIGIN_ID"] for d in box.portal.deals())
    assert set(origins) == eligible and max(origins.values()) == 1
