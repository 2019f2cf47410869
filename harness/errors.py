"""Errors the CLI turns into one line on stderr and a documented exit code."""

from __future__ import annotations

# Exit codes of the CLI contract (README.md, "CLI contract").
EXIT_OK = 0
EXIT_FAILED = 1  # rolled back, regression found, lint errors
EXIT_BAD_INPUT = 2  # nothing was changed
EXIT_ABORTED = 3  # aborted, inconclusive or not enough data


class HarnessError(Exception):
    """An expected failure: shown as one line, mapped to an exit code, never a traceback."""

    exit_code: int = EXIT_BAD_INPUT

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


class BadInput(HarnessError):
    """The user's input is wrong (a name, a file, a flag); nothing was changed. Exit 2."""

    exit_code = EXIT_BAD_INPUT


class Unavailable(HarnessError):
    """A dependency (cluster, Prometheus, ingress) cannot be reached. Exit 2 before a run starts."""

    exit_code = EXIT_BAD_INPUT


class Aborted(HarnessError):
    """A started run was interrupted or could not conclude. Exit 3."""

    exit_code = EXIT_ABORTED
