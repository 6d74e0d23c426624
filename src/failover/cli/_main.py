"""The root command, shared options, exit codes and the one way commands report errors.

A command lets our own faults through; :data:`_EVERY_COMMAND` and :data:`_BY_COMMAND` say,
in one place, which line each prints and with which code it exits (see :func:`tell_error`).

Exit codes mean one thing each, whatever the command (the README's "Exit codes"):

====  ==========================================  ==========================================
code  ``check`` and ``status`` (monitoring-plugins  every other command
      guidelines: Nagios, Icinga, Sensu)
====  ==========================================  ==========================================
0     OK: every platform up                       success
1     WARNING: a platform degraded                failure: invalid configuration or input,
                                                  refused, an error of the command
2     CRITICAL: a platform down                   (never)
3     UNKNOWN: our own connectivity is lost, no   a usage error: unknown option or command,
      verdict yet, configuration or database      missing or malformed argument
      error, usage error
====  ==========================================  ==========================================

Click's own usage errors exit 2, which a monitoring system reads as CRITICAL: the root
command turns them into 3.
"""

from __future__ import annotations

import enum
import getpass
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, NoReturn, TypeVar

import click

from failover import __version__
from failover.config import Config, find_config_path, load_config
from failover.domain import Health
from failover.errors import AlreadyRunningError, ConfigError, ContactImportError, FailoverError
from failover.logs import configure_logging, logging_configured
from failover.service import ListenError

#: Exit codes that scripts and monitoring systems can rely on (see the module docstring).
EXIT_OK = 0
EXIT_PROBLEM = 1  # the command failed; for check and status: a platform degraded (WARNING)
EXIT_DOWN = 2  # check and status only: a platform down (CRITICAL)
EXIT_UNKNOWN = 3  # usage error; for check and status: nothing can be said (UNKNOWN)
EXIT_USAGE = EXIT_UNKNOWN


class PluginState(enum.IntEnum):
    """The monitoring-plugins states, whose values are the exit codes of ``check`` and
    ``status``."""

    ok = EXIT_OK
    warning = EXIT_PROBLEM
    critical = EXIT_DOWN
    unknown = EXIT_UNKNOWN

    @property
    def label(self) -> str:
        return self.name.upper()


#: How health values rank when one state stands for several platforms: as the
#: monitoring-plugins' ``max_state_alt``, CRITICAL > WARNING > UNKNOWN > OK.
_HEALTH_STATE = {
    Health.up: PluginState.ok,
    Health.unknown: PluginState.unknown,
    Health.degraded: PluginState.warning,
    Health.down: PluginState.critical,
}
_STATE_RANK = (PluginState.ok, PluginState.unknown, PluginState.warning, PluginState.critical)


def plugin_state(healths: Iterable[Health], *, connectivity_lost: bool) -> PluginState:
    """The one state for these platforms' health: UNKNOWN when our own connectivity is
    lost (nothing can be said of platforms), else the worst of theirs (OK when none)."""
    if connectivity_lost:
        return PluginState.unknown
    return max((_HEALTH_STATE[health] for health in healths), key=_STATE_RANK.index, default=PluginState.ok)


F = TypeVar("F", bound=Callable[..., Any])

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class ConfigurationUnusable(Exception):  # noqa: N818 - it says what the command meets
    """The configuration a command needs is invalid or cannot be read: the
    :class:`ConfigError` :func:`load_configuration` met (its ``__cause__``), under a name
    that tells it from a ConfigError about the command's own arguments (``check nosuch``)."""


# ------------------------------------------------------------------------------ errors


@dataclass(frozen=True, kw_only=True, slots=True)
class Reply:
    """How a command tells of one kind of error: ``failover: <line>`` on stderr and exit
    ``code``; with ``nagios`` (check and status), ``FAILOVER UNKNOWN - <line>`` on stdout
    when ``--nagios`` is given, for the monitoring system reads the reason there."""

    line: Callable[[Exception, Mapping[str, Any]], str] = lambda exc, _params: str(exc)
    code: int = EXIT_PROBLEM
    nagios: bool = False


_PLUGIN_UNKNOWN = Reply(code=EXIT_UNKNOWN, nagios=True)
_PLUGIN_CONFIGURATION_UNKNOWN = Reply(
    line=lambda exc, _params: f"configuration: {exc}", code=EXIT_UNKNOWN, nagios=True
)

#: How every command tells of our own faults: one line, exit 1.
_EVERY_COMMAND: Final[Mapping[type[Exception], Reply]] = {
    ConfigurationUnusable: Reply(),
    FailoverError: Reply(),
}

#: What a command tells otherwise, by its name (``contacts import``) and the error's class.
_BY_COMMAND: Final[Mapping[tuple[str, type[Exception]], Reply]] = {
    ("run", AlreadyRunningError): Reply(
        line=lambda exc, _params: f"{exc}. Refusing to start a second daemon on the same database."
    ),
    ("run", ListenError): Reply(),  # an OSError: the address to serve on is taken or refused
    ("contacts import", ContactImportError): Reply(
        line=lambda exc, params: f"{params['source'].name}: {exc}"
    ),
    ("status-page build", OSError): Reply(),  # the directory cannot be written
    # check and status are monitoring plugins: when nothing can be said, UNKNOWN
    ("check", ConfigurationUnusable): _PLUGIN_CONFIGURATION_UNKNOWN,
    ("check", FailoverError): _PLUGIN_UNKNOWN,  # e.g. a PLATFORM that names no platform
    ("status", ConfigurationUnusable): _PLUGIN_CONFIGURATION_UNKNOWN,
    ("status", FailoverError): _PLUGIN_UNKNOWN,  # e.g. the database cannot be read
}

#: what :class:`ErrorTellingCommand` catches to look up (what it finds no entry for goes on)
_TOLD: Final = tuple(dict.fromkeys([*_EVERY_COMMAND, *(kind for _command, kind in _BY_COMMAND)]))


def command_name(ctx: click.Context) -> str:
    """The command's words below the root: ``contacts import``, ``check``."""
    words: list[str] = []
    while ctx.parent is not None:
        words.append(ctx.command.name or "")
        ctx = ctx.parent
    return " ".join(reversed(words))


def reply_to(error: Exception, command: str) -> Reply | None:
    """How ``command`` tells of ``error``: the entry for the error's most specific class,
    the command's own before every command's; None when it is no fault of ours to tell."""
    for kind in type(error).__mro__:
        reply = _BY_COMMAND.get((command, kind)) or _EVERY_COMMAND.get(kind)
        if reply is not None:
            return reply
    return None


def tell_error(error: Exception, reply: Reply, ctx: click.Context) -> NoReturn:
    """Print ``error`` as ``reply`` says and exit with its code."""
    line = reply.line(error, ctx.params)
    if reply.nagios and ctx.params.get("nagios"):
        click.echo(f"FAILOVER {PluginState(reply.code).label} - {line}")
        raise SystemExit(reply.code)
    fail(line, reply.code)


class ErrorTellingCommand(click.Command):
    """A command whose errors are told by :func:`reply_to`'s mapping, not by the command."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except _TOLD as exc:
            reply = reply_to(exc, command_name(ctx))
            if reply is None:
                raise
            tell_error(exc, reply, ctx)


class _Group(click.Group):
    """A command group whose commands tell their errors through the one mapping."""

    command_class = ErrorTellingCommand
    group_class = type  # its subgroups are of this class too


# ------------------------------------------------------------------------------ the root


class _Root(click.Group):
    """The root command: a usage error (here or in any command below) exits 3, never
    click's 2, which means CRITICAL to a monitoring system."""

    command_class = ErrorTellingCommand
    group_class = _Group

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            exc.exit_code = EXIT_USAGE  # type: ignore[misc]  # click reads it from the instance
            raise

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            exc.exit_code = EXIT_USAGE  # type: ignore[misc]  # click reads it from the instance
            raise


_CONFIG_HELP = (
    "Configuration file (default: $FAILOVER_CONFIG, ./failover.toml, "
    "/etc/failover/failover.toml, else built-in)."
)


@click.group(cls=_Root, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "-V", "--version", prog_name="failover")
@click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help=_CONFIG_HELP + " Also accepted after the command.",
)
def main(config_path: Path | None) -> None:
    """Watch the platforms people talk through (Facebook, WhatsApp, Messenger, Instagram,
    Telegram, Signal, …); when one goes dark, tell the people who matter how to reach
    each other through channels that still work.

    Configuration is read from --config (before or after the command), $FAILOVER_CONFIG,
    ./failover.toml, /etc/failover/failover.toml, or else the built-in default.

    Exit codes: 0 success; 1 failure (check and status: a platform degraded); 2 check and
    status only: a platform down; 3 usage error (check and status: nothing can be said,
    e.g. our own connectivity is lost).
    """
    del config_path  # the commands read it from the root context (config_option)
    if not logging_configured():
        # log lines go to stderr, never among the output on stdout; the libraries' own
        # (a migration's steps, an SMTP dialogue) only when something goes wrong. A program
        # that embeds the command line and set up its own logging keeps it.
        configure_logging(level="info", libraries="warning")


def _root_config_path() -> Path | None:
    """The ``--config`` given before the command, if any."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return None
    value = ctx.find_root().params.get("config_path")
    return value if isinstance(value, Path) else None


def _with_root_config(ctx: click.Context, _param: click.Parameter, value: Path | None) -> Path | None:
    before = ctx.find_root().params.get("config_path")
    if value is not None and before is not None and value != before:
        raise click.BadParameter(f"{before} before the command and {value} after it: give one")
    return value if value is not None else before


def config_option(func: F) -> F:
    """The ``-c/--config PATH`` option every command that reads the configuration takes;
    without it, the one given before the command (``failover --config X status``)."""
    decorator = click.option(
        "-c",
        "--config",
        "config_path",
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        callback=_with_root_config,
        help=_CONFIG_HELP,
    )
    return decorator(func)


def fail(message: str, code: int = EXIT_PROBLEM) -> NoReturn:
    """Print one line to stderr and exit with ``code``."""
    click.echo(f"failover: {message}", err=True)
    sys.exit(code)


def operator_name() -> str:
    """Who runs the command, as the journal of actions names them: the OS user."""
    try:
        return getpass.getuser()
    except OSError:  # no login name, no USER/LOGNAME: a container without a passwd entry
        return f"uid {os.getuid()}"


def read_configuration(config_path: Path | None, *, contacts: bool = True) -> Config:
    """The configuration the search order finds (``config_path``, else the root's
    ``--config``, ...), its templates rendered against a sample and its channels checked.
    ``contacts=False``, for a command that tells nobody: the contacts file is not read
    (its time and memory grow with the address book). Raises :class:`ConfigError`."""
    from failover.service import install_template_cache, validate_notifications

    if config_path is None:
        config_path = _root_config_path()
    path = find_config_path(config_path, env=os.environ, cwd=Path.cwd())
    config = load_config(path, env=os.environ, contacts_file=contacts)
    # before the first template is compiled (the checks below compile them all)
    install_template_cache(os.environ)
    validate_notifications(config)
    return config


def load_configuration(config_path: Path | None, *, contacts: bool = True) -> Config:
    """:func:`read_configuration`; raises :class:`ConfigurationUnusable` if invalid."""
    try:
        return read_configuration(config_path, contacts=contacts)
    except ConfigError as exc:
        raise ConfigurationUnusable(str(exc)) from exc
