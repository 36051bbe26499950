"""1C's failures in the metrics: 5xx replies by status, timeouts and broken connections are counted per kind over
real HTTP (the sandbox's fault injection); a business error (500, code -1) is the record's, not the server's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from b24_1c_sandbox.faults import FaultInjector

from connector.app import Connector
from connector.errors import ConnectorError, RemoteRejected
from connector.metrics import Metrics
from tests.conftest import make_config

pytestmark = pytest.mark.integration
ENTITY = "Catalog_Номенклатура"


def _fails(call: Any) -> None:
    with pytest.raises(ConnectorError):
        call()


def test_onec_5xx_timeouts_and_resets_are_counted_per_kind_in_the_metrics(
    sandbox: Any, tmp_path: Path
) -> None:
    faults = FaultInjector()
    sandbox.onec_app.faults = faults
    with Connector(make_config(sandbox, tmp_path / "ledger.sqlite3")) as conn:
        odata = conn.odata
        odata.max_attempts = 1  # one request per fault, no retry sleeps
        item = odata.query(ENTITY, top=1, select=["Ref_Key", "Description"])[0]
        for kind in ("error500", "html502", "html504", "reset"):
            faults.force(kind, ENTITY)
            _fails(lambda: odata.query(ENTITY, top=1))
        faults.force("lost_timeout", ENTITY)
        odata.timeout = 0.5  # the emulator holds this reply until the client gives up
        _fails(lambda: odata.update(ENTITY, item["Ref_Key"], {"Description": item["Description"]}))
        odata.timeout = 60.0
        # A business error (500, code -1): 1C refused to post an order without a counterparty, its server is fine.
        order = odata.create("Document_ЗаказКлиента", {"Date": "2024-01-10T10:00:00"})
        with pytest.raises(RemoteRejected) as refused:
            odata.post_document("Document_ЗаказКлиента", order["Ref_Key"])
        assert refused.value.code == "-1"
        text = Metrics(conn).render().decode()
    counted = {
        line.split("{", 1)[1].split("}", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("b24_1c_failed_requests_total{")
    }
    assert counted == {
        'kind="500",system="1c"': 1.0,
        'kind="502",system="1c"': 1.0,
        'kind="504",system="1c"': 1.0,
        'kind="connection",system="1c"': 1.0,
        'kind="timeout",system="1c"': 1.0,
    }
