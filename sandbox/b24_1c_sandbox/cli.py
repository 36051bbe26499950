"""`b24-1c-sandbox` (also reached as `b24-1c sandbox`): both emulators in the foreground until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from b24_1c_sandbox.degraded import Degraded
from b24_1c_sandbox.faults import FaultInjector
from b24_1c_sandbox.runner import ONEC_PASSWORD, ONEC_USER, Sandbox, SandboxOptions

EXIT_USAGE, EXIT_STOPPED = 2, 3


def _parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Run the Bitrix24 and 1C emulators on 127.0.0.1 in the foreground (Ctrl-C stops them). "
        "Prints one 'ready' line per server on stdout; everything else goes to stderr.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--bitrix24-port", type=int, default=8024, help="Bitrix24 portal port (0 = any free port)")
    p.add_argument("--onec-port", type=int, default=8025, help="1C OData port (0 = any free port)")
    p.add_argument("--orders", type=int, default=500, help="customer orders to generate since 2017")
    p.add_argument("--seed", type=int, default=7, help="dataset seed (same seed, same data)")
    p.add_argument(
        "--rate-limit",
        choices=("standard", "enterprise", "off"),
        default="standard",
        help="portal plan limits",
    )
    p.add_argument("--state", type=Path, default=None, help="keep the emulators' data in this folder")
    p.add_argument(
        "--faults",
        choices=("none", "light", "flaky", "lost-replies", "chaos"),
        default="none",
        help="fault profile",
    )
    p.add_argument(
        "--fault-seed", type=int, default=None, help="seed of the fault injector (default: --seed)"
    )
    p.add_argument("--scale", type=float, default=1.0, help="multiply the request drain rate (benchmarks)")
    p.add_argument("--budget-scale", type=float, default=1.0, help="multiply the operating-time budget")
    p.add_argument(
        "--operating",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="per-method operating-time limit (cloud: on)",
    )
    p.add_argument(
        "--tls", action=argparse.BooleanOptionalAction, default=False, help="serve Bitrix24 over HTTPS"
    )
    p.add_argument(
        "--https-required",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="webhooks over plain HTTP answer 400 'Https required.'",
    )
    p.add_argument(
        "--second-base",
        metavar="NAME",
        default=None,
        help="also publish a second 1C base NAME beside the one portal (several bases into one portal), with one "
        "counterparty both bases hold (the same ИНН and КПП)",
    )
    p.add_argument("--second-base-port", type=int, default=0, help="its OData port (0 = any free port)")
    bad = p.add_argument_group("not ready for go-live (what `b24-1c verify` reports)")
    bad.add_argument("--missing-scope", action="append", default=[], metavar="SCOPE", help="e.g. sale")
    bad.add_argument(
        "--non-admin-webhook", action="store_true", help="the webhook's user is no administrator"
    )
    bad.add_argument(
        "--missing-user-field", action="append", default=[], metavar="UF_CRM_…", help="with --state"
    )
    bad.add_argument("--unpublish", action="append", default=[], metavar="ENTITY", help="a 1C entity set")
    bad.add_argument(
        "--unreadable", action="append", default=[], metavar="ENTITY", help="the 1C user may not read it"
    )
    return p


def main(argv: list[str] | None = None, prog: str = "b24-1c-sandbox") -> int:
    """Start the sandbox and block until stopped; returns the exit code."""
    args = _parser(prog).parse_args(argv)
    if args.scale <= 0 or args.budget_scale <= 0:
        print("--scale and --budget-scale must be positive", file=sys.stderr)
        return EXIT_USAGE
    fseed = args.seed if args.fault_seed is None else args.fault_seed
    on = args.faults != "none"
    box = Sandbox(
        SandboxOptions(
            args.bitrix24_port,
            args.onec_port,
            args.orders,
            args.seed,
            args.rate_limit,
            scale=args.scale,
            state_dir=args.state,
            bitrix24_faults=FaultInjector.profile(args.faults, fseed) if on else None,
            onec_faults=FaultInjector.profile(args.faults, fseed + 1) if on else None,
            tls=args.tls,
            https_required=args.https_required,
            budget_scale=args.budget_scale,
            operating_enabled=args.operating,
            degraded=Degraded(
                frozenset(args.missing_scope),
                not args.non_admin_webhook,
                tuple(args.missing_user_field),
                tuple(args.unpublish),
                tuple(args.unreadable),
            ),
        )
    )
    try:
        box.start()
    except (OSError, RuntimeError) as exc:
        print(
            f"cannot start the sandbox: {exc} (is the port taken? pass --bitrix24-port 0 --onec-port 0)",
            file=sys.stderr,
        )
        return EXIT_STOPPED
    second = None
    if args.second_base:
        from b24_1c_sandbox.bases import BaseOptions, OneCBase

        try:
            second = OneCBase(
                box,
                BaseOptions(args.second_base, max(1, args.orders // 2), args.seed + 1, args.second_base_port),
            ).start()
            second.share_counterparty()
        except (OSError, RuntimeError, ValueError) as exc:
            box.stop()
            print(f"cannot start the second base: {exc}", file=sys.stderr)
            return EXIT_STOPPED
    stop = threading.Event()
    # Ctrl-C and SIGTERM both stop it, also where SIGINT came in ignored (a job started with `&` by a script).
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    print(f"bitrix24 ready: {box.webhook_url}", flush=True)
    print(f"onec ready: {box.odata_url} user={ONEC_USER} password={ONEC_PASSWORD}", flush=True)
    if box.ca_file is not None:
        print(
            f"bitrix24 tls: trust the CA in {box.ca_file} (REQUESTS_CA_BUNDLE={box.ca_file})", file=sys.stderr
        )
    print(
        f"bitrix24 oauth: client_id={box.oauth_app.client_id} token endpoint {box.portal_url}/oauth/token/",
        file=sys.stderr,
        flush=True,
    )
    env = box.env()
    print(f"onec soap: {env['ONEC_SOAP_URL']}", file=sys.stderr)
    print("point config.example.yaml at this sandbox with:", file=sys.stderr)
    for name, value in env.items():
        print(f"  export {name}='{value}'", file=sys.stderr)
    if second is not None:
        print(f"onec second base ready: {second.odata_url}", flush=True)
        print("a second installation for it (its own config and ledger) with:", file=sys.stderr)
        for name, value in second.env().items():
            if name.startswith("ONEC_"):
                print(f"  export {name}='{value}'", file=sys.stderr)
    sys.stderr.flush()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        if second is not None:
            second.stop()
        box.stop()
    return 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
