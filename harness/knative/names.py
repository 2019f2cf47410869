"""Kubernetes/Knative name rules: DNS labels and revision name resolution.

Names that reach PromQL, URLs or paths are checked here first, so a name can never
smuggle a quote, a slash or a regex into them. Service, revision, route and tag names
follow Knative's DNS-1035 rule (they start with a letter); namespaces follow Kubernetes'
DNS-1123 label rule (``1abc`` is a valid namespace).
"""

from __future__ import annotations

import re

from harness.errors import BadInput

DNS1035_LABEL_MAX_LENGTH = 63
_DNS1035_LABEL_FORMAT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_DNS1035_LABEL = re.compile(f"^{_DNS1035_LABEL_FORMAT}$")

# Kubernetes' wording (k8s.io/apimachinery pkg/util/validation RegexError, v0.35: each
# example is followed by ", " and joined with " or ", hence the double space), which
# Knative's webhook embeds in its own messages.
_DNS1035_LABEL_ERROR = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
    "with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  "
    f"or 'abc-123', regex used for validation is '{_DNS1035_LABEL_FORMAT}')"
)


_DNS1123_LABEL_FORMAT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL = re.compile(f"^{_DNS1123_LABEL_FORMAT}$")
DNS1123_SUBDOMAIN_FORMAT = rf"{_DNS1123_LABEL_FORMAT}(\.{_DNS1123_LABEL_FORMAT})*"
DNS1123_SUBDOMAIN_MAX_LENGTH = 253
_DNS1123_SUBDOMAIN = re.compile(f"^{DNS1123_SUBDOMAIN_FORMAT}$")
_DNS1123_SUBDOMAIN_ERROR = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
    f"regex used for validation is '{DNS1123_SUBDOMAIN_FORMAT}')"
)

_QUALIFIED_NAME_FORMAT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QUALIFIED_NAME = re.compile(f"^{_QUALIFIED_NAME_FORMAT}$")
_QUALIFIED_NAME_ERROR = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
    "an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    f"validation is '{_QUALIFIED_NAME_FORMAT}')"
)


def is_dns1035_label(value: str) -> bool:
    """True when ``value`` is a DNS-1035 label: ``[a-z]([-a-z0-9]*[a-z0-9])?``, at most 63 chars."""
    return len(value) <= DNS1035_LABEL_MAX_LENGTH and _DNS1035_LABEL.match(value) is not None


def is_dns1123_label(value: str) -> bool:
    """True when ``value`` is a DNS-1123 label, as namespace names are:
    ``[a-z0-9]([-a-z0-9]*[a-z0-9])?``, at most 63 characters."""
    return len(value) <= DNS1035_LABEL_MAX_LENGTH and _DNS1123_LABEL.match(value) is not None


def dns1035_label_problems(value: str) -> list[str]:
    """Kubernetes' messages for why ``value`` is not a DNS-1035 label (empty when it is one)."""
    problems = []
    if len(value) > DNS1035_LABEL_MAX_LENGTH:
        problems.append(f"must be no more than {DNS1035_LABEL_MAX_LENGTH} characters")
    if _DNS1035_LABEL.match(value) is None:
        problems.append(_DNS1035_LABEL_ERROR)
    return problems


def dns1123_subdomain_problems(value: str) -> list[str]:
    """Kubernetes' messages for why ``value`` is not a DNS-1123 subdomain (``example.com``)."""
    problems = []
    if len(value) > DNS1123_SUBDOMAIN_MAX_LENGTH:
        problems.append(f"must be no more than {DNS1123_SUBDOMAIN_MAX_LENGTH} characters")
    if _DNS1123_SUBDOMAIN.match(value) is None:
        problems.append(_DNS1123_SUBDOMAIN_ERROR)
    return problems


def qualified_name_problems(value: str) -> list[str]:
    """Kubernetes' ``IsQualifiedName`` messages (``[prefix/]name``), which Knative applies
    to ``revisionName`` and ``configurationName``; empty when ``value`` is valid."""
    parts = value.split("/")
    if len(parts) > 2:
        return [
            f"a valid label key {_QUALIFIED_NAME_ERROR} with an optional DNS subdomain prefix "
            "and '/' (e.g. 'example.com/MyName')"
        ]
    problems: list[str] = []
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            problems.append("prefix part must be non-empty")
        else:
            problems.extend(f"prefix part {p}" for p in dns1123_subdomain_problems(prefix))
    if not name:
        problems.append("name part must be non-empty")
    elif len(name) > DNS1035_LABEL_MAX_LENGTH:
        problems.append(f"name part must be no more than {DNS1035_LABEL_MAX_LENGTH} characters")
    if _QUALIFIED_NAME.match(name) is None:
        problems.append(f"name part {_QUALIFIED_NAME_ERROR}")
    return problems


def require_dns_label(value: str, what: str) -> str:
    """Return ``value`` if it is a DNS-1035 label, else raise ``BadInput`` naming ``what``.

    A ``what`` of ``"namespace"`` is checked as Kubernetes checks namespaces, as a DNS-1123
    label (`require_namespace`).
    """
    if what == "namespace":
        return require_namespace(value)
    if not isinstance(value, str) or not is_dns1035_label(value):
        raise BadInput(
            f"{what} {value!r} is not a valid name: use lower case letters, digits and '-', "
            f"starting with a letter, at most {DNS1035_LABEL_MAX_LENGTH} characters"
        )
    return value


def require_namespace(value: str) -> str:
    """Return ``value`` if it is a valid namespace name (a DNS-1123 label), else ``BadInput``."""
    if not isinstance(value, str) or not is_dns1123_label(value):
        raise BadInput(
            f"namespace {value!r} is not a valid name: use lower case letters, digits and "
            f"'-', starting and ending with a letter or digit, at most "
            f"{DNS1035_LABEL_MAX_LENGTH} characters"
        )
    return value


def resolve_revision_name(service: str, ref: str) -> str:
    """The full revision name ``ref`` designates within ``service``.

    ``ref`` is either a full name (``hello-v2``, kept as is because it already has the
    ``{service}-`` prefix every revision of the Service carries) or a suffix (``v2`` ->
    ``hello-v2``). Raises ``BadInput`` if either name, or the result, is not a DNS-1035 label.
    """
    require_dns_label(service, "service")
    if not isinstance(ref, str) or not ref:
        raise BadInput(f"revision {ref!r} is empty")
    if ref.startswith(f"{service}-") and is_dns1035_label(ref):
        return ref
    full = f"{service}-{ref}"
    if not is_dns1035_label(full):
        raise BadInput(
            f"revision {ref!r} of service {service!r} does not make a valid revision name "
            f"({full!r}): use lower case letters, digits and '-', at most "
            f"{DNS1035_LABEL_MAX_LENGTH} characters in all"
        )
    return full
