"""(i) `b24-1c verify` when a host does not answer: seconds to the verdict and connection attempts, against the sync's
Bitrix24 client (retries with backoff) on the same closed port; and the time of a full checklist on a ready sandbox.

Three hosts that do not answer: a closed port (connection refused), a host that accepts the connection and never
replies (a listening socket nobody reads; verify waits at most FIRST_REPLY_TIMEOUT), and both systems down at once
(probed in parallel). The goal is a verdict on a silent host within 5 s; the whole checklist also runs the other
system's checks (about 1-2 s here, the first ~1 s being the contract's load); the sync client is shown for contrast
(it used to back off for about 16 s on a refused port; it now stops after one attempt at a command's start, see
bench_unreachable.py). Figures only; the tests assert the attempts, never the time.

    .venv/bin/python benchmarks/bench_verify_unreachable.py [--skip-sync-client]
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from common import figure, header, ratio  # noqa: E402

GOAL_SECONDS = 5.0


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _timed_verify(box: object, tmp: Path, label: str, **env: str) -> None:
    from connector.verify import verify
    from tests.conftest import make_config

    config = make_config(box, tmp / "l.db", **env)  # type: ignore[arg-type]
    start = time.monotonic()
    found = verify(config)
    seconds = time.monotonic() - start
    header(label)
    figure("seconds to the checklist", seconds, "s")
    figure("HTTP attempts (Bitrix24, 1C)", f"{found.attempts['Bitrix24']}, {found.attempts['1C']}")
    figure("systems not checked", ", ".join(found.unreachable) or "-")
    figure("problems listed", len(found.problems))
    if found.unreachable:
        ratio(
            "seconds / goal",
            seconds / GOAL_SECONDS,
            f"<= 100% of {GOAL_SECONDS:g} s",
            seconds <= GOAL_SECONDS,
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--skip-sync-client", action="store_true", help="do not time the sync's retrying client")
    args = p.parse_args()
    from b24_1c_sandbox.runner import Sandbox, SandboxOptions

    from connector.app import Connector
    from tests.conftest import make_config

    with (
        tempfile.TemporaryDirectory() as tmp_name,
        Sandbox(SandboxOptions(orders=80, seed=11, rate_limit="off")) as box,
    ):
        tmp = Path(tmp_name)
        closed = _closed_port()
        _timed_verify(
            box, tmp, "closed Bitrix24 port", B24_WEBHOOK_URL=f"http://127.0.0.1:{closed}/rest/1/x/"
        )
        _timed_verify(
            box,
            tmp,
            "both systems on closed ports",
            B24_WEBHOOK_URL=f"http://127.0.0.1:{closed}/rest/1/x/",
            ONEC_ODATA_URL=f"http://127.0.0.1:{_closed_port()}/ut/odata/standard.odata/",
        )
        with socket.socket() as silent:
            silent.bind(("127.0.0.1", 0))
            silent.listen(8)
            port = silent.getsockname()[1]
            url = f"http://127.0.0.1:{port}/ut/odata/standard.odata/"
            from connector.verify.transport import ShortSession, reach

            start = time.monotonic()
            reason = reach(ShortSession(60.0), url)
            seconds = time.monotonic() - start
            header("1C accepts the connection and never answers: the probe alone")
            figure("seconds to the verdict", seconds, "s")
            figure("verdict", reason)
            ratio(
                "seconds / goal",
                seconds / GOAL_SECONDS,
                f"<= 100% of {GOAL_SECONDS:g} s",
                seconds <= GOAL_SECONDS,
            )
            _timed_verify(
                box, tmp, "the same, whole checklist (Bitrix24's checks run meanwhile)", ONEC_ODATA_URL=url
            )
        with Connector(make_config(box, tmp / "ready.db")) as conn:
            conn.setup()
        _timed_verify(box, tmp, "ready sandbox (every check, for scale)")
        if not args.skip_sync_client:
            from connector.errors import ConnectorError

            config = make_config(box, tmp / "sync.db", B24_WEBHOOK_URL=f"http://127.0.0.1:{closed}/rest/1/x/")
            with Connector(config, lock=False) as conn:
                start = time.monotonic()
                try:
                    conn.bitrix24.call("server.time")
                except ConnectorError as exc:
                    message = str(exc)
                seconds = time.monotonic() - start
                header("for contrast: the sync's Bitrix24 client on the closed port")
                figure("seconds until it gives up", seconds, "s")
                figure("attempts", conn.bitrix24.stats.requests)
                figure("its message", message[:100] + ("…" if len(message) > 100 else ""))


if __name__ == "__main__":
    main()
