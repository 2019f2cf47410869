"""Kubernetes label selectors as the API server parses them (``?labelSelector=``).

The grammar of k8s.io/apimachinery ``labels.Parse``: requirements joined by ``,``
(all must hold), each ``KEY`` (exists), ``!KEY`` (does not exist), ``KEY=V``,
``KEY==V``, ``KEY!=V`` (also true when the label is absent), ``KEY in (V1,V2)``,
``KEY notin (V1,V2)`` (also true when absent), ``KEY>N`` / ``KEY<N`` (the label's
value is an integer greater / less than N). Whitespace separates tokens; keys and
values are checked as label keys and values. A selector that does not parse is 400
``BadRequest``, never a silent wrong match (splitting on ``,`` alone broke ``in (a,b)``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from harness.local.objectstore import ApiError

Labels = dict[str, str]

_SPECIAL = "!=(),<>"
_OPERATORS = ("!=", "==", "=", "<", ">", "in", "notin")
_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = re.compile(rf"^{_DNS1123_LABEL}(\.{_DNS1123_LABEL})*$")


@dataclass(frozen=True)
class _SelectorToken:
    text: str
    special: bool  # one of _SPECIAL's symbols (or "!=", "==") rather than an identifier


def _tokens(selector: str) -> list[_SelectorToken]:
    tokens: list[_SelectorToken] = []
    i = 0
    while i < len(selector):
        char = selector[i]
        if char in " \t":
            i += 1
        elif char in _SPECIAL:
            pair = selector[i : i + 2]
            text = pair if pair in ("!=", "==") else char
            tokens.append(_SelectorToken(text, True))
            i += len(text)
        else:
            start = i
            while i < len(selector) and selector[i] not in _SPECIAL and selector[i] not in " \t":
                i += 1
            tokens.append(_SelectorToken(selector[start:i], False))
    return tokens


def _bad(message: str) -> ApiError:
    return ApiError(400, "BadRequest", f"unable to parse requirement: {message}")


def _check_key(key: str) -> None:
    prefix, _, name = key.rpartition("/")
    ok = len(name) <= 63 and bool(_NAME.match(name))
    if "/" in key:
        ok = ok and 0 < len(prefix) <= 253 and bool(_DNS1123_SUBDOMAIN.match(prefix))
    if not ok:
        raise _bad(f'key: Invalid value: "{key}": not a valid label key')


def _check_value(key: str, value: str) -> None:
    if value and (len(value) > 63 or not _NAME.match(value)):
        raise _bad(f'key[{key}]: Invalid value: "{value}": not a valid label value')


def _integer(text: str) -> int | None:
    return int(text) if re.fullmatch(r"[+-]?[0-9]+", text) else None


Requirement = Callable[[Labels], bool]


def _requirement(key: str, op: str, values: list[str]) -> Requirement:
    if op in ("=", "==", "in"):
        return lambda labels: key in labels and labels[key] in values
    if op in ("!=", "notin"):
        return lambda labels: key not in labels or labels[key] not in values
    bound = _integer(values[0])
    if bound is None:
        raise _bad(f"for 'Gt', 'Lt' operators, the value must be an integer: {values[0]!r}")

    def compare(labels: Labels) -> bool:
        have = _integer(labels.get(key, ""))
        if have is None:
            return False
        return have > bound if op == ">" else have < bound

    return compare


class _SelectorParser:
    def __init__(self, selector: str) -> None:
        self.tokens = _tokens(selector)
        self.at = 0

    def peek(self) -> _SelectorToken | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self) -> _SelectorToken | None:
        token = self.peek()
        self.at += token is not None
        return token

    def at_end_of_requirement(self) -> bool:
        token = self.peek()
        return token is None or (token.special and token.text == ",")

    def identifier(self, what: str) -> str:
        token = self.take()
        if token is None or token.special:
            raise _bad(f"found '{token.text if token else ''}', expected: {what}")
        return token.text

    def requirement(self) -> Requirement:
        token = self.peek()
        if token is not None and token.special and token.text == "!":
            self.take()
            key = self.identifier("identifier after '!'")
            _check_key(key)
            following = self.peek()
            if following is not None and following.text != ",":
                raise _bad(f"found '{following.text}', expected: ',' or 'end of string'")
            return lambda labels: key not in labels
        key = self.identifier("identifier")
        _check_key(key)
        if self.at_end_of_requirement():
            return lambda labels: key in labels
        op_token = self.take()
        assert op_token is not None
        op = op_token.text
        if op not in _OPERATORS or (op in ("in", "notin")) == op_token.special:
            raise _bad(f"found '{op}', expected: in, notin, =, ==, !=, gt, lt")
        values = self.value_set() if op in ("in", "notin") else [self.exact_value()]
        for value in values:
            _check_value(key, value)
        return _requirement(key, op, values)

    def exact_value(self) -> str:
        if self.at_end_of_requirement():
            return ""
        return self.identifier("identifier")

    def value_set(self) -> list[str]:
        opening = self.take()
        if opening is None or opening.text != "(":
            raise _bad(f"found '{opening.text if opening else ''}' expected: '('")
        values: list[str] = []
        expect_value = True
        while True:
            token = self.take()
            if token is None:
                raise _bad("found '', expected: ')'")
            if token.special and token.text == ")":
                if expect_value:
                    values.append("")  # "()" and "(a,)" hold the empty value
                return values
            if token.special and token.text == ",":
                if expect_value:
                    values.append("")
                expect_value = True
            elif not token.special and expect_value:
                values.append(token.text)
                expect_value = False
            else:
                raise _bad(f"found '{token.text}', expected: ',' or ')'")

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        if not self.tokens:
            return requirements
        while True:
            requirements.append(self.requirement())
            token = self.take()
            if token is None:
                return requirements
            if not (token.special and token.text == ","):
                raise _bad(f"found '{token.text}', expected: ',' or 'end of string'")


def parse(selector: str) -> Callable[[Labels], bool]:
    """A predicate on an object's labels for ``selector`` (ApiError 400 if it does not parse)."""
    requirements = _SelectorParser(selector).parse()
    return lambda labels: all(req(labels) for req in requirements)
