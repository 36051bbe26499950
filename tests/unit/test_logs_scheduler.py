"""APScheduler's own log records (a job that raised) come out through the connector's structured logger."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator

import pytest
import structlog
from apscheduler.events import EVENT_JOB_ERROR, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler

from connector.logs import configure


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    configure("INFO", json=True, stream=out)
    yield out
    structlog.reset_defaults()
    logger = logging.getLogger("apscheduler")
    logger.handlers.clear()
    logger.propagate = True


def lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


def test_a_job_that_raises_is_logged_as_a_json_line_with_its_traceback(stream: io.StringIO) -> None:
    failed = threading.Event()

    def job() -> None:
        raise RuntimeError("boom at http://p.example/rest/1/schedulersecret/crm.deal.list")

    def listener(event: JobExecutionEvent) -> None:
        failed.set()

    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_listener(listener, EVENT_JOB_ERROR)
    scheduler.add_job(job, id="orders")
    scheduler.start()
    try:
        assert failed.wait(10), "the job never ran"
    finally:
        scheduler.shutdown(wait=True)
    errors = [line for line in lines(stream) if line.get("level") == "error"]
    assert len(errors) == 1, stream.getvalue()
    line = errors[0]
    assert str(line["logger"]).startswith("apscheduler.executors")
    assert "raised an exception" in str(line["event"])
    assert "RuntimeError: boom" in str(line["exception"])
    assert "schedulersecret" not in stream.getvalue()


def test_configure_twice_keeps_one_route_and_honours_the_level(stream: io.StringIO) -> None:
    configure("WARNING", json=True, stream=stream)
    logging.getLogger("apscheduler.scheduler").info("Added job")
    logging.getLogger("apscheduler.scheduler").warning("Run time of job was missed by 0:00:05")
    warned = [line for line in lines(stream) if "missed" in str(line["event"])]
    assert len(warned) == 1 and warned[0]["level"] == "warning"
    assert not [line for line in lines(stream) if line["event"] == "Added job"]
