"""``failover config validate|show|init``."""

from __future__ import annotations

from pathlib import Path

import click

from failover.cli._main import config_option, fail, load_configuration, main
from failover.config import render_config, starter_config


@main.group()
def config() -> None:
    """Validate, show or create the configuration file."""


@config.command()
@click.argument("path", required=False, type=click.Path(path_type=Path, dir_okay=False))
def validate(path: Path | None) -> None:
    """Check a configuration file (default: the one failover would read).

    Prints one line: what was found, or the first problem with its key path or line.
    """
    loaded = load_configuration(path)
    click.echo(
        f"ok: {len(loaded.platforms)} platforms, {len(loaded.controls)} controls, "
        f"{len(loaded.contacts)} contacts ({loaded.source})"
    )


@config.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print plain JSON (for scripts).")
def show(config_path: Path | None, as_json: bool) -> None:
    """Show the resolved configuration (catalog merged, defaults filled in), with every
    secret replaced by *** and channel URLs reduced to their scheme."""
    text = render_config(load_configuration(config_path))
    if as_json:
        click.echo(text)
        return
    from rich.console import Console
    from rich.syntax import Syntax

    Console(soft_wrap=True).print(Syntax(text, "json", word_wrap=True, background_color="default"))


@config.command()
@click.argument("path", required=False, type=click.Path(path_type=Path, dir_okay=False))
def init(path: Path | None) -> None:
    """Write a commented starter configuration to PATH (default ./failover.toml).

    Refuses to overwrite an existing file.
    """
    target = path or Path("failover.toml")
    try:
        with target.open("x", encoding="utf-8") as out:
            out.write(starter_config())
    except FileExistsError:
        fail(f"{target}: already exists; not overwritten")
    except OSError as exc:
        fail(f"{target}: cannot write: {exc.strerror or exc}")
    click.echo(f"wrote {target}; check it with `failover config validate {target}`")
