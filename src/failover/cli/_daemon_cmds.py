"""``failover run`` (the daemon) and ``failover demo`` (the daemon's pipeline in a fake
world on this machine)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from failover.cli._main import config_option, load_configuration, main
from failover.config import Config, find_config_path, load_config
from failover.logs import configure_logging
from failover.service import Daemon, raise_open_files_limit, run_async, validate_notifications

# ------------------------------------------------------------------------------ run


@main.command()
@config_option
def run(config_path: Path | None) -> None:
    """Run the daemon: probe every platform on its schedule, judge, record, notify, and
    serve /metrics, /healthz, /readyz and /api/v1 (127.0.0.1:9464 by default).

    SIGTERM or SIGINT stops it cleanly (the round in flight and the deliveries in flight
    finish first); SIGHUP reloads the configuration (an invalid file is logged and the
    running configuration kept). Only one daemon may run per database.
    """
    config = load_configuration(config_path)
    cwd = Path.cwd()

    def reload() -> Config:
        """The file read again and checked as ``failover config validate`` checks it: a file
        that command refuses is never applied (the running configuration is kept)."""
        loaded = load_config(find_config_path(config_path, env=os.environ, cwd=cwd), env=os.environ)
        redactor.add_secrets(loaded.secrets)  # before any check can quote one
        validate_notifications(loaded)
        return loaded

    redactor = configure_logging(level=config.daemon.log_level)
    redactor.add_secrets(config.secrets)
    daemon = Daemon(config, reload=reload, env=os.environ, redactor=redactor)
    raise_open_files_limit()
    raise SystemExit(run_async(daemon.run()))


# ------------------------------------------------------------------------------ demo


@main.command()
@click.option("--speed", type=click.FloatRange(0.5, 4.0), default=1.0, show_default=True, hidden=True)
def demo(speed: float) -> None:
    """A self-contained run on this machine, no internet needed (under a minute): fake
    platforms, controls and an SMTP server on 127.0.0.1, the real pipeline with short
    intervals. WhatsApp goes dark, then the whole Meta family, then everything recovers;
    the timeline, what each contact received and the measured latencies are printed."""
    from rich.console import Console

    # loaded when asked for: the other commands, the daemon first, never carry the demo
    from failover.demo import run_demo

    configure_logging(level="warning")
    code = run_async(run_demo(Console(), speed=speed))
    raise SystemExit(code)
