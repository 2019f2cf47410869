"""CESQL (harness.knative.cesql): Knative's cesql_filter_test.go cases, the grammar's
precedence, casts, functions and errors as the cloudevents sdk-go evaluates them, and the
Trigger filter and the webhook's validation built on it. Pure: no process."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness.knative.cesql import CesqlError, parse
from harness.knative.eventing_validation import validate_filter
from harness.local.eventing.cloudevent import CloudEvent
from harness.local.eventing.filters import Result, trigger_filter

EVENT = {
    "specversion": "1.0",
    "id": "1",
    "source": "/src",
    "type": "dev.knative.example",
    "knativebrokerttl": "254",
    "myext": "my-value",
    "count": "12",
    "flag": "TRUE",
}


def value(text: str, attrs: dict[str, str] | None = None) -> object:
    return parse(text).evaluate(EVENT if attrs is None else attrs)


def matches(text: str) -> bool:
    return parse(text).matches(EVENT)


def test_knative_filter_cases() -> None:
    # knative/eventing 8cf4c4b6 pkg/eventfilter/subscriptionsapi/cesql_filter_test.go
    assert not matches("type = 'wrong.type'")
    assert not matches("myext = 'wrong.extension'")
    assert matches("type = 'dev.knative.example'")
    assert matches("myext = 'my-value'")
    assert not matches("knativebrokerttl < 30")  # 254: the broker's TTL on every event
    assert matches("knativebrokerttl > 30")
    assert matches("(type = 'dev.knative.example') OR (source = 'some-other-source')")
    assert not matches("missingattribute < 5")
    assert not matches("missingattribute = missinsvalue")


def test_literals_identifiers_and_case() -> None:
    assert value("'it''s'") == "it''s"  # '' is kept, only \' is unescaped (as the sdk)
    assert value("'it\\'s'") == "it's"
    assert value('"say \\"hi\\""') == 'say "hi"'
    assert value("TrUe") is True and value("false") is False
    assert value("-5") == -5 and value("+5") == 5 and value("- 5") == -5
    assert value("TYPE") == "dev.knative.example"  # identifiers are lower-cased
    assert matches("type = 'dev.knative.example' and MyExt = 'my-value'")
    with pytest.raises(CesqlError, match="missing attribute"):
        value("subject")


def test_precedence_as_the_grammar() -> None:
    assert value("1 + 2 * 3") == 7
    assert value("(1 + 2) * 3") == 9
    assert value("7 - 2 - 1") == 4  # left-associative
    assert value("1 + 1 = 2") is True
    # AND, OR, XOR: one level, right-associative.
    assert value("FALSE AND FALSE OR TRUE") is False  # FALSE AND (FALSE OR TRUE)
    assert value("TRUE OR TRUE XOR TRUE") is True  # TRUE OR (...): short-circuit
    # NOT binds tighter than comparisons: (NOT TRUE) = FALSE.
    assert value("NOT TRUE = FALSE") is True
    # LIKE binds tighter than =: myext = (type LIKE ...) would compare a string to a bool.
    assert value("type LIKE 'dev.%' = TRUE") is True


def test_comparison_casts_and_arithmetic() -> None:
    assert value("count = 12") is True  # '12' cast to the right side's integer
    assert value("12 = count") is True  # 12 cast to the string '12'
    assert value("count < 13 AND count >= 12 AND count <> 11 AND count != 11") is True
    assert value("flag = TRUE") is True  # 'TRUE' cast to boolean
    assert value("-7 / 2") == -3 and value("-7 % 2") == -1  # truncating, as Go
    assert value("2147483647 + 1") == -(2**31)  # int32 wraps
    with pytest.raises(CesqlError, match="division by zero"):
        value("1 / 0")
    with pytest.raises(CesqlError, match="cannot cast"):
        value("type < 3")
    with pytest.raises(CesqlError, match="cannot cast"):
        value("type AND TRUE")
    assert not matches("type < 3")  # an evaluation error FAILs the filter
    assert not matches("1 + 1")  # not a boolean: no match


def test_like_exists_in() -> None:
    assert matches("type LIKE 'dev.%.example'")
    assert matches("type LIKE 'dev.knative.exampl_'")
    assert not matches("type LIKE 'dev.knative'")
    assert matches("type NOT LIKE 'com.%'")
    assert matches("'50%' LIKE '50\\%'") and not matches("'50x' LIKE '50\\%'")
    assert matches("'a\nb' LIKE 'a_b'")
    assert matches("EXISTS myext AND NOT EXISTS subject")
    assert matches("EXISTS id")
    assert matches("myext IN ('a', 'my-value')")
    assert matches("count IN (1, 12)")  # each element cast to the left side's type
    assert matches("type NOT IN ('a', 'b')")
    assert not matches("count IN ('x', 13)")


def test_functions() -> None:
    assert value("LENGTH(type)") == len("dev.knative.example")
    assert value("CONCAT('a', 'b', 1)") == "ab1"
    assert value("CONCAT_WS('-', 'a', 'b')") == "a-b" and value("CONCAT_WS('-')") == ""
    assert value("lower('AbC') = 'abc' AND UPPER('a') = 'A' AND TRIM('  x ') = 'x'") is True
    assert value("LEFT('hello', 2)") == "he" and value("RIGHT('hello', 9)") == "hello"
    assert value("SUBSTRING('hello', 2)") == "ello" and value("SUBSTRING('hello', -3, 2)") == "ll"
    assert value("ABS(-4)") == 4 and value("INT('12') + 1") == 13
    assert value("BOOL('false')") is False and value("STRING(TRUE)") == "true"
    assert value("IS_INT('12') AND NOT IS_INT('x') AND IS_BOOL('true')") is True
    with pytest.raises(CesqlError, match="unknown function"):
        value("NOPE(1)")  # parses; fails when evaluated, as in the sdk
    with pytest.raises(CesqlError):
        value("LEFT('x', -1)")


@pytest.mark.parametrize(
    "text",
    ["", "type =", "type = 'a", "(type = 'a'", "type LIKE myext", "a IN ()", "1 2",
     "2147483648", "type = 'a' )", "#", "EXISTS 'a'"],
)  # fmt: skip
def test_syntax_errors(text: str) -> None:
    with pytest.raises(CesqlError):
        parse(text)


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    with pytest.raises(CesqlError):
        parse("(" * 5000 + "1" + ")" * 5000)
    long_sum = parse(" + ".join(["1"] * 5000) + " = 5000")
    assert long_sum.matches({}) in (True, False)  # evaluated or failed, never raised


def test_huge_expression_under_a_memory_cap() -> None:
    code = (
        "from harness.knative.cesql import parse, CesqlError\n"
        "try:\n    parse('1 = 1 AND ' * 200000 + 'TRUE')\nexcept CesqlError as e:\n"
        "    print('refused', e)\n"
    )
    done = subprocess.run(
        ["prlimit", "--as=1000000000", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("refused")


def test_trigger_filter_and_validation() -> None:
    def passes(expression: str, **attrs: str) -> bool:
        event = CloudEvent({**EVENT, **attrs}, b"")
        return trigger_filter({"filters": [{"cesql": expression}]})(event) is Result.PASS

    assert passes("type = 'dev.knative.example'")
    assert not passes("type = 'other'")
    assert passes("subject LIKE 'orders/%'", subject="orders/42")
    assert not passes("subject LIKE 'orders/%'")  # missing: FAIL
    assert validate_filter({"cesql": "type = 'a' AND EXISTS subject"}) == []
    (error,) = validate_filter({"cesql": "type = "})
    assert error.message == "invalid value: type = " and error.paths == ("cesql",)
    assert "syntax error" in error.details
