"""`b24-1c run`: APScheduler 3.x runs each flow on its schedule; SIGTERM/SIGINT stop it after the current page.

Under systemd (Type=notify) it says READY after the first successful cycle, pings the watchdog from the scheduler
loop and says STOPPING on shutdown. Beside the ledger it keeps `<ledger>.daemon.json` (pid, per flow the last
success, last error and next run) for `b24-1c status`, which runs in another process."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from types import FrameType
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from connector.alerts import Alerts
from connector.app import Connector
from connector.errors import ConnectorError, LedgerError, StopRun
from connector.logs import get_logger
from connector.metrics import Metrics
from connector.notify import Notifier
from connector.schedule import FlowSchedule
from connector.status import state_path
from connector.webstatus import WebStatus

__all__ = ["Daemon", "FlowState", "state_path"]

log = get_logger(__name__)


@dataclass
class FlowState:
    """What the daemon knows about one flow since it started."""

    schedule: str
    last_success: str | None = None
    last_error: str | None = None
    last_error_at: str | None = None
    next_run: str | None = None
    cycles: int = 0
    failed_cycles: int = 0


class Daemon:
    """Schedules flows; one instance per ledger (the Connector holds the lock)."""

    def __init__(
        self,
        connector: Connector,
        schedule: dict[str, FlowSchedule],
        on_cycle: Callable[[str, Any], None] | None = None,
        notifier: Notifier | None = None,
        http: tuple[str, int] | None = None,
        alerts: Alerts | None = None,
    ) -> None:
        self.connector = connector
        self.schedule = schedule
        self.on_cycle = on_cycle
        self.notifier = notifier or Notifier()
        self.scheduler = BlockingScheduler(
            timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300}
        )
        self.cycles = 0
        self.fatal: LedgerError | None = None  # the ledger cannot be used: the daemon stops and `run` exits 5
        self.ready = False
        self.started_at = connector.clock.now()
        self.flows = {f: FlowState(schedule=s.every or f"cron {s.cron}") for f, s in schedule.items()}
        self.http = http
        self.metrics = Metrics(connector, self)
        self.web: WebStatus | None = None
        self.http_address: tuple[str, int] | None = None
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        # Cycles running now (guarded by _idle): start() waits for them before it cleans up.
        self._in_cycle = 0
        self._idle = threading.Condition()
        self.alerts = alerts  # built on the first cycle from the connector when not given

    def run_flow(self, flow: str) -> None:
        """One incremental cycle of one flow; errors are logged, the daemon goes on."""
        with self._idle:
            if self.connector.stop.is_set():
                return
            self._in_cycle += 1
        try:
            self._cycle(flow)
        finally:
            with self._idle:
                self._in_cycle -= 1
                self._idle.notify_all()

    def _cycle(self, flow: str) -> None:
        error: str | None = None
        failure: Exception | None = None
        try:
            report = self.connector.runner(flow).incremental(self.connector.config.sync.lookback_days)
            facts = report.as_dict()
            busy = any(facts.get(k) for k in ("created", "updated", "failed", "recovered", "deleted"))
            # Idle cycles are silent (DEBUG): the journal shows what changed, not every tick.
            (log.info if busy else log.debug)("cycle done", **facts)
            self.metrics.record(flow, report)
            if self.on_cycle:
                self.on_cycle(flow, report)
        except LedgerError as exc:
            failure = exc
            # Every flow needs the ledger: stop them all (systemd does not restart on this exit code).
            log.error("stopping: the ledger cannot be used", flow=flow, error=str(exc))
            error = str(exc)
            self.fatal = exc
            self.notifier.stopping(f"the ledger cannot be used: {exc}")
            self._stop()
        except StopRun as exc:
            failure = exc
            log.error("cycle stopped", flow=flow, error=str(exc))
            error = str(exc)
        except ConnectorError as exc:
            failure = exc
            log.warning("cycle failed; the next one retries", flow=flow, error=str(exc))
            error = str(exc)
        finally:
            self._record(flow, error)
            self._alert(flow, failure)

    def _alert(self, flow: str, failure: Exception | None) -> None:
        """Alert conditions after the cycle (connector/alerts); a failure here is logged, the daemon goes on."""
        try:
            if self.alerts is None:
                c = self.connector
                self.alerts = Alerts(
                    c.config, c.ledger, c.clock, c.traffic, lambda m, p: c.bitrix24.call(m, p, write=True)
                )
            if self.fatal is None:
                self.alerts.after_cycle(flow, failure)
            elif failure is self.fatal:  # the daemon stops (exit 5): say so once, around the ledger
                self.alerts.emergency("ledger", f"b24-1c stopped: the ledger cannot be used: {failure}")
        except Exception as exc:  # alerting must never stop the flows
            log.warning("cannot evaluate alerts", flow=flow, error=str(exc))

    def _record(self, flow: str, error: str | None) -> None:
        """Count the cycle, note its result for `status`, and tell systemd we are up after the first success."""
        now = self.connector.clock.now().isoformat()
        with self._lock:
            self.cycles += 1
            state = self.flows.setdefault(flow, FlowState(schedule="?"))
            state.cycles += 1
            if error is None:
                state.last_success = now
            else:
                state.failed_cycles += 1
                state.last_error, state.last_error_at = error, now
                self.metrics.failed_cycle(flow)
            first = error is None and not self.ready
            self.ready = self.ready or error is None
        self.write_state()
        if first:
            self.notifier.ready(f"running {len(self.schedule)} flow(s); first cycle done ({flow})")

    def write_state(self) -> None:
        """`<ledger>.daemon.json`, replaced atomically; a failure to write it is logged, never fatal."""
        with self._lock:
            for flow, state in self.flows.items():
                job = self.scheduler.get_job(flow) if self.scheduler.running else None
                when: datetime | None = getattr(job, "next_run_time", None)
                state.next_run = when.isoformat() if when else None
            data = {
                "pid": os.getpid(),
                "started_at": self.started_at.isoformat(),
                "written_at": self.connector.clock.now().isoformat(),
                "flows": {f: asdict(s) for f, s in self.flows.items()},
            }
        path = state_path(self.connector.config.ledger_path)
        tmp = path.with_name(path.name + ".tmp")
        try:
            with self._write_lock:  # flows finish in several threads; one writer of the file at a time
                tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
                os.replace(tmp, path)
        except OSError as exc:
            log.warning("cannot write the daemon state for b24-1c status", file=str(path), error=str(exc))

    def _watchdog(self) -> None:
        self.notifier.watchdog()

    def _signal(self, signum: int, frame: FrameType | None) -> None:
        log.info("stopping: finishing the current page", signal=signal.Signals(signum).name)
        self.notifier.stopping(f"stopping on {signal.Signals(signum).name}: finishing the current page")
        self._stop()

    def _stop(self) -> None:
        """Ask every flow to stop after its current page and end the scheduler loop; start() then waits for the
        cycles still running.

        Never `shutdown(wait=True)`: APScheduler 3 holds its job-store lock while it joins the running jobs
        (schedulers/base.py, `with self._executors_lock, self._jobstores_lock: executor.shutdown(wait)`), and a
        cycle that ends meanwhile asks the scheduler for its next run (write_state -> get_job, the same lock): the
        two waited for each other and the daemon hung instead of exiting 5. From a thread, so a signal handler does
        not re-enter the scheduler loop it interrupted."""
        self.connector.stop.set()
        threading.Thread(target=self._shutdown_scheduler, name="daemon stop", daemon=True).start()

    def _shutdown_scheduler(self) -> None:
        # A second stop (a signal after a ledger error, two failing flows) finds it stopped already.
        with contextlib.suppress(SchedulerNotRunningError):
            self.scheduler.shutdown(wait=False)

    def _wait_for_cycles(self) -> None:
        """After the scheduler loop ended: the cycles still running finish their current page (the stop is set).
        Until then the state file, the ledger and the exit code wait; systemd's stop timeout bounds this."""
        with self._idle:
            while self._in_cycle:
                if not self._idle.wait(30):
                    log.info(
                        "stopping: waiting for cycles to finish their current page", running=self._in_cycle
                    )

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
        if self.notifier.watchdog_seconds:
            # From the scheduler loop: if the scheduler stops ticking, systemd restarts the service.
            self.scheduler.add_job(
                self._watchdog,
                IntervalTrigger(seconds=self.notifier.watchdog_seconds),
                id="watchdog",
                name="systemd watchdog",
                next_run_time=self.connector.clock.now(),
            )
        self.scheduler.add_listener(self._event, EVENT_JOB_ERROR | EVENT_JOB_MISSED)
        log.info("daemon started", flows={f: (s.every or s.cron) for f, s in self.schedule.items()})
        self.notifier.status(f"starting {len(self.schedule)} flow(s): the first cycles are running")
        if self.http is not None:
            self.web = WebStatus(self.connector, self, self.metrics)
            self.http_address = self.web.start(*self.http)
        try:
            self.scheduler.start()
            self._wait_for_cycles()
        finally:
            if self.web is not None:
                self.web.stop()
            log.info("daemon stopped")
            self.notifier.stopping("stopped")
            self.notifier.close()
            state_path(self.connector.config.ledger_path).unlink(missing_ok=True)
        if self.fatal is not None:
            raise self.fatal
