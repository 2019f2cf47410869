"""A tiny parser of the Prometheus text format, enough to check an exposition."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)')


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def parse(text: str) -> list[Sample]:
    """Every sample; raises AssertionError on a line that is not valid text format."""
    samples: list[Sample] = []
    types: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert name not in types, f"TYPE twice for {name}"
            types[name] = kind
            continue
        if line.startswith("#") or not line:
            continue
        match = _SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, label_text, number = match.groups()
        labels: dict[str, str] = {}
        rest = label_text or ""
        while rest:
            label = _LABEL.match(rest)
            assert label, f"bad labels in {line!r}"
            assert label.group(1) not in labels, f"duplicate label in {line!r}"
            labels[label.group(1)] = label.group(2)
            rest = rest[label.end() :]
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in types or family in types, f"sample {name} has no TYPE"
        samples.append(Sample(name, labels, math.inf if number == "+Inf" else float(number)))
    return samples


def select(samples: list[Sample], name: str, **labels: str) -> list[Sample]:
    """Samples of that name whose labels include the given ones."""
    return [
        s
        for s in samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]


def value(samples: list[Sample], name: str, **labels: str) -> float | None:
    """The sum over matching samples, or None if there is none."""
    found = select(samples, name, **labels)
    return sum(s.value for s in found) if found else None
