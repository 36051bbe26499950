"""YAML loading with line numbers, ${ENV} interpolation and pydantic errors that name file, line and key."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from connector.errors import ConfigError

M = TypeVar("M", bound=BaseModel)

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")


def load_yaml(path: Path) -> Any:
    """Parse a YAML file keeping line information; a syntax error names file and line."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    text = decode_utf8(path, data)
    try:
        return YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigError(f"{where}: YAML syntax error: {exc.problem}") from None


def decode_utf8(path: Path, data: bytes) -> str:
    """The text of a config or mapping file, which must be UTF-8 (a UTF-8 BOM is allowed)."""
    save_as = "save it as UTF-8"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ConfigError(f"{path}: the file is UTF-16, not UTF-8; {save_as}")
    if b"\x00" in data:
        raise ConfigError(f"{path}: not a text file (it contains NUL bytes); expected UTF-8 YAML")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        byte = data[exc.start]
        guess = ", Windows-1251 Cyrillic?" if byte >= 0xC0 else ""
        raise ConfigError(f"{path}:{line}: not UTF-8 (byte 0x{byte:02x}{guess}); {save_as}") from None


def interpolate(
    node: Any,
    env: Mapping[str, str],
    problems: list[str],
    where: str,
    path: tuple[Any, ...] = (),
    unset: list[tuple[Any, ...]] | None = None,
) -> Any:
    """Replace ${VAR} and ${VAR:-default} in every string; `$$` is a literal `$`. Unset variables are problems
    (their key paths are added to `unset`)."""
    if isinstance(node, str):

        def repl(m: re.Match[str]) -> str:
            if m.group(0) == "$$":
                return "$"
            name, default = m.group(1), m.group(2)
            value = env.get(name)
            if not value:
                if default is None:
                    state = "is not set" if value is None else "is empty"
                    problems.append(
                        f"{where}: {dotted(path)}: environment variable {name} {state} "
                        f"(set it, or write ${{{name}:-default}})"
                    )
                    if unset is not None:
                        unset.append(path)
                    return ""
                return default
            return value

        return _VAR.sub(repl, node)
    if isinstance(node, Mapping):
        out = CommentedMap()
        for k, v in node.items():
            out[k] = interpolate(v, env, problems, where, (*path, k), unset)
        return out
    if isinstance(node, list):
        return CommentedSeq(
            interpolate(v, env, problems, where, (*path, i), unset) for i, v in enumerate(node)
        )
    return node


def dotted(path: tuple[Any, ...] | list[Any]) -> str:
    """`a.b[0].c` from a key path."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def line_of(root: Any, path: tuple[Any, ...]) -> int | None:
    """1-based line of the deepest existing key along `path`."""
    node, line = root, None
    for part in path:
        try:
            if isinstance(node, CommentedMap) and part in node:
                line = node.lc.key(part)[0] + 1
                node = node[part]
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
                line = node.lc.item(part)[0] + 1
                node = node[part]
            else:
                break
        except (KeyError, AttributeError, IndexError, TypeError):
            break
    return line


def _field_names(model: type[BaseModel], path: tuple[Any, ...]) -> list[str]:
    """The valid key names at `path` in `model`, for 'did you mean' suggestions."""
    current: Any = model
    for part in path:
        if not isinstance(current, type):
            current = _model_in(current) or current  # an optional section (`rows: RowsSpec | None`)
        fields = getattr(current, "model_fields", None) if isinstance(current, type) else None
        if fields is not None:
            if part not in fields:
                return []
            current = fields[part].annotation
            continue
        current = _container_item(current)  # a dict key or a list index: step into the value type
        if current is None:
            return []
    model_cls = _model_in(current)
    return list(model_cls.model_fields) if model_cls is not None else []


def _container_item(annotation: Any) -> Any:
    """The value type of dict[K, V] / list[V] / Optional[...] annotations."""
    args: tuple[Any, ...] = tuple(getattr(annotation, "__args__", None) or ())
    origin = getattr(annotation, "__origin__", None)
    if origin is dict and len(args) == 2:
        return args[-1]
    if origin is list and args:
        return args[0]
    for arg in args:  # unions: the first container or model inside
        if getattr(arg, "__origin__", None) in (dict, list) or _model_in(arg) is not None:
            return _container_item(arg) if getattr(arg, "__origin__", None) else arg
    return None


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if getattr(annotation, "__origin__", None) in (dict, list):
        return None
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    return None


_FIELD_NAMED = re.compile(r"^field (\S+?):? ")


def _key_path(root: Any, name: str, under: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """The path of the first key `name` below `under`, breadth first (`fields.X` before `rows.fields.X`)."""
    start: Any = root
    for part in under:
        start = start.get(part) if isinstance(start, Mapping) else None
    queue: list[tuple[tuple[Any, ...], Any]] = [(under, start)]
    while queue:
        path, node = queue.pop(0)
        if isinstance(node, Mapping):
            if name in node:
                return (*path, name)
            queue.extend(((*path, k), v) for k, v in node.items())
    return None


def validation_problems(
    exc: ValidationError,
    root: Any,
    where: str,
    model: type[BaseModel],
    skip: list[tuple[Any, ...]] | None = None,
) -> list[str]:
    """Turn pydantic errors into `file:line: key.path: message` lines, with suggestions for unknown keys. Errors
    on (or above) a key in `skip` are left out: an unset variable there is reported already."""
    problems = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        if any(loc == path[: len(loc)] for path in skip or ()):
            continue
        named = _FIELD_NAMED.match(err["msg"].removeprefix("Value error, "))
        if named:  # a check across keys that names the one at fault: point at it
            loc = _key_path(root, named.group(1), loc) or loc
        line = line_of(root, loc)
        place = f"{where}:{line}" if line else where
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            valid = _field_names(model, loc[:-1])
            close = difflib.get_close_matches(str(loc[-1]), valid, n=1)
            msg = "unknown key" + (f"; did you mean '{close[0]}'?" if close else "")
            if valid:
                msg += f" (valid keys: {', '.join(valid)})"
        elif err["type"] == "literal_error" and isinstance(err.get("input"), str):
            expected = str((err.get("ctx") or {}).get("expected", ""))
            close = difflib.get_close_matches(err["input"], re.findall(r"'([^']*)'", expected), n=1)
            msg = f"'{err['input']}' is not one of {expected}" + (
                f"; did you mean '{close[0]}'?" if close else ""
            )
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        if named and named.group(0).endswith(": ") and loc and loc[-1] == named.group(1):
            msg = msg[named.end() :]  # the key is already named in front
        problems.append(f"{place}: {dotted(loc)}: {msg}")
    return problems


def load_model(
    path: Path, model: type[M], env: Mapping[str, str] | None = None, interpolate_env: bool = True
) -> M:
    """Load, interpolate and validate one YAML file into `model`; every problem is reported at once."""
    return model_from(load_yaml(path), str(path), model, env, interpolate_env)


def model_from(
    root: Any, where: str, model: type[M], env: Mapping[str, str] | None = None, interpolate_env: bool = True
) -> M:
    """Interpolate and validate parsed YAML (`load_yaml`) into `model`; `where` names the file in problems."""
    if root is None:
        root = CommentedMap()
    problems: list[str] = []
    unset: list[tuple[Any, ...]] = []
    environment = os.environ if env is None else env
    data = interpolate(root, environment, problems, where, unset=unset) if interpolate_env else root
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: the top level must be a mapping of keys, got {type(data).__name__}")
    try:
        result = model.model_validate(_plain(data))
    except ValidationError as exc:
        problems.extend(validation_problems(exc, root, where, model, skip=unset))
        result = None
    if problems or result is None:
        raise ConfigError(f"{where}: {len(problems)} problem(s)", problems=problems)
    return result


def _plain(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node
