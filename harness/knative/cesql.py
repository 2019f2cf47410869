"""CloudEvents SQL (CESQL v1) as Knative's Trigger filter evaluates it: a parser and an
evaluator written for the emulator, following the behaviour of the cloudevents sdk-go
``sql/v2`` package that knative/eventing vendors (8cf4c4b6:
``vendor/github.com/cloudevents/sdk-go/sql/v2/CESQLParser.g4``, ``expression/*.go``,
``utils/casting.go``, ``function/*.go``; ``pkg/eventfilter/subscriptionsapi/cesql_filter.go``).

- Values are strings, int32 integers and booleans. Keywords and function names are
  case-insensitive, identifiers (event attributes) are lower-cased.
- Precedence, high to low, as the grammar's alternatives: function call, ``NOT``, unary
  ``-``, ``LIKE``, ``EXISTS``, ``IN``, ``* / %``, ``+ -``, comparisons, and ``AND``/``OR``/
  ``XOR`` at one level, right-associative (so ``a AND b OR c`` is ``a AND (b OR c)``).
- An attribute the event lacks is an evaluation error; any error makes the filter FAIL.
- ``=``/``!=``/``<>`` cast the left value to the right one's type, ``IN`` casts each set
  element to the left value's type, ``< <= > >=`` and arithmetic compare int32s (wrapping
  as Go does), ``AND``/``OR`` short-circuit.
- Functions: ABS, LENGTH, CONCAT, CONCAT_WS, LOWER, UPPER, TRIM, LEFT, RIGHT,
  SUBSTRING (2 or 3 arguments), INT, BOOL, STRING, IS_INT, IS_BOOL. An unknown function
  or arity parses and fails at evaluation, as in the sdk.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

Value = str | int | bool
Attributes = Mapping[str, str]
MAX_LENGTH = 64 * 1024  # longer expressions are refused (the parser is recursive)
MAX_DEPTH = 200


class CesqlError(ValueError):
    """A syntax error (at parse) or an evaluation error (missing attribute, bad cast)."""


# ----- lexing -----

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<dq>"(?:\\.|""|[^"\\])*")
    | (?P<sq>'(?:\\.|''|[^'\\])*')
    | (?P<word>[0-9]*[A-Za-z_][A-Za-z0-9_]*)
    | (?P<int>[0-9]+)
    | (?P<op>!=|<>|>=|<=|[()*/%+\-=<>,])
    )""",
    re.VERBOSE,
)
_KEYWORDS = frozenset({"AND", "OR", "XOR", "NOT", "LIKE", "EXISTS", "IN", "TRUE", "FALSE"})
_IDENTIFIER = re.compile(r"^[A-Za-z0-9]+$")
_FUNCTION = re.compile(r"^[A-Za-z][A-Za-z_]*$")


@dataclass(frozen=True)
class _Token:
    kind: str  # str, int, word, kw, op, end
    text: str


def _lex(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    at = 0
    while True:
        while at < len(text) and text[at] in " \t\r\n":
            at += 1
        if at >= len(text):
            break
        match = _TOKEN.match(text, at)
        if match is None or match.end() == at:
            raise CesqlError(f"syntax error: unexpected {text[at : at + 10]!r} at {at}")
        at = match.end()
        if match.group("dq") is not None:
            tokens.append(_Token("str", match.group("dq")[1:-1].replace('\\"', '"')))
        elif match.group("sq") is not None:
            tokens.append(_Token("str", match.group("sq")[1:-1].replace("\\'", "'")))
        elif match.group("int") is not None:
            tokens.append(_Token("int", match.group("int")))
        elif match.group("word") is not None:
            word = match.group("word")
            upper = word.upper()
            tokens.append(_Token("kw", upper) if upper in _KEYWORDS else _Token("word", word))
        else:
            tokens.append(_Token("op", match.group("op")))
    tokens.append(_Token("end", ""))
    return tokens


# ----- the tree -----

Evaluate = Callable[[Attributes], Value]


def _int32(value: int) -> int:
    return (value + 2**31) % 2**32 - 2**31


def _type(value: Value) -> type:
    return bool if isinstance(value, bool) else type(value)


def cast(value: Value, target: type) -> Value:
    """sdk-go ``utils.Cast``."""
    if _type(value) is target:
        return value
    if target is str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)
    if target is int:
        if isinstance(value, bool):
            return 1 if value else 0
        assert isinstance(value, str)
        if not re.fullmatch(r"[+-]?[0-9]+", value) or not -(2**31) <= int(value) < 2**31:
            raise CesqlError(f"cannot cast from String to Integer: {value[:40]!r}")
        return int(value)
    if isinstance(value, str):
        lower = value.lower()
        if lower in ("true", "false"):
            return lower == "true"
        raise CesqlError(f"cannot cast String to Boolean, actual value: {value[:40]!r}")
    return value != 0


def _can_cast(value: Value, target: type) -> bool:
    try:
        cast(value, target)
    except CesqlError:
        return False
    return True


def _attribute(name: str) -> Evaluate:
    def get(attrs: Attributes) -> Value:
        found = attrs.get(name)
        if found is None:
            raise CesqlError(f"missing attribute {name!r}")
        return found

    return get


def _exists(name: str) -> Evaluate:
    always = name in ("specversion", "id", "source", "type")
    return lambda attrs: always or name in attrs


def _literal(value: Value) -> Evaluate:
    return lambda _: value


def _not(inner: Evaluate) -> Evaluate:
    return lambda attrs: not cast(inner(attrs), bool)


def _negate(inner: Evaluate) -> Evaluate:
    return lambda attrs: _int32(-int(cast(inner(attrs), int)))


def _like(inner: Evaluate, pattern: str) -> Evaluate:
    parts = []
    at = 0
    while at < len(pattern):
        ch = pattern[at]
        if ch == "\\" and at + 1 < len(pattern) and pattern[at + 1] in "%_":
            parts.append(re.escape(pattern[at + 1]))
            at += 2
            continue
        parts.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        at += 1
    regex = re.compile("".join(parts), re.DOTALL)
    return lambda attrs: regex.fullmatch(str(cast(inner(attrs), str))) is not None


def _in(left: Evaluate, items: Sequence[Evaluate]) -> Evaluate:
    def check(attrs: Attributes) -> Value:
        value = left(attrs)
        target = _type(value)
        return any(cast(item(attrs), target) == value for item in items)

    return check


def _equal(left: Evaluate, right: Evaluate, equal: bool) -> Evaluate:
    def check(attrs: Attributes) -> Value:
        a, b = left(attrs), right(attrs)
        return (cast(a, _type(b)) == b) == equal

    return check


def _div(x: int, y: int) -> int:
    if y == 0:
        raise CesqlError("division by zero")
    quotient = abs(x) // abs(y)
    return quotient if (x >= 0) == (y >= 0) else -quotient


def _mod(x: int, y: int) -> int:
    if y == 0:
        raise CesqlError("division by zero")
    return x - _div(x, y) * y


_MATH: dict[str, Callable[[int, int], int]] = {
    "+": lambda x, y: x + y,
    "-": lambda x, y: x - y,
    "*": lambda x, y: x * y,
    "/": _div,
    "%": _mod,
}
_COMPARE: dict[str, Callable[[int, int], bool]] = {
    "<": lambda x, y: x < y,
    "<=": lambda x, y: x <= y,
    ">": lambda x, y: x > y,
    ">=": lambda x, y: x >= y,
}


def _math(op: str, left: Evaluate, right: Evaluate) -> Evaluate:
    fn = _MATH[op]

    def run(attrs: Attributes) -> Value:
        a, b = left(attrs), right(attrs)
        return _int32(fn(int(cast(a, int)), int(cast(b, int))))

    return run


def _compare(op: str, left: Evaluate, right: Evaluate) -> Evaluate:
    fn = _COMPARE[op]
    return lambda attrs: fn(int(cast(left(attrs), int)), int(cast(right(attrs), int)))


def _logic(op: str, left: Evaluate, right: Evaluate) -> Evaluate:
    def run(attrs: Attributes) -> Value:
        a = cast(left(attrs), bool)
        if op == "AND" and not a:
            return False
        if op == "OR" and a:
            return True
        b = cast(right(attrs), bool)
        return a != b if op == "XOR" else b

    return run


# ----- functions -----


def _substring(s: str, pos: int, length: int | None = None) -> str:
    if pos == 0:
        return ""
    if pos < -len(s) or pos > len(s):
        raise CesqlError(f"SUBSTRING invalid pos argument: {pos}")
    begin = len(s) + pos if pos < 0 else pos - 1
    if length is None:
        return s[begin:]
    return s[begin : min(begin + length, len(s))] if begin + length >= begin else ""


def _left(s: str, n: int) -> str:
    if n > len(s):
        return s
    if n < 0:
        raise CesqlError(f"LEFT y argument is < 0: {n}")
    return s[:n]


def _right(s: str, n: int) -> str:
    if n > len(s):
        return s
    if n < 0:
        raise CesqlError(f"RIGHT y argument is < 0: {n}")
    return s[len(s) - n :]


def _abs(x: int) -> int:
    if x == -(2**31):
        raise CesqlError("integer overflow while computing ABS")
    return abs(x)


@dataclass(frozen=True)
class _Function:
    args: tuple[type | None, ...]  # None: any type
    variadic: type | None
    run: Callable[..., Value]


_FUNCTIONS: dict[tuple[str, int | None], _Function] = {
    ("ABS", 1): _Function((int,), None, _abs),
    ("LENGTH", 1): _Function((str,), None, lambda s: _int32(len(s.encode()))),
    ("CONCAT", None): _Function((), str, lambda *s: "".join(s)),
    ("CONCAT_WS", None): _Function((str,), str, lambda sep, *s: sep.join(s) if s else ""),
    ("LOWER", 1): _Function((str,), None, str.lower),
    ("UPPER", 1): _Function((str,), None, str.upper),
    ("TRIM", 1): _Function((str,), None, str.strip),
    ("LEFT", 2): _Function((str, int), None, _left),
    ("RIGHT", 2): _Function((str, int), None, _right),
    ("SUBSTRING", 2): _Function((str, int), None, _substring),
    ("SUBSTRING", 3): _Function((str, int, int), None, _substring),
    ("INT", 1): _Function((None,), None, lambda v: cast(v, int)),
    ("BOOL", 1): _Function((None,), None, lambda v: cast(v, bool)),
    ("STRING", 1): _Function((None,), None, lambda v: cast(v, str)),
    ("IS_INT", 1): _Function((None,), None, lambda v: _can_cast(v, int)),
    ("IS_BOOL", 1): _Function((None,), None, lambda v: _can_cast(v, bool)),
}


def _resolve(name: str, arity: int) -> _Function | None:
    found = _FUNCTIONS.get((name, arity))
    if found is None:
        variadic = _FUNCTIONS.get((name, None))
        if variadic is not None and arity >= len(variadic.args):
            return variadic
    return found


def _call(name: str, args: Sequence[Evaluate]) -> Evaluate:
    def run(attrs: Attributes) -> Value:
        fn = _resolve(name, len(args))
        if fn is None:
            raise CesqlError(f"unknown function {name}/{len(args)}")
        values = []
        for i, arg in enumerate(args):
            target = fn.args[i] if i < len(fn.args) else fn.variadic
            value = arg(attrs)
            values.append(value if target is None else cast(value, target))
        return fn.run(*values)

    return run


# ----- parsing (precedence climbing, as ANTLR's left-recursive rule) -----

_BINARY: dict[str, int] = {
    **dict.fromkeys(("*", "/", "%"), 5),
    **dict.fromkeys(("+", "-"), 4),
    **dict.fromkeys(("=", "!=", "<>", "<", "<=", ">", ">="), 3),
    **dict.fromkeys(("AND", "OR", "XOR"), 2),
}
_LIKE, _IN, _UNARY = 8, 6, 9


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.at = 0
        self.depth = 0

    def peek(self) -> _Token:
        return self.tokens[self.at]

    def take(self) -> _Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def expect(self, kind: str, text: str | None = None) -> _Token:
        token = self.take()
        if token.kind != kind or (text is not None and token.text != text):
            shown = token.text or "end of input"
            raise CesqlError(f"syntax error: expected {text or kind}, got {shown!r}")
        return token

    def expression(self, min_prec: int = 0) -> Evaluate:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise CesqlError("expression nested too deeply")
        left = self.prefix()
        while True:
            token = self.peek()
            op = token.text if token.kind in ("op", "kw") else ""
            if op == "NOT" and self.tokens[self.at + 1].text in ("LIKE", "IN"):
                negate, op = True, self.tokens[self.at + 1].text
            else:
                negate = False
            if op == "LIKE" and min_prec <= _LIKE:
                self.at += 2 if negate else 1
                pattern = self.expect("str").text
                left = _like(left, pattern)
            elif op == "IN" and min_prec <= _IN:
                self.at += 2 if negate else 1
                left = _in(left, self.set())
            elif not negate and op in _BINARY and _BINARY[op] >= min_prec:
                self.take()
                prec = _BINARY[op]
                right = self.expression(prec if prec == 2 else prec + 1)
                if prec == 2:
                    left = _logic(op, left, right)
                elif prec == 3:
                    if op in ("=", "!=", "<>"):
                        left = _equal(left, right, op == "=")
                    else:
                        left = _compare(op, left, right)
                else:
                    left = _math(op, left, right)
                continue
            else:
                break
            if negate:
                left = _not(left)
        self.depth -= 1
        return left

    def set(self) -> list[Evaluate]:
        self.expect("op", "(")
        items = [self.expression()]
        while self.peek().text == "," and self.peek().kind == "op":
            self.take()
            items.append(self.expression())
        self.expect("op", ")")
        return items

    def prefix(self) -> Evaluate:
        token = self.take()
        if token.kind == "kw":
            if token.text == "NOT":
                return _not(self.expression(_UNARY + 1))
            if token.text == "EXISTS":
                name = self.expect("word").text
                if not _IDENTIFIER.match(name):
                    raise CesqlError(f"syntax error: not an attribute name: {name!r}")
                return _exists(name.lower())
            if token.text in ("TRUE", "FALSE"):
                return _literal(token.text == "TRUE")
            raise CesqlError(f"syntax error: unexpected {token.text}")
        if token.kind == "op":
            if token.text == "(":
                inner = self.expression()
                self.expect("op", ")")
                return inner
            if token.text in ("-", "+") and self.peek().kind == "int":
                return _literal(self.integer(token.text + self.take().text))
            if token.text == "-":
                return _negate(self.expression(_UNARY))
            raise CesqlError(f"syntax error: unexpected {token.text!r}")
        if token.kind == "str":
            return _literal(token.text)
        if token.kind == "int":
            return _literal(self.integer(token.text))
        if token.kind == "word":
            if self.peek().kind == "op" and self.peek().text == "(":
                if not _FUNCTION.match(token.text):
                    raise CesqlError(f"syntax error: not a function name: {token.text!r}")
                return _call(token.text.upper(), self.arguments())
            if not _IDENTIFIER.match(token.text):
                raise CesqlError(f"syntax error: not an attribute name: {token.text!r}")
            return _attribute(token.text.lower())
        raise CesqlError("syntax error: unexpected end of input")

    def arguments(self) -> list[Evaluate]:
        self.expect("op", "(")
        if self.peek().kind == "op" and self.peek().text == ")":
            self.take()
            return []
        items = [self.expression()]
        while self.peek().kind == "op" and self.peek().text == ",":
            self.take()
            items.append(self.expression())
        self.expect("op", ")")
        return items

    @staticmethod
    def integer(text: str) -> int:
        value = int(text)
        if not -(2**31) <= value < 2**31:
            raise CesqlError(f"integer out of the 32-bit range: {text}")
        return value


@dataclass(frozen=True)
class Expression:
    """A parsed CESQL expression."""

    text: str
    _run: Evaluate

    def evaluate(self, attributes: Attributes) -> Value:
        """The value for an event's attributes (all strings); :class:`CesqlError` on an
        evaluation error."""
        try:
            return self._run(attributes)
        except RecursionError as exc:
            raise CesqlError("expression too deep to evaluate") from exc

    def matches(self, attributes: Attributes) -> bool:
        """Knative's filter: True when the value is true; False when false or on error."""
        try:
            value = self.evaluate(attributes)
        except CesqlError:
            return False
        return value is True


def parse(text: str) -> Expression:
    """Parse ``text``; :class:`CesqlError` with the first syntax error."""
    if len(text) > MAX_LENGTH:
        raise CesqlError(f"expression longer than {MAX_LENGTH} characters")
    parser = _Parser(_lex(text))
    try:
        run = parser.expression()
    except RecursionError as exc:
        raise CesqlError("expression nested too deeply") from exc
    if parser.peek().kind != "end":
        raise CesqlError(f"syntax error: unexpected {parser.peek().text!r} after the expression")
    return Expression(text, run)
