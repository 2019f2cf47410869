"""`harness store`: the run history store (`harness store migrate`)."""

from __future__ import annotations

from typing import Annotated

import typer

store_app = typer.Typer(
    help="The run history store: copy it between SQLite and PostgreSQL.", no_args_is_help=True
)


@store_app.command("migrate")
def migrate(
    from_: Annotated[
        str,
        typer.Option(
            "--from", help="The store to copy: a file, sqlite:///PATH or postgresql://..."
        ),
    ],
    to: Annotated[
        str, typer.Option("--to", help="The store to copy into (created or migrated as needed).")
    ],
) -> None:
    """Copy every run, journal and perf result; runs already in --to are skipped.

    Exit codes: 0 copied, 2 bad input (a store that is not ours, unreachable, the same).
    """
    from harness.store.migrate import migrate_store

    migrate_store(from_, to, say=typer.echo)


def register(app: typer.Typer) -> None:
    """Add ``harness store`` to the CLI."""
    app.add_typer(store_app, name="store")
