"""The admin guide's list of Bitrix24 methods, scopes and rights, generated from the contract.

python -m connector.contracts.guide            # rewrite docs/bitrix24-methods.md
python -m connector.contracts.guide --check    # exit 1 when the committed file is out of date
"""

from __future__ import annotations

import sys
from pathlib import Path

from connector.contracts import FLOWS, PARTS, MethodContract, load_bitrix24

DOC = Path("docs/bitrix24-methods.md")
DOCS_URL = "https://github.com/bitrix-tools/b24-rest-docs/blob/main/"
_PART_TITLES = {
    "setup": "`b24-1c setup` (creates user fields and stages)",
    "verify": "`b24-1c verify` (the online check; `--write-probe` adds and deletes a deal with a payment)",
    "reconcile": "`b24-1c reconcile`",
    "alerts": "Alerts of `b24-1c run` to the configured admins (`alerts.admins`)",
}


def _row(m: MethodContract) -> str:
    admin = "yes" if m.spec.admin else ""
    rights = m.rights.replace("|", "/")
    return f"| `{m.name}` | {m.scope or 'basic'} | {admin} | {rights} | [{m.source}]({DOCS_URL}{m.source}) |"


def _table(methods: list[MethodContract]) -> list[str]:
    head = [
        "| Method | Scope | Administrator only | Who may call it (the vendor's docs) | Doc page |",
        "|---|---|---|---|---|",
    ]
    return head + [_row(m) for m in methods]


def render() -> str:
    """The whole generated document."""
    contract = load_bitrix24()
    methods = sorted(contract.methods.values(), key=lambda m: m.name)
    used = [m for m in methods if m.flows]
    scopes = sorted({m.scope for m in used if m.scope and m.scope != "basic"})
    admin = [m.name for m in used if m.spec.admin]
    lines = [
        "# Bitrix24 methods, scopes and rights",
        "",
        "<!-- Generated from connector/contracts/bitrix24.yaml by `python -m connector.contracts.guide`;"
        " do not edit by hand. -->",
        "",
        "Every Bitrix24 REST method the connector calls, with the scope the webhook (or application) needs and who"
        " may call it, as the official REST documentation (bitrix-tools/b24-rest-docs) says.",
        "",
        f"- Scopes for all flows: {', '.join(f'`{s}`' for s in scopes)} (plus `basic`, which every webhook has).",
        f"- Only an administrator may call: {', '.join(f'`{n}`' for n in admin)}; the webhook's user must be a"
        " portal administrator (`sale.*`) and a CRM administrator (user fields, stages).",
        "- `b24-1c verify` checks all of this against the configured portal.",
        "",
    ]
    for flow in FLOWS:
        lines += [f"## Flow `{flow}`", "", *_table([m for m in used if flow in m.flows]), ""]
    for part in PARTS:
        lines += [f"## {_PART_TITLES[part]}", "", *_table([m for m in used if part in m.flows]), ""]
    unused = [m for m in methods if not m.flows]
    if unused:
        lines += [
            "## In the contract, not called today",
            "",
            "Kept because the emulator enforces them for any client; for example `crm.item.payment.update`"
            " writes only `paid` and `paySystemId`.",
            "",
            *_table(unused),
            "",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Write the document, or with --check compare it with the committed one."""
    args = sys.argv[1:] if argv is None else argv
    text = render()
    if "--check" in args:
        current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
        if current != text:
            print(f"{DOC} is out of date: run python -m connector.contracts.guide", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
