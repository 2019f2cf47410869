"""Container image references as Knative's webhook parses them.

Knative checks ``containers[*].image`` with go-containerregistry's
``name.ParseReference(image, name.WeakValidation)`` (``pkg/name`` there): a tag
reference, else a digest reference. This module reproduces that grammar so a manifest
with ``docker.io/{username}/app`` fails here as it fails on a cluster.
"""

from __future__ import annotations

import re

_TAG_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_-.ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_REPOSITORY_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_-./")
# Characters Go's net/url accepts unescaped in a host ("//" + registry must parse back
# to the same host).
_HOST_CHARS = set(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:[]<>\""
)
_SHA256_HEX = re.compile(r"^[a-f0-9]{64}$")


def _registry_ok(registry: str) -> bool:
    if not set(registry) <= _HOST_CHARS:
        return False
    if registry.startswith("["):
        # An IPv6 literal: [addr] optionally followed by :port.
        end = registry.find("]")
        if end == -1:
            return False
        rest = registry[end + 1 :]
        return rest == "" or (rest.startswith(":") and (rest == ":" or rest[1:].isdigit()))
    if ":" in registry:
        port = registry[registry.rindex(":") + 1 :]
        return port == "" or port.isdigit()
    return True


def _repository_ok(name: str) -> bool:
    if not name:
        return False
    registry = ""
    repo = name
    first, sep, rest = name.partition("/")
    if sep and (first == "localhost" or "." in first or ":" in first):
        registry, repo = first, rest
    return 1 <= len(repo) <= 255 and set(repo) <= _REPOSITORY_CHARS and _registry_ok(registry)


def _tag_ok(name: str) -> bool:
    base = name
    parts = name.split(":")
    if len(parts) > 1 and "/" not in parts[-1]:
        base, tag = ":".join(parts[:-1]), parts[-1]
        if not tag or len(tag) > 128 or not set(tag) <= _TAG_CHARS:
            return False
    return _repository_ok(base)


def _digest_ok(name: str) -> bool:
    parts = name.split("@")
    if len(parts) != 2:
        return False
    base, digest = parts
    if not digest.startswith("sha256:") or not _SHA256_HEX.match(digest[len("sha256:") :]):
        return False
    # A digest reference may also carry a tag (repo:tag@sha256:...).
    return _tag_ok(base)


def is_image_reference(image: str) -> bool:
    """True when go-containerregistry (weak validation) parses ``image`` as a reference."""
    return _tag_ok(image) or _digest_ok(image)


def image_reference_error(image: str) -> str:
    """The error text Knative shows in the details of ``Failed to parse image reference``."""
    return f'image: "{image}", error: could not parse reference: {image}'
