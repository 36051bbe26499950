"""A second 1C base beside a running sandbox: several 1C bases (or organisations) synced into one Bitrix24 portal.

The portal stays the sandbox's; this starts another 1C publication on its own loopback port, with its own dataset,
and can give it a counterparty the first base also has (the same ИНН, КПП and name under its own Ref_Key), as when
one customer buys from two companies of a group that keep separate 1C bases.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from b24_1c_sandbox.dataset import Dataset, generate
from b24_1c_sandbox.http import HTTPService
from b24_1c_sandbox.onec.app import ODataApp
from b24_1c_sandbox.onec.infobase import Infobase
from b24_1c_sandbox.runner import ONEC_PASSWORD, ONEC_USER, Sandbox

COUNTERPARTY = "Catalog_Контрагенты"
ORDER = "Document_ЗаказКлиента"


@dataclass
class BaseOptions:
    """What differs between the bases: the publication's name (part of the URL and of the derived installation
    id), the dataset's size and seed."""

    base: str = "north"
    orders: int = 40
    seed: int = 23
    port: int = 0


class OneCBase:
    """One more 1C publication on 127.0.0.1 next to `box` (same clock, profile and time zone as its first base)."""

    def __init__(self, box: Sandbox, options: BaseOptions | None = None) -> None:
        self.box = box
        self.options = options or BaseOptions()
        o, bo = self.options, box.options
        if o.base == "ut":
            raise ValueError(
                "the sandbox's first base is already published as 'ut': name the second otherwise"
            )
        self.infobase = Infobase(
            bo.onec_profile, users={ONEC_USER: ONEC_PASSWORD}, timezone=bo.onec_timezone, clock=box.clock
        )
        self.dataset: Dataset = generate(self.infobase, o.orders, seed=o.seed, now=bo.now)
        self.app = ODataApp(self.infobase, o.base)
        self._service: HTTPService | None = None

    def start(self) -> OneCBase:
        self._service = HTTPService(self.app, self.options.port).start()
        return self

    def stop(self) -> None:
        if self._service is not None:
            self._service.stop()
            self._service = None

    def __enter__(self) -> OneCBase:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def odata_url(self) -> str:
        assert self._service is not None, "start() the base first"
        return f"{self._service.url}/{self.options.base}/odata/standard.odata/"

    def env(self) -> dict[str, str]:
        """The sandbox's variables with the 1C ones pointing at this base (the portal is the same)."""
        ws = self.odata_url.replace("/odata/standard.odata/", "/ws/CrmExchange.1cws")
        return {
            **self.box.env(),
            "ONEC_ODATA_URL": self.odata_url,
            "ONEC_SOAP_URL": ws + "?wsdl",
            "ONEC_SOAP_ENDPOINT": ws,
        }

    def share_counterparty(self, same_name: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
        """Make one counterparty of this base the same legal entity as one of the first base (ИНН and КПП; the
        names too when `same_name`), each with posted orders in its own base; returns (the first base's, this
        base's) as they are now."""
        first = _with_orders(self.box.infobase)
        taken = {str(c["ИНН"]) for c in self.box.infobase.all(COUNTERPARTY)}
        mine = _with_orders(self.infobase, exclude_inn=taken)
        names = ("Description", "НаименованиеПолное") if same_name else ()
        same: dict[str, Any] = {k: first[k] for k in ("ИНН", "КПП", *names) if k in first}
        self.infobase.update(COUNTERPARTY, str(mine["Ref_Key"]), same)
        updated = self.infobase.get(COUNTERPARTY, str(mine["Ref_Key"]))
        assert updated is not None
        return first, updated


def _with_orders(ib: Infobase, exclude_inn: set[str] | None = None) -> dict[str, Any]:
    """A company (a 10-digit ИНН with a КПП, no branch sharing its ИНН) with posted orders, most orders first."""
    parties = ib.all(COUNTERPARTY)
    per_inn: dict[str, int] = {}
    for c in parties:
        per_inn[str(c.get("ИНН") or "")] = per_inn.get(str(c.get("ИНН") or ""), 0) + 1
    counts: dict[str, int] = {}
    for order in ib.all(ORDER):
        if order.get("Posted") and not order.get("DeletionMark"):
            ref = str(order.get("Контрагент_Key"))
            counts[ref] = counts.get(ref, 0) + 1
    fit = [
        c
        for c in parties
        if len(str(c.get("ИНН") or "")) == 10
        and c.get("КПП")
        and per_inn[str(c["ИНН"])] == 1
        and str(c["ИНН"]) not in (exclude_inn or set())
        and counts.get(str(c["Ref_Key"]))
    ]
    if not fit:
        raise ValueError("no company with posted orders in this base: generate more orders")
    return max(fit, key=lambda c: (counts[str(c["Ref_Key"])], str(c["Ref_Key"])))
