"""Name rules and URL templates."""

from __future__ import annotations

import pytest

from harness.errors import BadInput
from harness.knative.names import (
    dns1035_label_problems,
    is_dns1035_label,
    qualified_name_problems,
    require_dns_label,
    require_namespace,
    resolve_revision_name,
)
from harness.knative.urls import (
    DEFAULT_DOMAIN,
    domain_from_url,
    http_url,
    route_host,
    tag_host,
)


@pytest.mark.parametrize("name", ["a", "hello", "hello-v2", "a1", "a" * 63])
def test_dns1035_labels_accepted(name: str) -> None:
    assert is_dns1035_label(name)
    assert dns1035_label_problems(name) == []


@pytest.mark.parametrize(
    "name", ["", "1abc", "Hello", "a-", "-a", "a.b", "a_b", 'x"}', "a/b", "a" * 64, "héllo"]
)
def test_dns1035_labels_rejected(name: str) -> None:
    assert not is_dns1035_label(name)
    assert dns1035_label_problems(name)


def test_dns1035_problem_text_is_kubernetes_wording() -> None:
    assert dns1035_label_problems("A") == [
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
        "with an alphabetic character, and end with an alphanumeric character (e.g. "
        "'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
    ]
    assert dns1035_label_problems("a" * 64)[0] == "must be no more than 63 characters"


def test_qualified_names_allow_what_revision_names_may_be() -> None:
    assert qualified_name_problems("hello-00001") == []
    assert qualified_name_problems("My.Name_1") == []
    assert qualified_name_problems("example.com/x") == []
    assert qualified_name_problems("-x")[0].startswith("name part must consist")
    assert qualified_name_problems("a/b/c")[0].startswith("a valid label key")
    assert qualified_name_problems("/x") == ["prefix part must be non-empty"]


def test_require_dns_label_returns_value_or_raises_bad_input() -> None:
    assert require_dns_label("hello", "service") == "hello"
    with pytest.raises(BadInput, match="service 'he\"llo'"):
        require_dns_label('he"llo', "service")


@pytest.mark.parametrize(
    ("ref", "full"),
    [
        ("v2", "hello-v2"),
        ("hello-v2", "hello-v2"),
        ("00001", "hello-00001"),
        ("hello", "hello-hello"),
    ],
)
def test_resolve_revision_name(ref: str, full: str) -> None:
    assert resolve_revision_name("hello", ref) == full


@pytest.mark.parametrize("ref", ["", "V2", "v2/../x", "v2'}", "a" * 60, "v2-"])
def test_resolve_revision_name_rejects_non_labels(ref: str) -> None:
    with pytest.raises(BadInput):
        resolve_revision_name("hello", ref)


def test_resolve_revision_name_rejects_bad_service() -> None:
    with pytest.raises(BadInput, match="service"):
        resolve_revision_name("Hello", "v2")


def test_hosts_follow_knative_templates() -> None:
    assert DEFAULT_DOMAIN == "example.com"
    assert route_host("hello", "default") == "hello.default.example.com"
    assert tag_host("staging", "hello", "default") == "staging-hello.default.example.com"
    assert tag_host("a", "hello", "prod", "apps.corp.io") == "a-hello.prod.apps.corp.io"
    assert http_url("hello.default.example.com") == "http://hello.default.example.com"


@pytest.mark.parametrize(
    "args",
    [
        ("hello", "Default", "example.com"),
        ("hel/lo", "default", "example.com"),
        ("hello", "default", "exa mple.com"),
        ("hello", "default", "example.com/x"),
    ],
)
def test_route_host_validates_every_part(args: tuple[str, str, str]) -> None:
    with pytest.raises(BadInput):
        route_host(*args)


def test_tag_host_rejects_a_label_too_long_to_route() -> None:
    with pytest.raises(BadInput, match="tag host label"):
        tag_host("t" * 40, "h" * 30, "default")


def test_domain_is_read_back_from_status_url() -> None:
    assert domain_from_url("http://hello.default.example.com", "hello", "default") == "example.com"
    assert domain_from_url("https://hello.ns.apps.corp.io/", "hello", "ns") == "apps.corp.io"
    assert domain_from_url("http://hello-default.example.com", "hello", "default") is None
    assert domain_from_url("http://other.default.example.com", "hello", "default") is None


@pytest.mark.parametrize("name", ["1abc", "default", "0", "a-1", "9" * 63])
def test_namespaces_are_dns1123_labels(name: str) -> None:
    assert require_namespace(name) == name
    assert require_dns_label(name, "namespace") == name


@pytest.mark.parametrize("name", ["", "-a", "a-", "A", "a.b", "a" * 64])
def test_bad_namespaces_are_refused(name: str) -> None:
    with pytest.raises(BadInput, match="namespace"):
        require_namespace(name)


def test_service_names_keep_the_dns1035_rule() -> None:
    with pytest.raises(BadInput):
        require_dns_label("1abc", "service")
