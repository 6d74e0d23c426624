"""The root command, shared options and the one way commands report errors."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from failover import __version__
from failover.config import Config, find_config_path, load_config
from failover.errors import ConfigError

#: Exit codes that scripts can rely on.
EXIT_OK = 0
EXIT_PROBLEM = 1  # invalid input, or (for `check`) a platform degraded or down
EXIT_INCONCLUSIVE = 2  # our own connectivity is lost; nothing can be said about platforms

F = TypeVar("F", bound=Callable[..., Any])

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "-V", "--version", prog_name="failover")
def main() -> None:
    """Watch the platforms people talk through (Facebook, WhatsApp, Messenger, Instagram,
    Telegram, Signal, …); when one goes dark, tell the people who matter how to reach
    each other through channels that still work.

    Configuration is read from --config, $FAILOVER_CONFIG, ./failover.toml,
    /etc/failover/failover.toml, or else the built-in default.
    """


def config_option(func: F) -> F:
    """The ``-c/--config PATH`` option every command that reads the configuration takes."""
    decorator = click.option(
        "-c",
        "--config",
        "config_path",
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        help="Configuration file (default: $FAILOVER_CONFIG, ./failover.toml, "
        "/etc/failover/failover.toml, else built-in).",
    )
    return decorator(func)


def fail(message: str, code: int = EXIT_PROBLEM) -> NoReturn:
    """Print one line to stderr and exit with ``code``."""
    click.echo(f"failover: {message}", err=True)
    sys.exit(code)


def load_configuration(config_path: Path | None) -> Config:
    """The configuration the search order finds, its templates rendered against a sample
    and its channels checked; a one-line error and exit 1 if invalid."""
    from failover.service import validate_notifications

    try:
        path = find_config_path(config_path, env=os.environ, cwd=Path.cwd())
        config = load_config(path, env=os.environ)
        validate_notifications(config)
    except ConfigError as exc:
        fail(str(exc))
    return config
