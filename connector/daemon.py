"""`b24-1c run`: APScheduler 3.x runs each flow on its schedule; SIGTERM/SIGINT stop it after the current page."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.blocking import BlockingScheduler

from connector.app import Connector
from connector.errors import ConnectorError, LedgerError, StopRun
from connector.logs import get_logger
from connector.schedule import FlowSchedule

log = get_logger(__name__)


class Daemon:
    """Schedules flows; one instance per ledger (the Connector holds the lock)."""

    def __init__(
        self,
        connector: Connector,
        schedule: dict[str, FlowSchedule],
        on_cycle: Callable[[str, Any], None] | None = None,
    ) -> None:
        self.connector = connector
        self.schedule = schedule
        self.on_cycle = on_cycle
        self.scheduler = BlockingScheduler(
            timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300}
        )
        self.cycles = 0
        self.fatal: LedgerError | None = None  # the ledger cannot be used: the daemon stops and `run` exits 5
        self._lock = threading.Lock()

    def run_flow(self, flow: str) -> None:
        """One incremental cycle of one flow; errors are logged, the daemon goes on."""
        if self.connector.stop.is_set():
            return
        try:
            report = self.connector.runner(flow).incremental(self.connector.config.sync.lookback_days)
            log.info("cycle done", **report.as_dict())
            if self.on_cycle:
                self.on_cycle(flow, report)
        except LedgerError as exc:
            # Every flow needs the ledger: stop them all (systemd does not restart on this exit code).
            log.error("stopping: the ledger cannot be used", flow=flow, error=str(exc))
            self.fatal = exc
            self.connector.stop.set()
            threading.Thread(target=self.scheduler.shutdown, kwargs={"wait": True}, daemon=True).start()
        except StopRun as exc:
            log.error("cycle stopped", flow=flow, error=str(exc))
        except ConnectorError as exc:
            log.warning("cycle failed; the next one retries", flow=flow, error=str(exc))
        finally:
            with self._lock:
                self.cycles += 1

    def _signal(self, signum: int, frame: FrameType | None) -> None:
        log.info("stopping: finishing the current page", signal=signal.Signals(signum).name)
        self.connector.stop.set()
        threading.Thread(target=self.scheduler.shutdown, kwargs={"wait": True}, daemon=True).start()

    def _event(self, event: JobExecutionEvent) -> None:
        if event.code == EVENT_JOB_MISSED:
            log.warning("a scheduled run was missed (the previous one was still running)", job=event.job_id)
        elif event.exception is not None:
            log.error("a scheduled run crashed", job=event.job_id, error=repr(event.exception))

    def start(self, install_signals: bool = True) -> None:
        """Block until stopped; every flow also runs once right away."""
        if install_signals:
            signal.signal(signal.SIGTERM, self._signal)
            signal.signal(signal.SIGINT, self._signal)
        for flow, when in self.schedule.items():
            self.scheduler.add_job(
                self.run_flow,
                when.trigger(),  # cron in the schedule's zone (default: the server's), jitter included
                args=[flow],
                id=flow,
                name=f"flow {flow}",
                next_run_time=self.connector.clock.now(),
            )
        self.scheduler.add_listener(self._event, EVENT_JOB_ERROR | EVENT_JOB_MISSED)
        log.info("daemon started", flows={f: (s.every or s.cron) for f, s in self.schedule.items()})
        self.scheduler.start()
        log.info("daemon stopped")
        if self.fatal is not None:
            raise self.fatal
