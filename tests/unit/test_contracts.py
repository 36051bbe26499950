"""The Bitrix24 contract (connector/contracts/bitrix24.yaml): complete for what the connector calls, well formed,
sourced from the vendor's docs, and the method list derived from it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from connector.contracts import ContractError, load_bitrix24, methods_for, parse

ROOT = Path(__file__).resolve().parents[2]
DOCS = Path("/work/.mirror/bitrix-tools+b24-rest-docs/repo")
LITERAL = re.compile(r"[\"']((?:crm|sale|user|tasks|im|event|app|server|method)\.[a-z][a-zA-Z_.]*[a-z])[\"']")
CALLED = re.compile(r"\.call\(\s*[\"']([a-z][a-zA-Z_.]*)[\"']")
TEMPLATED = re.compile(r"f[\"']crm\.\{[^}]+\}\.([a-z][a-z_.]*)[\"']")


def called_methods() -> set[str]:
    """Every Bitrix24 method name the product's source spells out, with crm.{entity}.x for company and contact."""
    found: set[str] = set()
    for path in (ROOT / "connector").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        found |= {m.lower() for m in LITERAL.findall(text) + CALLED.findall(text) if not m.endswith(".id")}
        found |= {
            f"crm.{entity}.{verb}" for verb in TEMPLATED.findall(text) for entity in ("company", "contact")
        }
    return found


def test_every_method_the_connector_names_is_in_the_contract() -> None:
    contract = load_bitrix24()
    called = called_methods()
    assert {
        "crm.deal.add",
        "sale.payment.update",
        "crm.item.payment.add",
        "user.get",
        "scope",
    } <= called  # scan works
    missing = sorted(m for m in called if contract.method(m) is None)
    assert missing == []


def test_each_entry_names_its_doc_page_scope_and_rights() -> None:
    for m in load_bitrix24().methods.values():
        assert m.source.endswith(".md"), m.name
        assert m.scope, m.name
        assert m.rights, m.name


@pytest.mark.skipif(not DOCS.exists(), reason="the b24-rest-docs mirror is not on this machine")
def test_every_source_is_a_page_of_the_official_docs() -> None:
    listed = subprocess.run(
        ["git", f"--git-dir={DOCS}", "ls-tree", "-r", "--name-only", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    pages = set(listed)
    assert sorted(m.source for m in load_bitrix24().methods.values() if m.source not in pages) == []


def test_payment_update_writes_only_paid_and_pay_system() -> None:
    update = load_bitrix24().method("crm.item.payment.update")
    assert update is not None
    assert set(update.writable() or {}) == {"paid", "paySystemId"}
    assert not update.field_allowed("sum")
    assert update.field_allowed("paid")


def test_user_fields_are_allowed_by_pattern_in_the_naming_of_each_family() -> None:
    contract = load_bitrix24()
    deal_add, item_update = contract.method("crm.deal.add"), contract.method("crm.item.update")
    assert deal_add is not None and item_update is not None
    assert deal_add.field_allowed("UF_CRM_1C_ORDER_NUMBER")
    assert not deal_add.field_allowed("ufCrm_1C_ORDER_NUMBER")
    assert not deal_add.field_allowed("NO_SUCH_FIELD")
    assert item_update.field_allowed("ufCrm5_PaidAmount", 1038)
    assert item_update.field_allowed("stageId", 2)
    assert not item_update.field_allowed("isMyCompany", 31)  # a company field, not a smart invoice's


def test_methods_for_flows_lists_scope_and_rights() -> None:
    money = {m.name: m for m in methods_for(["money"])}
    assert money["sale.payment.update"].scope == "sale"
    assert money["sale.payment.update"].admin
    assert money["tasks.task.add"].scope == "task"
    assert not money["crm.deal.update"].admin
    assert "crm.deal.add" not in money
    assert "batch" in money
    assert [m.name for m in methods_for(["managers"])] == ["user.get"]
    setup = {m.name for m in methods_for([], parts=["setup"])}
    assert {"crm.deal.userfield.add", "crm.status.add"} <= setup


def test_a_malformed_entry_is_named_by_file_method_and_key() -> None:
    text = "methods:\n  crm.deal.add:\n    source: api-reference/x.md\n    scope: crm\n    result: x\n    feilds: {}\n"
    with pytest.raises(ContractError, match=r"test\.yaml: methods\.crm\.deal\.add: unknown key\(s\) feilds"):
        parse(text, "test.yaml")
    bad_flow = "methods:\n  user.get:\n    source: api-reference/x.md\n    scope: user\n    result: x\n    flows: [mony]\n"
    with pytest.raises(ContractError, match=r"methods\.user\.get\.flows: unknown mony"):
        parse(bad_flow, "test.yaml")


def test_the_flow_names_are_the_shipped_mappings() -> None:
    from connector.contracts import FLOWS

    assert set(FLOWS) == {p.stem for p in (ROOT / "mappings").glob("*.yaml")}


def test_the_admin_guide_s_method_list_is_generated_from_the_contract() -> None:
    from connector.contracts.guide import render

    committed = (ROOT / "docs" / "bitrix24-methods.md").read_text(encoding="utf-8")
    assert committed == render(), (
        "docs/bitrix24-methods.md is out of date: run python -m connector.contracts.guide"
    )
    assert "| `sale.payment.update` | sale | yes |" in committed
