"""Config and mapping files that are not UTF-8 (Windows-1251, UTF-16, binary) get a message naming the file and
saying it must be UTF-8, never a traceback or a misleading 'field required'."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from connector.config import load_config
from connector.errors import ConfigError
from connector.mapping.schema import load_mapping, load_mappings

ROOT = Path(__file__).resolve().parents[2]
ENV = {"B24_WEBHOOK_URL": "https://portal.example/rest/1/code/", "ONEC_PASSWORD": "p"}


def _mapping_text() -> str:
    return (ROOT / "mappings" / "managers.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("encode", "says"),
    [
        (lambda s: s.encode("cp1251", errors="replace"), "not UTF-8"),
        (lambda s: s.encode("utf-16"), "UTF-16, not UTF-8"),
        (lambda s: s.encode("utf-16-be"), "NUL bytes"),  # no BOM: still not read as text
        (lambda s: bytes(range(256)), "NUL bytes"),
    ],
    ids=["cp1251", "utf16", "utf16-no-bom", "binary"],
)
def test_a_mapping_that_is_not_utf8_is_named_with_a_clear_message(
    tmp_path: Path, encode: Callable[[str], bytes], says: str
) -> None:
    path = tmp_path / "managers.yaml"
    path.write_bytes(encode(_mapping_text()))
    with pytest.raises(ConfigError) as caught:
        load_mapping(path)
    assert str(caught.value).startswith(str(path)) and says in str(caught.value)
    assert "Field required" not in str(caught.value)


def test_a_cp1251_mapping_in_a_folder_is_reported_with_its_line_among_the_problems(tmp_path: Path) -> None:
    text = "flow: managers\nsource: {system: onec, entity: Catalog_Пользователи, key: Ref_Key}\n"
    (tmp_path / "managers.yaml").write_bytes(text.encode("cp1251"))
    with pytest.raises(ConfigError) as caught:
        load_mappings(tmp_path, ["managers"])
    assert caught.value.problems == [
        f"{tmp_path / 'managers.yaml'}:2: not UTF-8 (byte 0xcf, Windows-1251 Cyrillic?); save it as UTF-8"
    ]


def test_a_utf16_config_is_named_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes((ROOT / "config.example.yaml").read_text(encoding="utf-8").encode("utf-16"))
    with pytest.raises(ConfigError, match=r"config\.yaml: the file is UTF-16, not UTF-8; save it as UTF-8"):
        load_config(path, env=ENV)


def test_a_utf8_file_with_a_byte_order_mark_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "managers.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + _mapping_text().encode("utf-8"))
    assert load_mapping(path).flow == "managers"
