"""The `harness` command line: parse, call, render. No logic of its own.

Command groups live in ``harness.commands``; each module's ``register(app)`` adds its
commands. Expected failures (``HarnessError``) become one line on stderr and the exit
code of the CLI contract; nothing else is caught here, so a bug still shows its traceback.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import typer
from rich.console import Console
from rich.markup import escape

from harness import __version__
from harness.errors import EXIT_ABORTED, HarnessError

app = typer.Typer(
    name="harness",
    help="Load testing, anytime-valid canary analysis and release gates for Knative Serving.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


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
        app(standalone_mode=True)
    except HarnessError as exc:
        stderr.print(f"[bold red]error:[/] {escape(exc.message)}")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        stderr.print("interrupted")
        sys.exit(EXIT_ABORTED)


if __name__ == "__main__":
    main()
