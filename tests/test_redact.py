"""Masking passwords in URLs and escaping control characters: the pure helpers."""

from __future__ import annotations

import pytest

from harness.config import load_canary_spec
from harness.printable import printable
from harness.redact import is_redacted, redact_text, redact_url, redact_values


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://user:pass@host:9090/x", "http://user:***@host:9090/x"),
        ("https://u:p@ss@h/", "https://u:***@h/"),
        ("http://u:p@[::1]:80/", "http://u:***@[::1]:80/"),
        ("http://:token@host", "http://:***@host"),
        ("http://user@host", "http://user@host"),
        ("http://host/?q=a:b@c", "http://host/?q=a:b@c"),
        ("http://[::1", "http://[::1"),
    ],
)
def test_redact_url_masks_only_the_password(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_redact_text_masks_urls_inside_messages() -> None:
    message = "Client error '401' for url 'http://admin:s3cr%40t@prom:9090/api' and https://a:b@c/"
    assert redact_text(message) == (
        "Client error '401' for url 'http://admin:***@prom:9090/api' and https://a:***@c/"
    )


def test_redact_values_walks_json() -> None:
    value = {"a": ["http://u:p@h", 1, None], "b": {"c": "x"}}
    assert redact_values(value) == {"a": ["http://u:***@h", 1, None], "b": {"c": "x"}}
    assert is_redacted("http://u:***@h") and not is_redacted("http://u:p@h")


def test_a_spec_connects_with_the_password_and_dumps_without_it() -> None:
    spec = load_canary_spec(
        None,
        {"service": "hello", "from": "v1", "to": "v2", "prometheus": "http://u:pw@127.0.0.1:9090",
         "ingress": "http://u:pw@127.0.0.1:8080"},
    )  # fmt: skip
    assert spec.prometheus == "http://u:pw@127.0.0.1:9090"
    dumped = spec.model_dump(mode="json", by_alias=True)
    assert dumped["prometheus"] == "http://u:***@127.0.0.1:9090"
    assert dumped["ingress"] == "http://u:***@127.0.0.1:8080"


def test_printable_escapes_terminal_controls() -> None:
    assert printable("a\x1b]0;title\x07b\x1b[2J\nc\u202ed é") == (
        "a\\x1b]0;title\\x07b\\x1b[2J\\x0ac\\u202ed é"
    )
