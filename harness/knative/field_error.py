"""``FieldError``: a validation failure at one or more field paths, printed as Knative prints it.

Mirrors knative.dev/pkg ``apis/field_error.go``: ``str()`` is ``message: path1, path2``
(plus a details line when there are details), and ``format_errors`` merges errors that
share a message and sorts them, as the webhook does before answering.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

Level = Literal["error", "warning"]

# The name Knative's validating webhook is registered under; Kubernetes puts it in
# every denial message.
WEBHOOK_NAME = "validation.webhook.serving.knative.dev"


@dataclass(frozen=True)
class FieldError:
    """One diagnostic: ``message`` about the fields at ``paths`` (``spec.traffic[1].percent``).

    ``details`` is Knative's optional longer payload; ``level`` is ``error`` (blocks
    admission) or ``warning`` (admitted with a warning); ``rule`` names the check that
    produced it, for the linter.
    """

    message: str
    paths: Sequence[str] = ()
    details: str = ""
    level: Level = "error"
    rule: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        # Accept any sequence of paths; keep a tuple so the value stays hashable.
        object.__setattr__(self, "paths", tuple(self.paths))

    def __str__(self) -> str:
        text = f"{self.message}: {', '.join(self.paths)}"
        return f"{text}\n{self.details}" if self.details else text

    def via(self, *prefix: str) -> FieldError:
        """The same error seen from a parent: each path gets ``prefix`` in front, as
        knative.dev/pkg's ``ViaField``/``ViaIndex`` do (``[1]`` attaches to the field before it)."""
        return FieldError(
            self.message,
            tuple(join_path(*prefix, p) for p in self.paths),
            self.details,
            self.level,
            self.rule,
        )


def join_path(*parts: str) -> str:
    """Join path parts the way knative.dev/pkg's ``flatten`` does: ``spec``, ``traffic``,
    ``[1]``, ``percent`` -> ``spec.traffic[1].percent``; empty parts vanish."""
    out: list[str] = []
    for part in parts:
        for piece in part.split("."):
            if piece == "":
                continue
            if out and piece.startswith("[") and piece.endswith("]"):
                out[-1] += piece
            else:
                out.append(piece)
    return ".".join(out)


def only_errors(errors: Iterable[FieldError]) -> list[FieldError]:
    """The errors that block admission (drops warnings)."""
    return [e for e in errors if e.level == "error"]


def merged(errors: Sequence[FieldError]) -> list[FieldError]:
    """Knative's ``WrappedErrors``: errors with the same level, message and details merged
    into one with the union of their paths; paths sorted, errors sorted by message."""
    by_key: dict[tuple[Level, str, str], list[str]] = {}
    for e in errors:
        paths = by_key.setdefault((e.level, e.message, e.details), [])
        paths.extend(p for p in e.paths if p not in paths)
    result = [
        FieldError(message, tuple(sorted(paths)), details, level)
        for (level, message, details), paths in by_key.items()
    ]
    # Go sorts by message, then details, then level (error before warning).
    result.sort(key=lambda e: (e.message, e.details, e.level != "error"))
    return result


def format_errors(errors: Sequence[FieldError]) -> str:
    """The text of Knative's ``FieldError.Error()`` for these errors: one line per merged error."""
    return "\n".join(str(e) for e in merged(errors))


def admission_denial(errors: Sequence[FieldError], webhook: str = WEBHOOK_NAME) -> str:
    """The message Kubernetes returns (the 400 body's ``message``) when a Knative webhook
    (serving's by default) rejects an object with these errors (warnings are not part of
    a denial)."""
    return (
        f'admission webhook "{webhook}" denied the request: '
        f"validation failed: {format_errors(only_errors(errors))}"
    )
