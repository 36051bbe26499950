"""`b24-1c check` without network: the config, every mapping and the schedule, with every problem of every file
reported in one run. When the config itself has problems, its mappings folder and schedule are still checked (found
from the file as written, defaults where it does not say), so fixing one file never reveals a new list elsewhere."""

from __future__ import annotations

from collections.abc import Mapping as MappingType
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connector.config import Config, load_config
from connector.errors import ConfigError
from connector.mapping.schema import Mapping, load_mappings
from connector.schedule import load_schedule
from connector.yamlio import load_yaml

DEFAULT_MAPPINGS, DEFAULT_SCHEDULE = Path("mappings"), Path("schedules/default.yaml")


@dataclass
class CheckResult:
    """What the offline check found: the loaded config (None when it has problems), mappings, problems, notes."""

    config: Config | None
    mappings: dict[str, Mapping] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    schedule: Path | None = None


def check_files(path: Path) -> CheckResult:
    """Check the config at `path`, its mappings and its schedule; never raises for a problem in them."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        result = CheckResult(None, problems=list(exc.problems or [exc.message]))
        if not exc.problems:
            return result  # not readable or not YAML: where the mappings are is unknown
        mappings_dir, schedule, flows = _as_written(path)
    else:
        result = CheckResult(config)
        mappings_dir, schedule, flows = config.mappings_path, config.schedule_path, list(config.flows)
    result.schedule = schedule
    try:
        result.mappings = load_mappings(mappings_dir, flows)
    except ConfigError as exc:
        result.problems.extend(exc.problems or [exc.message])
    try:
        load_schedule(schedule, flows)
    except ConfigError as exc:
        result.problems.extend(exc.problems or [exc.message])
    result.notes = _unrun_links(result.mappings, flows)
    return result


def _as_written(path: Path) -> tuple[Path, Path, list[str]]:
    """(mappings folder, schedule, flows) as the config file writes them, for a config that does not validate."""
    raw = load_yaml(path)
    raw = raw if isinstance(raw, MappingType) else {}
    base = path.resolve().parent

    def place(key: str, default: Path) -> Path:
        value = raw.get(key)
        chosen = Path(value) if isinstance(value, str) and value.strip() and "$" not in value else default
        return chosen if chosen.is_absolute() else base / chosen

    flows: Any = raw.get("flows")
    named = [f for f in flows if isinstance(f, str)] if isinstance(flows, list) else []
    return place("mappings_dir", DEFAULT_MAPPINGS), place("schedule", DEFAULT_SCHEDULE), named or ["orders"]


def _unrun_links(mappings: dict[str, Mapping], flows: list[str]) -> list[str]:
    """Links to flows the config does not run: not an error, but those fields stay empty."""
    notes = []
    for flow in flows:
        spec = mappings.get(flow)
        if spec is None:
            continue
        rules = list(spec.fields.items()) + (list(spec.rows.fields.items()) if spec.rows else [])
        for target, rule in rules:
            if rule.link and rule.link not in flows:
                notes.append(
                    f"flow {flow}, field {target} links to flow '{rule.link}', which config.flows does not run: "
                    "it stays empty"
                )
    return notes
