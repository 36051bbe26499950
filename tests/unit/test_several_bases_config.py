"""Config for several 1C bases on one portal: the routing rule (installation.takes) and the portal share."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.clock import ManualClock
from connector.config import TakesRule, load_config
from connector.errors import ConfigError
from connector.ratelimit import RequestPacer

HEAD = """bitrix24:
  webhook_url: https://portal.example/rest/1/several-bases-test-code/
onec:
  odata_url: https://erp.example/ut/odata/standard.odata/
  user: u
  password: p
"""


def config(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(HEAD + extra, encoding="utf-8")
    return path


def test_a_pipeline_rule_and_a_field_rule_name_their_deals() -> None:
    pipelines = TakesRule(category=[0, 2])
    assert pipelines.deal_filter() == {"@CATEGORY_ID": [0, 2]}
    assert [pipelines.names({"CATEGORY_ID": c}) for c in ("0", "2", "1", None)] == [True, True, False, True]
    field = TakesRule(field="UF_CRM_1C_BASE", value="ut-north")
    assert field.deal_filter() == {"UF_CRM_1C_BASE": "ut-north"}
    assert [field.names({"UF_CRM_1C_BASE": v}) for v in ("ut-north", "ut-south", None)] == [
        True,
        False,
        False,
    ]


@pytest.mark.parametrize(
    "rule",
    [
        "{}",
        "{category: [1], field: UF_CRM_1C_BASE, value: x}",
        "{field: UF_CRM_1C_BASE}",
        "{value: x}",
        "{category: []}",
        "{pipeline: [1]}",
    ],
)
def test_a_rule_that_names_no_deals_or_two_ways_is_refused_with_the_key(tmp_path: Path, rule: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(config(tmp_path, f"installation:\n  takes: {rule}\n"), env={})
    assert "installation.takes" in "\n".join(err.value.problems or [str(err.value)])


def test_the_share_scales_burst_and_rate_so_two_installations_stay_within_the_plan(tmp_path: Path) -> None:
    path = config(tmp_path, "")
    path.write_text(HEAD.replace("bitrix24:\n", "bitrix24:\n  share: 0.5\n"), encoding="utf-8")
    share = load_config(path, env={}).bitrix24.share
    halves = [RequestPacer.for_plan(ManualClock(), "standard", share=share) for _ in range(2)]
    assert [(p.bucket.capacity, p.bucket.rate) for p in halves if p] == [(24.5, 1.0), (24.5, 1.0)]
    path.write_text(HEAD.replace("bitrix24:\n", "bitrix24:\n  share: 1.5\n"), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert "bitrix24.share" in "\n".join(err.value.problems or [str(err.value)])
