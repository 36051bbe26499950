"""1C:Enterprise 8.3 OData v3 query options ($filter, $orderby, $select) as the emulator evaluates them."""

from __future__ import annotations

import math
import operator
import re
from calendar import monthrange
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Any, NamedTuple

Record = dict[str, Any]
Resolver = Callable[[Record, str], Record | None]
Env = Mapping[str, Any]

ZERO_GUID = "00000000-0000-0000-0000-000000000000"
EMPTY_DATE = "0001-01-01T00:00:00"
_NO_ENV: Env = MappingProxyType({})
_GUID_RE = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\Z")
_DATETIME_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d)?\Z")
_DATE_VALUE_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\Z")
_IDENT_RE = re.compile(r"[^\W\d]\w*")
_INT_STR_RE = re.compile(r"-?(?:0|[1-9]\d*)\Z")
_TOKEN_RE = re.compile(
    r"(?P<typed>(?i:guid|datetimeoffset|datetime))'(?P<body>[^']*)'"
    r"|'(?P<str>(?:[^']|'')*)'"
    r"|(?P<num>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)(?P<suffix>[mMdDfFlL]?)(?!\w)"
    r"|(?P<name>[^\W\d]\w*)"
    r"|(?P<punct>[(),/:-])"
)
_LEVELS = (("or",), ("and",), ("eq", "ne"), ("gt", "ge", "lt", "le"), ("add", "sub"), ("mul", "div", "mod"))
_OPERATORS = frozenset(op for level in _LEVELS for op in level) | {"not"}
_CMP: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}
# cast()/isof() take 1C type names (String, Number, Boolean, Date, Catalog_X); Edm names are accepted as aliases.
_EDM_ALIASES = {
    "Edm.String": "String",
    "Edm.Boolean": "Boolean",
    "Edm.DateTime": "Date",
    "Edm.Guid": "Guid",
} | {
    f"Edm.{t}": "Number" for t in ("Int16", "Int32", "Int64", "Byte", "SByte", "Double", "Single", "Decimal")
}
_MONTHS_PER = {"month": 1, "quarter": 3, "year": 12}
_SECONDS_PER = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


class ODataQueryError(Exception):
    """A query option the emulator rejects: code is 1C's odata.error code ("14" syntax, "21" unsupported function, "10" unknown property)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _Guid(str):
    """A guid'...' literal (lowercased); compared case-insensitively with plain strings."""

    __slots__ = ()


class _DateTime(str):
    """A datetime'...' literal (normalised to whole seconds); a plain '...' string is not one."""

    __slots__ = ()


class _Ref(NamedTuple):
    """A reference held by a composite attribute: equal only to a reference of the same type."""

    value: str
    type: str


class Node:
    """A parsed $filter expression."""

    __slots__ = ()

    def ev(self, rec: Record, resolve: Resolver | None, env: Env) -> Any:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class _Lit(Node):
    value: Any

    def ev(self, rec: Record, resolve: Resolver | None, env: Env) -> Any:
        return self.value


@dataclass(frozen=True, slots=True)
class _Path(Node):
    var: str | None  # lambda range variable the path starts from; None = the record itself
    segments: tuple[str, ...]

    def locate(self, rec: Record, resolve: Resolver | None, env: Env) -> tuple[Record | None, str]:
        cont = rec if self.var is None else env[self.var]
        if len(self.segments) > 1:
            cont = _navigate(cont, self.segments[:-1], resolve)
        return cont, self.segments[-1]

    def ev(self, rec: Record, resolve: Resolver | None, env: Env) -> Any:
        if len(self.segments) == 1:
            return _leaf(rec if self.var is None else env[self.var], self.segments[0])
        if not self.segments:
            return env[self.var] if self.var is not None else rec
        cont, name = self.locate(rec, resolve, env)
        return None if cont is None else _leaf(cont, name)


@dataclass(frozen=True, slots=True)
class _Member(Node):
    """`cast(X,'Document_Y')/Field`: follow a composite reference once its type is confirmed."""

    cast: _TypeOp
    segments: tuple[str, ...]

    def locate(self, rec: Record, resolve: Resolver | None, env: Env) -> tuple[Record | None, str]:
        source = self.cast.arg
        if not isinstance(source, _Path | _Member) or not isinstance(self.cast.ev(rec, resolve, env), _Ref):
            return None, ""
        cont, name = source.locate(rec, resolve, env)
        return (
            None if cont is None else _navigate(cont, (name, *self.segments[:-1]), resolve)
        ), self.segments[-1]

    def ev(self, rec: Record, resolve: Resolver | None, env: Env) -> Any:
        cont, name = self.locate(rec, resolve, env)
        return None if cont is None else _leaf(cont, name)


@dataclass(frozen=True, slots=True)
class _Unary(Node):
    op: str  # "not", "-", or "isnull"/"notnull" for `eq null`/`ne null`, the only comparisons true on null
    operand: Node

    def ev(self, rec: Record, resolve: Resolver | None, env: Env) -> Any:
        v = self.operand.ev(rec, resolve, env)
        if self.op == "not":
            return not v if type(v) is bool else None
        if self.op == "-":
            n = _num(v)
            return None if n is None else -n
        return (v is None) == (self.op == "isnull")


@dataclass(frozen=True, slots=True)
class _Binary(Node):
    op: str
    left: Node
    right: Node

    def ev(self, rec: Record, resolve: Resolver | None, env: Env) -> Any:
        op, left = self.op, self.left.ev(rec, resolve, env)
        # and/or follow SQL three-valued logic (None = unknown) and short-circuit.
        if op == "and":
            if left is False:
                return False
            right = self.right.ev(rec, resolve, env)
            return False if right is False else True if left is True and right is True else None
        if op == "or":
            if left is True:
                return True
            right = self.right.ev(rec, resolve, env)
            return True if right is True else False if left is False and right is False else None
        right = self.right.ev(rec, resolve, env)
        return _compare(op, left, right) if op in _CMP else _arith(op, left, right)


@dataclass(frozen=True, slots=True)
class _Call(Node):
    name: str
    args: tuple[Node, ...]

    def ev(self, rec: Record, resolve: Resolver | None, env: Env) -> Any:
        return _FUNCS[self.name][2]([a.ev(rec, resolve, env) for a in self.args])


@dataclass(frozen=True, slots=True)
class _TypeOp(Node):
    """cast(expr, 'Type') / isof(expr, 'Type'); they need the declared `_Type` of a composite attribute."""

    kind: str
    arg: Node
    target: str  # String, Number, Boolean, Date, Guid or an entity type such as Document_X

    def ev(self, rec: Record, resolve: Resolver | None, env: Env) -> Any:
        value, vtype = _typed_value(self.arg, rec, resolve, env)
        target = self.target
        if self.kind == "isof":
            return vtype == target
        if value is None:
            return None
        if target == "Number":
            return _num(value) if vtype in ("Number", "String") else None
        if target in ("String", "Boolean", "Date"):
            return value if vtype == target else None
        if target == "Guid":
            return _Guid(value.lower()) if vtype == "Guid" else None
        return _Ref(str(value).lower(), "StandardODATA." + target) if vtype in (target, "Guid") else None


@dataclass(frozen=True, slots=True)
class _Lambda(Node):
    collection: _Path
    kind: str  # "any" | "all"
    var: str | None
    body: Node | None

    def ev(self, rec: Record, resolve: Resolver | None, env: Env) -> Any:
        rows = self.collection.ev(rec, resolve, env) or []
        if not isinstance(rows, list):
            return None
        if self.body is None or self.var is None:
            return bool(rows)
        scope, want = dict(env), self.kind == "any"
        for row in rows:
            scope[self.var] = row
            if (self.body.ev(rec, resolve, scope) is True) == want:
                return want
        return not want


def _leaf(cont: Record, name: str) -> Any:
    value, vtype = cont.get(name), cont.get(name + "_Type")
    if type(vtype) is not str or not vtype.startswith("StandardODATA."):
        return value  # plain attribute, or a composite holding a primitive (Edm.String, Edm.Double...)
    return None if vtype == "StandardODATA.Undefined" else _Ref(str(value or "").lower(), vtype)


def _navigate(cont: Record | None, names: tuple[str, ...], resolve: Resolver | None) -> Record | None:
    if resolve is None:
        raise ODataQueryError("14", f"Навигация по свойству '{names[0]}' не поддерживается в этом контексте")
    for name in names:
        cont = None if cont is None else resolve(cont, name)
    return cont


def _typed_value(arg: Node, rec: Record, resolve: Resolver | None, env: Env) -> tuple[Any, str | None]:
    if isinstance(arg, _Path | _Member) and arg.segments:
        cont, name = arg.locate(rec, resolve, env)
        if cont is None:
            return None, None
        value, declared = cont.get(name), cont.get(name + "_Type")
        if type(declared) is str:
            short = _EDM_ALIASES.get(declared, declared.removeprefix("StandardODATA."))
            return (None if short == "Undefined" else value), short
    else:
        value = arg.ev(rec, resolve, env)
    if isinstance(value, _Ref):
        return value, value.type.removeprefix("StandardODATA.")
    if isinstance(value, bool):
        return value, "Boolean"
    if isinstance(value, int | float):
        return value, "Number"
    if isinstance(value, str):
        return value, "Guid" if _GUID_RE.match(value) else "Date" if _DATE_VALUE_RE.match(value) else "String"
    return value, None


def _num(v: Any) -> int | float | None:
    if isinstance(v, int | float) and not isinstance(v, bool):
        return v
    if isinstance(v, str) and v:
        for convert in (int, float):  # Int64 values (LineNumber) arrive as JSON strings
            try:
                return convert(v)
            except ValueError:
                pass
    return None


def _compare(op: str, a: Any, b: Any) -> bool:
    if a is None or b is None:
        return False
    ta, tb = type(a), type(b)
    if ta is not tb:
        if ta is _Ref or tb is _Ref or ta is bool or tb is bool:
            return op == "ne"
        if isinstance(a, str) and isinstance(b, str):
            a, b = a.lower(), b.lower()  # one side is a guid literal
        else:
            a, b = _num(a), _num(b)
            if a is None or b is None:
                return op == "ne"
    elif ta is _Ref:
        if a.type != b.type:
            return op == "ne"
        a, b = a.value, b.value
    try:
        return bool(_CMP[op](a, b))
    except TypeError:
        return op == "ne"


def _arith(op: str, a: Any, b: Any) -> Any:
    x, y = _num(a), _num(b)
    if x is None or y is None or (y == 0 and op in ("div", "mod")):
        return None
    if op == "mod":
        r = math.fmod(x, y)
        return int(r) if isinstance(x, int) and isinstance(y, int) else r
    return {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv}[op](x, y)


@lru_cache(maxsize=512)
def _like_regex(template: str) -> re.Pattern[str]:
    """Translate a 1C ПОДОБНО template (%, _, [abc], [^abc], [a-z]) into a regex; cached, so compiled once."""
    out, i = [], 0
    while i < len(template):
        c = template[i]
        if c == "[":
            end = template.find("]", i + 1)
            body = template[i + 1 : end].removeprefix("^")
            if end < 0 or not body:
                raise ODataQueryError("14", f"Некорректный шаблон like '{template}' в позиции {i + 1}")
            negate = "^" if template[i + 1] == "^" else ""
            out.append(f"[{negate}{''.join('-' if ch == '-' else re.escape(ch) for ch in body)}]")
            i = end
        else:
            out.append(".*" if c == "%" else "." if c == "_" else re.escape(c))
        i += 1
    try:
        return re.compile("".join(out), re.DOTALL)
    except re.error as exc:
        raise ODataQueryError("14", f"Некорректный шаблон like '{template}': {exc}") from exc


def _to_dt(v: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(v) if isinstance(v, str) else None
    except ValueError:
        return None


def _strings(fn: Callable[..., Any]) -> Callable[[list[Any]], Any]:
    return lambda args: fn(*args) if all(isinstance(a, str) for a in args) else None


def _dates(fn: Callable[..., Any]) -> Callable[[list[Any]], Any]:
    """Wrap fn(datetime, ...) so that a non-date first argument yields null."""
    return lambda args: None if (d := _to_dt(args[0])) is None else fn(d, *args[1:])


def _substring(args: list[Any]) -> Any:
    # 1C maps substring() onto ПОДСТРОКА, which is 1-based (DOC example: substring(ИНН, 1, 2) eq '77').
    s, start = args[0], _num(args[1])
    length = _num(args[2]) if len(args) > 2 else math.inf
    if not isinstance(s, str) or start is None or length is None:
        return None
    begin = max(int(start), 1) - 1
    return s[begin:] if length == math.inf else s[begin : begin + max(int(length), 0)]


def _dateadd(d: datetime, unit: str, n: Any) -> Any:
    n = _num(n)
    if n is None:
        return None
    try:
        if unit in _MONTHS_PER:
            total = d.month - 1 + int(n) * _MONTHS_PER[unit]
            year, month = d.year + total // 12, total % 12 + 1
            d = d.replace(year=year, month=month, day=min(d.day, monthrange(year, month)[1]))
        else:
            d += timedelta(seconds=int(n) * _SECONDS_PER[unit])
    except (OverflowError, ValueError):
        return None
    return d.isoformat(timespec="seconds")


def _datedifference(d1: datetime, d2: Any, unit: str) -> Any:
    # Like РАЗНОСТЬДАТ: both dates are truncated to the unit before subtracting (DateTime2 - DateTime1).
    if (d2 := _to_dt(d2)) is None:
        return None
    if unit in _MONTHS_PER:
        size = _MONTHS_PER[unit]
        return (d2.year * 12 + d2.month - 1) // size - (d1.year * 12 + d1.month - 1) // size
    origin = datetime(1, 1, 1)
    return (
        int((d2 - origin).total_seconds()) // _SECONDS_PER[unit]
        - int((d1 - origin).total_seconds()) // _SECONDS_PER[unit]
    )


def _round(args: list[Any]) -> Any:
    n = _num(args[0])
    return None if n is None else int(math.copysign(math.floor(abs(n) + 0.5), n))


_FUNCS: dict[str, tuple[int, int, Callable[[list[Any]], Any]]] = {
    "substringof": (2, 2, _strings(lambda needle, hay: needle in hay)),
    "startswith": (2, 2, _strings(str.startswith)),
    "endswith": (2, 2, _strings(str.endswith)),
    "concat": (2, 2, _strings(operator.add)),
    "substring": (2, 3, _substring),
    "like": (2, 2, _strings(lambda s, template: _like_regex(template).fullmatch(s) is not None)),
    "year": (1, 1, _dates(lambda d: d.year)),
    "month": (1, 1, _dates(lambda d: d.month)),
    "day": (1, 1, _dates(lambda d: d.day)),
    "hour": (1, 1, _dates(lambda d: d.hour)),
    "minute": (1, 1, _dates(lambda d: d.minute)),
    "second": (1, 1, _dates(lambda d: d.second)),
    "quarter": (1, 1, _dates(lambda d: (d.month - 1) // 3 + 1)),
    "dayofweek": (1, 1, _dates(lambda d: d.isoweekday())),  # 1 = Monday ... 7 = Sunday, as ДЕНЬНЕДЕЛИ
    "dayofyear": (1, 1, _dates(lambda d: d.timetuple().tm_yday)),
    "dateadd": (3, 3, _dates(_dateadd)),
    "datedifference": (3, 3, _dates(_datedifference)),
    "round": (1, 1, _round),
    "cast": (2, 2, lambda args: None),  # cast/isof are parsed into _TypeOp nodes; only the arity is used here
    "isof": (2, 2, lambda args: None),
}
_UNIT_ARG = {"dateadd": 1, "datedifference": 2}


class _Tok(NamedTuple):
    kind: str  # "lit", "name", "eof" or the punctuation character itself
    text: str
    value: Any
    pos: int


def _syntax(text: str, pos: int, detail: str) -> ODataQueryError:
    where = f"в позиции {pos + 1}: «{text[pos : pos + 24]}»" if pos < len(text) else "в конце выражения"
    return ODataQueryError("14", f"Ошибка разбора выражения: {detail} {where}")


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos == len(text):
            return [*toks, _Tok("eof", "", None, pos)]
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            ch = text[pos]
            bad = (
                "незакрытая строка"
                if ch == "'"
                else "некорректное число"
                if ch.isdigit()
                else f"недопустимый символ '{ch}'"
            )
            raise _syntax(text, pos, bad)
        if m["typed"] is not None:
            toks.append(_Tok("lit", m[0], _typed_literal(text, pos, m["typed"].lower(), m["body"]), pos))
        elif m["str"] is not None:
            toks.append(_Tok("lit", m[0], m["str"].replace("''", "'"), pos))
        elif m["num"] is not None:
            is_int = m["suffix"] in ("", "l", "L") and not any(c in m["num"] for c in ".eE")
            toks.append(_Tok("lit", m[0], int(m["num"]) if is_int else float(m["num"]), pos))
        else:
            toks.append(_Tok("name" if m["name"] else m[0], m[0], None, pos))
        pos = m.end()


def _typed_literal(text: str, pos: int, prefix: str, body: str) -> Any:
    if prefix == "guid" and _GUID_RE.match(body):
        return _Guid(body.lower())
    if prefix == "datetime" and _DATETIME_RE.match(body):
        try:
            return _DateTime(datetime.fromisoformat(body).isoformat(timespec="seconds"))
        except ValueError:
            pass
    raise _syntax(
        text,
        pos,
        f"некорректный литерал {prefix}'{body}' (ожидается guid'…' или datetime'ГГГГ-ММ-ДДTчч:мм:сс')",
    )


class _Parser:
    """Recursive descent over _LEVELS (OData v3 precedence, lowest first), then unary, then primary."""

    def __init__(self, text: str) -> None:
        self.text, self.toks, self.i = text, _tokenize(text), 0
        self.scopes: list[str] = []

    def peek(self, kind: str) -> bool:
        return self.toks[self.i].kind == kind

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += tok.kind != "eof"
        return tok

    def expect(self, kind: str, what: str) -> _Tok:
        tok = self.take()
        if tok.kind != kind:
            raise _syntax(self.text, tok.pos, f"ожидается {what}")
        return tok

    def parse(self) -> Node:
        node = self.level(0)
        if not self.peek("eof"):
            raise _syntax(self.text, self.toks[self.i].pos, "лишний фрагмент")
        return node

    def level(self, n: int) -> Node:
        if n == len(_LEVELS):
            return self.unary()
        node = self.level(n + 1)
        while (tok := self.toks[self.i]).kind == "name" and tok.text in _LEVELS[n]:
            self.take()
            right = self.level(n + 1)
            null_side = right if _is_null(node) else node if _is_null(right) else None
            if tok.text in ("eq", "ne") and null_side is not None:
                node = _Unary("isnull" if tok.text == "eq" else "notnull", null_side)
            else:
                node = _Binary(tok.text, node, right)
        return node

    def unary(self) -> Node:
        tok = self.toks[self.i]
        if tok.kind == "-" or (tok.kind == "name" and tok.text == "not"):
            self.take()
            operand = self.unary()
            if tok.kind == "-" and isinstance(operand, _Lit) and type(operand.value) in (int, float):
                return _Lit(-operand.value)
            return _Unary(tok.text, operand)
        return self.primary()

    def primary(self) -> Node:
        tok = self.take()
        if tok.kind == "lit":
            return _Lit(tok.value)
        if tok.kind == "(":
            node = self.level(0)
            self.expect(")", "')'")
            return node
        if tok.kind == "name" and tok.text not in _OPERATORS:
            if tok.text in ("true", "false", "null"):
                return _Lit({"true": True, "false": False, "null": None}[tok.text])
            return self.call(tok) if self.peek("(") else self.path(tok)
        raise _syntax(
            self.text, tok.pos, "неожиданный конец выражения" if tok.kind == "eof" else "ожидается операнд"
        )

    def segments(self) -> list[str]:
        segs = []
        while self.peek("/"):
            self.take()
            segs.append(self.expect("name", "имя свойства после '/'").text)
            if segs[-1] in ("any", "all") and self.peek("("):
                break
        return segs

    def path(self, tok: _Tok) -> Node:
        var = tok.text if tok.text in self.scopes else None
        segs = [tok.text] * (var is None) + self.segments()
        if not segs or segs[-1] not in ("any", "all") or not self.peek("("):
            return _Path(var, tuple(segs))
        collection, kind = _Path(var, tuple(segs[:-1])), segs[-1]
        if not collection.segments:
            raise _syntax(self.text, tok.pos, "ожидается табличная часть перед any/all")
        self.take()
        if kind == "any" and self.peek(")"):
            self.take()
            return _Lambda(collection, kind, None, None)
        name = self.expect("name", "имя переменной лямбда-выражения").text
        self.expect(":", "':'")
        self.scopes.append(name)
        body = self.level(0)
        self.scopes.pop()
        self.expect(")", "')'")
        return _Lambda(collection, kind, name, body)

    def call(self, tok: _Tok) -> Node:
        name = tok.text
        if name not in _FUNCS:
            raise ODataQueryError("21", f"Функция не поддерживается: {name}")
        self.take()
        args = [] if self.peek(")") else [self.level(0)]
        while args and self.peek(","):
            self.take()
            args.append(self.level(0))
        self.expect(")", "')' или ','")
        if not _FUNCS[name][0] <= len(args) <= _FUNCS[name][1]:
            raise ODataQueryError("21", f"Неверное количество параметров функции {name}: {len(args)}")
        if name in ("cast", "isof"):
            return self.type_op(name, args)
        unit = args[_UNIT_ARG[name]] if name in _UNIT_ARG else None
        if unit is not None and not (_is_str(unit) and _lit(unit) in (*_MONTHS_PER, *_SECONDS_PER)):
            raise ODataQueryError("21", f"Неверный параметр Type функции {name}: {unit}")
        if name == "like" and _is_str(args[1]):
            _like_regex(_lit(args[1]))  # validate the template once, at parse time
        return _Call(name, tuple(args))

    def type_op(self, kind: str, args: list[Node]) -> Node:
        if not _is_str(args[1]):
            raise ODataQueryError("21", f"Второй параметр функции {kind} должен быть строкой с именем типа")
        name = _lit(args[1]).removeprefix("StandardODATA.")
        if (target := _EDM_ALIASES.get(name, name)).startswith("Edm."):
            raise ODataQueryError("21", f"Тип не поддерживается функцией {kind}: {name}")
        node = _TypeOp(kind, args[0], target)
        if kind == "isof" or not self.peek("/"):
            return node
        if not isinstance(args[0], _Path | _Member) or not args[0].segments:
            raise ODataQueryError(
                "21", "Переход по результату cast() возможен только для реквизита составного типа"
            )
        return _Member(node, tuple(self.segments()))


def _is_null(node: Node) -> bool:
    return isinstance(node, _Lit) and node.value is None


def _is_str(node: Node) -> bool:
    return isinstance(node, _Lit) and isinstance(node.value, str)


def _lit(node: Node) -> Any:
    return node.value if isinstance(node, _Lit) else None


def _walk(node: Node) -> Iterator[Node]:
    yield node
    for name in getattr(node, "__dataclass_fields__", ()):
        value = getattr(node, name)
        for child in value if isinstance(value, tuple) else (value,):
            if isinstance(child, Node):
                yield from _walk(child)


def _check_properties(node: Node, properties: set[str]) -> None:
    for sub in _walk(node):
        if isinstance(sub, _Path) and sub.var is None and sub.segments:
            head = sub.segments[0]
            if head not in properties and not (len(sub.segments) > 1 and head + "_Key" in properties):
                raise ODataQueryError("10", f"Свойство не найдено: {head}")


_TYPED = {"Edm.Guid": "guid'…'", "Edm.DateTime": "datetime'ГГГГ-ММ-ДДTчч:мм:сс'"}


def _check_literals(node: Node, types: Mapping[str, str]) -> None:
    """1C compares a reference only with guid'…' and a date only with datetime'…'; a plain string is refused.

    `types` maps a property (`Контрагент_Key`) or a tabular column (`Товары/Номенклатура_Key`) to its Edm type.
    """
    tables: dict[str, str] = {}  # lambda range variable -> the tabular section it ranges over
    for sub in _walk(node):
        if isinstance(sub, _Lambda) and sub.var is not None and sub.collection.segments:
            tables[sub.var] = sub.collection.segments[-1]
        if not (isinstance(sub, _Binary) and sub.op in _CMP):
            continue
        for path, other in ((sub.left, sub.right), (sub.right, sub.left)):
            if not (isinstance(path, _Path) and len(path.segments) == 1 and isinstance(other, _Lit)):
                continue
            if type(other.value) is not str:
                continue
            name = path.segments[0]
            key = name if path.var is None else f"{tables.get(path.var, '')}/{name}"
            edm = types.get(key)
            if edm in _TYPED:
                raise ODataQueryError(
                    "14",
                    f"Ошибка разбора параметра запроса $filter: свойство {name} имеет тип {edm}, "
                    f"а значение '{other.value}' - строка (ожидается {_TYPED[edm]})",
                )


class Term(NamedTuple):
    """A top-level conjunct of a $filter an index could serve: `Name op literal` (literal on either side), or
    `Name eq a or Name eq b …` as op "in"."""

    name: str
    op: str  # eq | gt | ge | lt | le | in
    values: tuple[Any, ...]


_FLIPPED = {"eq": "eq", "gt": "lt", "ge": "le", "lt": "gt", "le": "ge"}


def _literal(node: Node) -> Any:
    """The value of a literal, or of `cast(guid'…', 'Type')` (a typed reference: equal only where its GUID is);
    None for anything else."""
    if isinstance(node, _TypeOp) and node.kind == "cast" and isinstance(node.arg, _Lit):
        return node.arg.value if type(node.arg.value) is _Guid else None
    return node.value if isinstance(node, _Lit) else None


def _comparison(node: Node) -> Term | None:
    if isinstance(node, _Binary) and node.op in _FLIPPED:
        for path, lit, op in ((node.left, node.right, node.op), (node.right, node.left, _FLIPPED[node.op])):
            value = _literal(lit)
            if isinstance(path, _Path) and path.var is None and len(path.segments) == 1 and value is not None:
                return Term(path.segments[0], op, (value,))
    return None


def _alternatives(node: Node) -> Term | None:
    """`A eq x or A eq y or …` over one property (any nesting of the or's), else None."""
    name: str | None = None
    values: list[Any] = []
    stack = [node]
    while stack:
        sub = stack.pop()
        if isinstance(sub, _Binary) and sub.op == "or":
            stack += [sub.right, sub.left]
            continue
        term = _comparison(sub)
        if term is None or term.op != "eq" or name not in (None, term.name):
            return None
        name = term.name
        values.extend(term.values)
    return None if name is None else Term(name, "in", tuple(values))


def index_terms(node: Node | None) -> list[Term]:
    """The conjuncts of a parsed $filter that compare a header property with a literal: every row the filter keeps
    satisfies each of them, so an index on that property may narrow the rows to check (never widen them)."""
    out: list[Term] = []
    stack = [] if node is None else [node]
    while stack:
        sub = stack.pop()
        if isinstance(sub, _Binary) and sub.op == "and":
            stack += [sub.right, sub.left]
            continue
        term = _comparison(sub) or (
            _alternatives(sub) if isinstance(sub, _Binary) and sub.op == "or" else None
        )
        if term is not None:
            out.append(term)
    return out


def is_datetime_literal(value: Any) -> bool:
    """A `datetime'…'` literal of a $filter (normalised to whole seconds)."""
    return type(value) is _DateTime


def is_guid_literal(value: Any) -> bool:
    """A `guid'…'` literal of a $filter (lower case)."""
    return type(value) is _Guid


def parse_filter(text: str) -> Node:
    """Parse a $filter string into an AST; raises ODataQueryError."""
    return _Parser(text).parse()


def evaluate(
    node: Node, record: Record, resolve: Resolver | None = None, properties: set[str] | None = None
) -> Any:
    """Evaluate a parsed $filter against one record; None means null/unknown."""
    if properties is not None:
        _check_properties(node, properties)
    result = node.ev(record, resolve, _NO_ENV)
    return result.value if isinstance(result, _Ref) else result


def compile_filter(
    text: str, *, properties: set[str] | None = None, types: Mapping[str, str] | None = None
) -> Callable[[Record, Resolver | None], bool]:
    """Parse (and check against properties and their Edm types) once; return a predicate (record, resolve)."""
    return compile_parsed(text, properties=properties, types=types)[0]


def compile_parsed(
    text: str, *, properties: set[str] | None = None, types: Mapping[str, str] | None = None
) -> tuple[Callable[[Record, Resolver | None], bool], Node]:
    """`compile_filter`, also returning the parsed expression (for `index_terms`)."""
    node = parse_filter(text)
    if properties is not None:
        _check_properties(node, properties)
    if types is not None:
        _check_literals(node, types)

    def predicate(record: Record, resolve: Resolver | None = None) -> bool:
        return node.ev(record, resolve, _NO_ENV) is True

    return predicate, node


def _items(text: str, option: str) -> Iterator[tuple[int, str]]:
    offset = 0
    for chunk in text.split(","):
        if not (item := chunk.strip()):
            raise ODataQueryError("14", f"Ошибка разбора {option}: пустой элемент в позиции {offset + 1}")
        yield offset + chunk.index(item[0]), item
        offset += len(chunk) + 1


def parse_orderby(text: str) -> list[tuple[list[str], bool]]:
    """Parse $orderby into [(path segments, descending)]."""
    result = []
    for pos, item in _items(text, "$orderby"):
        path, *direction = item.split()
        segments = path.split("/")
        if len(direction) > 1 or not all(_IDENT_RE.fullmatch(seg) for seg in segments):
            raise ODataQueryError(
                "14", f"Ошибка разбора $orderby: некорректный элемент '{item}' в позиции {pos + 1}"
            )
        if direction and direction[0].lower() not in ("asc", "desc"):
            raise ODataQueryError(
                "14", f"Ошибка разбора $orderby: неизвестное направление '{direction[0]}' в позиции {pos + 1}"
            )
        result.append((segments, bool(direction) and direction[0].lower() == "desc"))
    return result


def _sort_key(value: Any, numeric: bool) -> tuple[int, Any]:
    if value is None or value in ("", ZERO_GUID, EMPTY_DATE):
        return (0, 0)
    if isinstance(value, bool):
        return (1, value)
    if isinstance(value, int | float):
        return (2, value)
    if isinstance(value, str):
        return (2, int(value)) if numeric else (3, value)
    return (4, repr(value))


def sort_records(
    records: list[Record], orderby: list[tuple[list[str], bool]], resolve: Resolver | None = None
) -> list[Record]:
    """Stable multi-key sort; empty values (None, '', zero GUID, empty date) come first when ascending."""
    result = list(records)
    for path, descending in reversed(orderby):
        nav, name = tuple(path[:-1]), path[-1]
        if nav and resolve is None:
            _navigate(None, nav, resolve)  # raises, even for an empty record list
        conts = [_navigate(r, nav, resolve) if nav else r for r in result]
        values = [None if c is None else c.get(name) for c in conts]
        # Int64 columns (LineNumber) arrive as strings: sort them numerically unless they look like padded codes.
        numeric = all(_INT_STR_RE.match(v) for v in values if isinstance(v, str) and v)
        keys = [_sort_key(v, numeric) for v in values]
        result = [result[i] for i in sorted(range(len(result)), key=keys.__getitem__, reverse=descending)]
    return result


def parse_select(text: str) -> list[str]:
    """Split and validate $select: *, **, *____Presentation, names, ТЧ/Поле, X____Presentation."""
    result = []
    for pos, item in _items(text, "$select"):
        if item not in ("*", "**", "*____Presentation") and not all(
            _IDENT_RE.fullmatch(s) for s in item.split("/")
        ):
            raise ODataQueryError(
                "14", f"Ошибка разбора $select: некорректный элемент '{item}' в позиции {pos + 1}"
            )
        result.append(item)
    return result
