"""The `harness` command line: parse, call, render. No logic of its own.

Command groups live in ``harness.commands``; each module's ``register(app)`` adds its
commands. Expected failures (``HarnessError``) and unusable arguments (an unknown option,
a value that does not parse) become one line on stderr and the exit code of the CLI
contract; nothing else is caught here, so a bug still shows its traceback.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import typer
from rich.console import Console
from rich.markup import escape

from harness import __version__
from harness.errors import EXIT_ABORTED, EXIT_BAD_INPUT, HarnessError
from harness.printable import printable
from harness.redact import redact_text

app = typer.Typer(
    name="harness",
    help="Load testing, anytime-valid canary analysis and release gates for Knative Serving.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# emoji=False: an error quotes user input, and rich would turn its ':x:' into an emoji.
stderr = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)
# typer (>= 0.29) ends a command interrupted by Ctrl-C with exit code 130 (128 + SIGINT)
# instead of raising KeyboardInterrupt; the CLI contract says 3 (aborted).
_INTERRUPTED = 130


def _version(value: bool) -> None:
    if value:
        typer.echo(f"harness {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Load testing, anytime-valid canary analysis and release gates for Knative Serving."""


def _register_commands() -> None:
    import harness.commands as package

    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"harness.commands.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app)


_register_commands()


def main() -> None:
    """Entry point of the `harness` script."""
    try:
        result = app(standalone_mode=False)
    except HarnessError as exc:
        stderr.print(f"[bold red]error:[/] {escape(_one_line(exc.message))}")
        sys.exit(exc.exit_code)
    except typer.TyperException as exc:  # Click's usage errors: unknown option, bad value
        _usage_error(exc)
    except (KeyboardInterrupt, typer.Abort):
        result = _INTERRUPTED
    if result == _INTERRUPTED:
        # A Ctrl-C that no command turned into its own outcome: the run was aborted.
        stderr.print("interrupted")
        sys.exit(EXIT_ABORTED)
    sys.exit(result if isinstance(result, int) else 0)


def _one_line(message: str) -> str:
    """An error line as printed: passwords in URLs masked, control characters escaped."""
    return printable(redact_text(message))


def _usage_error(exc: typer.TyperException) -> None:
    """One line and exit 2 for arguments that cannot be used (the help alone for none)."""
    ctx = getattr(exc, "ctx", None)
    if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
        # `harness` or a group without a command: its help, on stderr, exit 2 as before
        typer.echo(ctx.get_help(), err=True)
        sys.exit(EXIT_BAD_INPUT)
    format_message = getattr(exc, "format_message", None)
    text = format_message() if callable(format_message) else str(exc)
    # typer validates some values with pydantic, whose messages start "Value error, ".
    message = " ".join(str(text).split()).replace("Value error, ", "")
    where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    stderr.print(f"[bold red]error:[/] {escape(_one_line(message + where))}")
    sys.exit(getattr(exc, "exit_code", EXIT_BAD_INPUT))


if __name__ == "__main__":
    main()
