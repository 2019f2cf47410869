"""CLI command groups.

Each module here defines ``register(app: typer.Typer) -> None`` and adds its commands;
``harness.cli`` discovers them, so adding a command never edits a shared file.
"""
