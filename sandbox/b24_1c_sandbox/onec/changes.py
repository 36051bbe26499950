"""`POST SelectChanges` / `POST NotifyChangesReceived` of the standard interface (DOC §17.4.13.3).

`DataExchangePoint` is the full URL of the node (`'…/ExchangePlan_ДляCRM(guid'…')'`, nested quotes undoubled as
in DOC; the doubled form works too). The package is an atom feed (entries, deletions as `at:deleted-entry`), or
JSON `value[]` with `$format=json` where each item carries `odata.type`/`odata.id` and deletions are
`{"odata.id": …, "odata.deleted": true}` [I: the JSON form of deletions is not documented]. `$top` and
`$filter` are ignored, as on real bases.
"""

from __future__ import annotations

import json
import re

from b24_1c_sandbox.onec import atom
from b24_1c_sandbox.onec.errors import ODataError
from b24_1c_sandbox.onec.infobase import Infobase
from b24_1c_sandbox.onec.shaping import View, shape

_NODE = re.compile(r"(?P<plan>ExchangePlan_[^(/]+)\(guid'{1,2}(?P<ref>[0-9a-fA-F-]{36})'{1,2}\)")


def _node(ib: Infobase, options: dict[str, str]) -> tuple[str, int]:
    point = options.get("dataexchangepoint", "")
    match = _NODE.search(point)
    if not match:
        raise ODataError(400, "12", "Не указан обязательный параметр метода: DataExchangePoint")
    if match["plan"] != ib.config.exchange_plan or ib.get(match["plan"], match["ref"].lower()) is None:
        raise ODataError(404, "9", "Экземпляр сущности не найден")
    raw = options.get("messageno", "")
    if not raw.isdigit():
        raise ODataError(400, "12", "Не указан обязательный параметр метода: MessageNo")
    return match["ref"].lower(), int(raw)


def handle(
    ib: Infobase, method: str, options: dict[str, str], wants_json: bool, root: str
) -> tuple[int, bytes, str]:
    """(status, body, content type) of a SelectChanges / NotifyChangesReceived call."""
    node, message_no = _node(ib, options)
    if method == "NotifyChangesReceived":
        ib.changes.notify(node, message_no)
        return 200, b"", "text/plain;charset=utf-8"
    items = ib.changes.select(node, message_no)
    now = ib.now().replace(microsecond=0).isoformat()
    if wants_json:
        value = []
        for entity, ref, record in items:
            ident = f"{root}{entity}(guid'{ref}')"
            if record is None:
                value.append({"odata.id": ident, "odata.deleted": True})
            else:
                value.append(
                    {
                        "odata.type": f"StandardODATA.{entity}",
                        "odata.id": ident,
                        **shape(ib, entity, record, View(root=root)),
                    }
                )
        body = {"odata.metadata": f"{root}$metadata", "value": value}
        return 200, json.dumps(body, ensure_ascii=False).encode(), "application/json;charset=utf-8"
    parts = []
    for entity, ref, record in items:
        if record is None:
            parts.append(atom.deleted(root, entity, ref, now))
        else:
            edm = dict(ib.types[entity].properties).get
            parts.append(
                atom.entry(
                    root,
                    entity,
                    shape(ib, entity, record, View(root=root)),
                    edm,
                    list(ib.types[entity].refs),
                    now,
                )
            )
    return 200, atom.feed(root, "SelectChanges", parts, now), "application/atom+xml;type=feed;charset=utf-8"
