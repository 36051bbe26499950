"""`b24-1c verify`: the one online check of a configuration against the real portal and 1C base.

Read-only unless asked for the write probe. The two systems are checked at once, each first probed with a short
connect timeout and no retries, so a silent host costs seconds, not the sync's backoff; a system that does not
answer or refuses the credentials is one line of the checklist and its other checks are skipped. The field names
and the write probe follow, when both systems answered.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from connector.clock import Clock, SystemClock
from connector.config import Config
from connector.errors import AuthError, ConfigError, ConnectorError
from connector.mapping.schema import Mapping, load_mappings
from connector.verify.base import check_base
from connector.verify.lines import with_lines
from connector.verify.names import OnlineCheck
from connector.verify.portal import check_portal
from connector.verify.probe import write_probe
from connector.verify.products import check_products
from connector.verify.report import Checklist, Item
from connector.verify.requirements import bitrix24_needs
from connector.verify.transport import ShortSession, bitrix24_client, odata_client, origin, portal_url, reach

SessionFactory = Callable[[float, bool | str], ShortSession]


class _Systems:
    """The names check's view of this run: config, mappings and the no-retry clients."""

    def __init__(self, config: Config, mappings: dict[str, Mapping], bitrix24: object, odata: object) -> None:
        self.config = config
        self.mappings = mappings
        self.bitrix24 = bitrix24
        self.odata = odata


def verify(
    config: Config,
    *,
    probe: bool = False,
    clock: Clock | None = None,
    session: SessionFactory = ShortSession,
) -> Checklist:
    """The go-live checklist of a configuration. Raises ConfigError only for unreadable mappings."""
    clock = clock or SystemClock()
    mappings = load_mappings(config.mappings_path, config.flows)
    mappings = {f: mappings[f] for f in config.flows if f in mappings}
    out = Checklist()
    b24_session = session(config.bitrix24.timeout, config.bitrix24.verify_tls)
    onec_session = session(config.onec.timeout, True)
    b24 = bitrix24_client(config, b24_session, clock)
    odata = odata_client(config, onec_session, clock)
    where = str(config.source or "config.yaml")
    b24_out, onec_out = Checklist(), Checklist()
    scopes: set[str] = set()

    def portal_side() -> bool:
        url = portal_url(config)
        if not _reached(b24_out, "Bitrix24", origin(url), reach(b24_session, url), f"{where}: bitrix24"):
            return False
        needs = bitrix24_needs(mappings.values())
        return _guarded(
            b24_out, "Bitrix24", lambda: scopes.update(check_portal(b24, config, mappings, needs, b24_out))
        )

    def base_side() -> bool:
        url = config.onec.odata_url
        if not _reached(onec_out, "1C", origin(url), reach(onec_session, url), f"{where}: onec.odata_url"):
            return False
        return _guarded(onec_out, "1C", lambda: check_base(odata, config, mappings, onec_out))

    # The two systems are checked at once: a silent host costs its probe's bound, not that plus the other's checks.
    with ThreadPoolExecutor(2) as pool:
        b24_done, onec_done = pool.submit(portal_side), pool.submit(base_side)
        b24_ok, onec_ok = b24_done.result(), onec_done.result()
    out.items = [b24_out.items[0], onec_out.items[0], *b24_out.items[1:], *onec_out.items[1:]]
    crm = b24_ok and "crm" in scopes  # without it the portal's line already says what was not checked
    if crm and onec_ok:
        names = OnlineCheck(_Systems(config, mappings, b24, odata))  # type: ignore[arg-type]
        # Missing deal user fields already have their line (with `b24-1c setup`) from the portal's checks.
        found: list[str] = []
        if _guarded(out, "field names", lambda: found.extend(names.problems())):
            found = [p for p in found if "has no field 'UF_" not in p]
            out.fix_all(found)
            if not found:
                out.ok("every other field name the mappings use exists in 1C and Bitrix24")
        _guarded(out, "products", lambda: check_products(b24, odata, mappings, out))
    if probe and crm:
        write_probe(b24, clock, config.installation_id, out, f"{where}: bitrix24")
    # A problem naming a mapping key names it by file:line, as `check` does.
    out.items = with_lines(out.items, config.mappings_path)
    out.unreachable = [n for n, ok in (("Bitrix24", b24_ok), ("1C", onec_ok)) if not ok]
    out.attempts = {"Bitrix24": b24_session.attempts, "1C": onec_session.attempts}
    return out


def _reached(out: Checklist, system: str, host: str, reason: str | None, where: str) -> bool:
    if reason is None:
        out.ok(f"{system} answers at {host}")
        return True
    out.fix(f"{system} at {host} does not answer: {reason}; check the address and the network", where)
    return False


def _guarded(out: Checklist, system: str, step: Callable[[], object]) -> bool:
    """Run a group of checks; credentials refused stop that system's checks with one line."""
    try:
        step()
    except AuthError as exc:
        out.fix(f"{system} refused the credentials: {exc}")
        return False
    except ConfigError:
        raise
    except ConnectorError as exc:
        out.fix(f"{system}: {exc}")
        return False
    return True


__all__ = ["Checklist", "Item", "verify"]
