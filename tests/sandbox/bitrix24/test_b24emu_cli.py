"""Issue 3, point 8: `b24-1c sandbox` takes plan, scale, seeds, faults and TLS flags and prints the CA file."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.integration


def test_sandbox_command_with_tls_plan_and_faults() -> None:
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
            "3",
            "--rate-limit",
            "enterprise",
            "--scale",
            "2",
            "--faults",
            "light",
            "--fault-seed",
            "4",
            "--tls",
            "--https-required",
            "--budget-scale",
            "2",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        # Exactly the two "ready" lines on stdout; the TLS and OAuth notes on stderr.
        lines = [proc.stdout.readline() for _ in range(2)]
        notes = [proc.stderr.readline() for _ in range(2)]
        url = lines[0].split("bitrix24 ready: ")[1].strip()
        ca = notes[0].split("trust the CA in ")[1].split(" ")[0]
        assert url.startswith("https://127.0.0.1:") and Path(ca).exists()
        assert "oauth: client_id=" in notes[1] and lines[1].startswith("onec ready:")
        statuses = set()
        for _ in range(5):
            try:
                statuses.add(
                    requests.post(url + "crm.deal.fields", json={}, verify=ca, timeout=10).status_code
                )
            except requests.ConnectionError:
                statuses.add(0)
        assert 200 in statuses
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0
