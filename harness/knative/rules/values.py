"""Value checks: placeholders left from documentation, and ko:// images."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from harness.knative.rules import Issue, Subject
from harness.knative.rules.access import dig, items, mapping

# <ingress-type>, {username}, ${VAR}, {{ .Values.x }}: how documentation marks a value
# the reader must fill in.
_PLACEHOLDER = re.compile(r"<[A-Za-z][\w .-]*>|\$\{[^}]+\}|\{\{[^}]*\}\}|\{[A-Za-z][\w.-]*\}")


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, f"{path}[{i}]")


def check_placeholders(subject: Subject) -> Iterator[Issue]:
    """Values that still hold a documentation placeholder."""
    for path, value in _strings(subject.obj, ""):
        if match := _PLACEHOLDER.search(value):
            yield Issue(
                "placeholder-value",
                path,
                f"{match.group(0)} looks like a placeholder to replace (value {value!r})",
            )


def check_ko_images(subject: Subject) -> Iterator[Issue]:
    """ko:// images are resolved by ko; applied as is they cannot be pulled."""
    spec = mapping(dig(subject.obj, "spec", "template", "spec"))
    for i, container in enumerate(items(spec.get("containers"))):
        image = mapping(container).get("image")
        if isinstance(image, str) and image.startswith("ko://"):
            yield Issue(
                "ko-image",
                f"spec.template.spec.containers[{i}].image",
                f"{image} is a ko reference: apply this file with `ko apply -f`, or lint the "
                "output of `ko resolve -f`; applied as is, the image cannot be pulled",
            )


CHECKS = [check_placeholders, check_ko_images]
