"""Proof (d) of issue 6, mappings half: a corpus of broken copies of the shipped orders mapping. Each one fails to
load with a clear message that names the file, the line and the key (and the valid names where there is a choice);
the other problems of the same folder are reported at the same time."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from connector.errors import ConfigError
from connector.mapping.schema import load_mappings

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = (ROOT / "mappings" / "orders.yaml").read_text(encoding="utf-8")


def swap(old: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert old in text, f"the shipped orders.yaml no longer contains {old!r}"
        return text.replace(old, new, 1)

    return edit


# (case, edit of orders.yaml, the text of the line the error must point at (None: no line), words it must contain)
CASES: list[tuple[str, Callable[[str], str], str | None, list[str]]] = [
    (
        "broken yaml",
        swap("fields: [Description, Артикул]", "fields: [Description, Артикул"),
        "  currencies:",
        ["YAML syntax error"],
    ),
    ("tab indentation", swap("  TITLE:\n", "\tTITLE:\n"), "\tTITLE:", ["YAML syntax error"]),
    (
        "unknown top-level key",
        swap("\nfields:\n", "\nfeilds:\n"),
        "feilds:",
        ["feilds", "did you mean 'fields'"],
    ),
    (
        "unknown key in a field",
        swap("    source: СуммаДокумента\n    type: money", "    sorce: СуммаДокумента\n    type: money"),
        "    sorce: СуммаДокумента",
        ["fields.OPPORTUNITY.sorce", "did you mean 'source'"],
    ),
    (
        "unknown key in a row field",
        swap("      source: Количество", "      sourse: Количество"),
        "      sourse: Количество",
        ["rows.fields.QUANTITY.sourse", "did you mean 'source'"],
    ),
    (
        "unknown key in source",
        swap("  version_field: DataVersion", "  version_feild: DataVersion"),
        "  version_feild: DataVersion",
        ["source.version_feild", "did you mean 'version_field'"],
    ),
    (
        "unknown key in target",
        swap("    field: ORIGIN_ID", "    fiel: ORIGIN_ID"),
        "    fiel: ORIGIN_ID",
        ["target.external_key.fiel", "did you mean 'field'"],
    ),
    (
        "unknown type",
        swap("    type: money\n    required: true\n  IS_", "    type: currency\n    required: true\n  IS_"),
        "    type: currency",
        ["fields.OPPORTUNITY.type", "'money'"],
    ),
    (
        "required is not a boolean",
        swap("    type: money\n    required: true\n  IS_", "    type: money\n    required: maybe\n  IS_"),
        "    required: maybe",
        ["fields.OPPORTUNITY.required", "boolean"],
    ),
    (
        "max_length zero",
        swap("    max_length: 2000", "    max_length: 0"),
        "    max_length: 0",
        ["fields.COMMENTS.max_length", "greater than or equal to 1"],
    ),
    (
        "max_length is text",
        swap("    max_length: 2000", "    max_length: много"),
        "    max_length: много",
        ["fields.COMMENTS.max_length", "integer"],
    ),
    (
        "two origins",
        swap(
            "    source: Number\n    required: true", "    source: Number\n    const: x\n    required: true"
        ),
        "  UF_CRM_1C_ORDER_NUMBER:",
        ["fields.UF_CRM_1C_ORDER_NUMBER", "exactly one of source, format, const"],
    ),
    (
        "no origin",
        swap('  IS_MANUAL_OPPORTUNITY:\n    const: "Y"', "  IS_MANUAL_OPPORTUNITY:\n    required: true"),
        "  IS_MANUAL_OPPORTUNITY:",
        ["fields.IS_MANUAL_OPPORTUNITY", "exactly one of source, format, const"],
    ),
    (
        "format with an expression",
        swap('format: "Заказ {Number} от', 'format: "Заказ {Number.upper} от'),
        "  TITLE:",
        ["fields.TITLE", "plain property names"],
    ),
    (
        "format not closed",
        swap('format: "Заказ {Number} от', 'format: "Заказ {Number от'),
        "  TITLE:",
        ["fields.TITLE", "bad format string"],
    ),
    (
        "lookup without a table",
        swap("lookup: currencies.Code", "lookup: Code"),
        "  CURRENCY_ID:",
        ["fields.CURRENCY_ID", "table.Field"],
    ),
    (
        "lookup of an undeclared table",
        swap("lookup: currencies.Code", "lookup: currency.Code"),
        "  CURRENCY_ID:",
        ["fields.CURRENCY_ID", "'currency' is not declared", "products, currencies"],
    ),
    (
        "lookup of an unlisted column",
        swap("lookup: currencies.Code", "lookup: currencies.Name"),
        "  CURRENCY_ID:",
        ["fields.CURRENCY_ID", "Name", "does not list (Code)"],
    ),
    (
        "lookup and link together",
        swap("    link: managers ", "    link: managers\n    lookup: products.Description "),
        "  ASSIGNED_BY_ID:",
        ["fields.ASSIGNED_BY_ID", "either link", "or lookup"],
    ),
    (
        "user field not declared",
        swap('  UF_CRM_1C_ORDER_DATE: {type: datetime, label: "Дата заказа 1С"}\n', ""),
        "  UF_CRM_1C_ORDER_DATE:",
        ["fields.UF_CRM_1C_ORDER_DATE", "declare it under user_fields"],
    ),
    (
        "user field badly named",
        swap("user_fields:\n", "user_fields:\n  uf_crm_lower: {type: string, label: x}\n"),
        "user_fields:",
        ["user_fields", "uf_crm_lower", "UF_CRM_"],
    ),
    (
        "user field of an unknown type",
        swap('{type: string, label: "Номер заказа 1С"}', '{type: text, label: "Номер заказа 1С"}'),
        "  UF_CRM_1C_ORDER_NUMBER: {type",
        ["user_fields.UF_CRM_1C_ORDER_NUMBER.type", "'string'"],
    ),
    (
        "filter value of the wrong type",
        swap("    Posted: true", "    Posted: {a: 1}"),
        "    Posted: {a: 1}",
        ["source.filter.Posted"],
    ),
    ("bad flow name", swap("flow: orders", "flow: Orders-1"), "flow: Orders-1", ["flow", "pattern"]),
    (
        "unknown target system",
        swap("target:\n  entity: deal", "target:\n  system: sap\n  entity: deal"),
        "  system: sap",
        ["target.system", "'bitrix24'"],
    ),
    (
        "unknown owner side",
        swap("    max_length: 2000", "    max_length: 2000\n    owner: crm"),
        "    owner: crm",
        ["fields.COMMENTS.owner", "'onec'"],
    ),
    (
        "full scan period in words",
        swap("  filter:\n    Posted", "  changes:\n    full_scan_every: daily\n  filter:\n    Posted"),
        "    full_scan_every: daily",
        ["source.changes.full_scan_every", "pattern"],
    ),
    ("no fields at all", swap("\nfields:\n", "\nfields: {}\nold_fields:\n"), "fields: {}", ["fields"]),
    (
        "rows without fields",
        swap("rows:\n  source: Товары", "rows:\n  source: Товары\n  fields: {}\nold_rows:\n  source: Товары"),
        "  fields: {}",
        ["rows.fields"],
    ),
    ("the top level is a list", lambda text: "- flow: orders\n", None, ["top level must be a mapping"]),
    ("an empty file", lambda text: "", None, ["flow", "Field required"]),
    (
        "when rule with an unknown operator",
        swap(
            "      - if: {field: СуммаДокумента, ge: 300000}",
            "      - if: {field: СуммаДокумента, bigger: 300000}",
        ),
        "      - if: {field: СуммаДокумента, bigger: 300000}",
        ["fields.CATEGORY_ID.when", "bigger"],
    ),
]


def load_broken(tmp_path: Path, text: str) -> ConfigError:
    (tmp_path / "managers.yaml").write_text(
        (ROOT / "mappings" / "managers.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    (tmp_path / "orders.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_mappings(tmp_path, ["managers", "orders"])
    return caught.value


@pytest.mark.parametrize(("edit", "line_text", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_broken_mapping_names_file_line_and_key(
    tmp_path: Path, edit: Callable[[str], str], line_text: str | None, words: list[str]
) -> None:
    text = edit(SHIPPED)
    error = load_broken(tmp_path, text)
    problems = error.problems or [error.message]
    where = str(tmp_path / "orders.yaml")
    if line_text is not None:
        line = next(n for n, row in enumerate(text.splitlines(), start=1) if row.startswith(line_text))
        hits = [p for p in problems if p.startswith(f"{where}:{line}:") and all(w in p for w in words)]
    else:
        hits = [p for p in problems if p.startswith(where) and all(w in p for w in words)]
    assert hits, f"no problem names {where}:{line_text!r} with {words}: {problems}"


def test_corpus_is_big_enough() -> None:
    assert len(CASES) >= 30


def test_a_link_to_an_unknown_flow_names_the_flow_field_and_the_known_flows(tmp_path: Path) -> None:
    error = load_broken(tmp_path, swap("link: managers", "link: manager")(SHIPPED))
    assert any(
        "flow orders, field ASSIGNED_BY_ID: link to unknown flow 'manager'" in p and "managers" in p
        for p in error.problems
    ), error.problems


def test_every_problem_of_every_file_is_reported_at_once(tmp_path: Path) -> None:
    text = swap("type: money\n    required: true\n  IS_", "type: currency\n    required: true\n  IS_")(
        SHIPPED
    )
    text = swap("    source: Number\n", "    sorce: Number\n")(text)
    (tmp_path / "other.yaml").write_text(
        "flow: other\nsource: {entity: Catalog_X}\nfields: {A: {source: B, type: nope}}\n", encoding="utf-8"
    )
    error = load_broken(tmp_path, text)
    assert any("orders.yaml:" in p and "OPPORTUNITY.type" in p for p in error.problems)
    assert any("orders.yaml:" in p and "UF_CRM_1C_ORDER_NUMBER.sorce" in p for p in error.problems)
    assert any("other.yaml:3:" in p and "fields.A.type" in p for p in error.problems)


def test_an_error_inside_an_optional_section_suggests_the_valid_keys(tmp_path: Path) -> None:
    """Regression: under `rows:` (an optional section) unknown keys got no 'did you mean'."""
    error = load_broken(tmp_path, swap("  target: productrows", "  targt: productrows")(SHIPPED))
    assert any("rows.targt: unknown key; did you mean 'target'?" in p for p in error.problems), error.problems


def test_a_check_across_keys_points_at_the_line_of_the_key_it_names(tmp_path: Path) -> None:
    """Regression: checks made on the whole mapping (lookups, user fields) reported '(top level)' and no line."""
    text = swap("lookup: products.Description", "lookup: product.Description")(SHIPPED)
    error = load_broken(tmp_path, text)
    line = next(n for n, row in enumerate(text.splitlines(), start=1) if row == "    PRODUCT_NAME:")
    assert any(
        p.startswith(f"{tmp_path / 'orders.yaml'}:{line}: rows.fields.PRODUCT_NAME: lookup table 'product'")
        for p in error.problems
    ), error.problems
