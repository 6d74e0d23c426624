"""The scenario: WhatsApp goes dark, then the whole Meta family, then everything recovers.

The real :class:`~failover.service.Daemon` runs on this process's event loop with short
intervals, against the fake world of :mod:`failover.demo._world`; its configuration is
generated with ephemeral ports and, with the database, lives in a temporary directory.
Each step waits for what the daemon must do (confirm, notify, resolve) and gives up, with
a :class:`DemoError`, when it does not happen in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from failover.config import Config, load_config
from failover.demo._report import Measurement, Timeline, print_latencies, print_received
from failover.demo._world import META, World, build_world, config_text
from failover.domain import IncidentKind
from failover.errors import FailoverError
from failover.service import Daemon, DaemonTimings, JournalEntry, journal, utc_now
from failover.testing import free_port

if TYPE_CHECKING:
    # the demo draws with rich, imported when it draws
    from rich.console import Console

__all__ = ["DemoError", "run_demo"]

_STEP_TIMEOUT_S = 20.0


class DemoError(FailoverError):
    """The demo could not run (a step did not happen in time, the daemon stopped)."""


async def _until(what: str, predicate: Callable[[], Awaitable[bool]], daemon_task: asyncio.Task[int]) -> None:
    try:
        async with asyncio.timeout(_STEP_TIMEOUT_S):
            while not await predicate():
                if daemon_task.done():
                    raise DemoError(f"the daemon stopped while waiting for: {what}")
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise DemoError(f"gave up after {_STEP_TIMEOUT_S:g} s waiting for: {what}") from None


@contextlib.contextmanager
def _temporary_directory() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="failover-demo-") as name:
        yield Path(name)


async def run_demo(console: Console, *, speed: float = 1.0) -> int:
    """Run the scenario and print what happened; the exit code (0: every step happened).

    ``speed`` shortens (above 1) or lengthens the pauses between the steps.
    """
    with contextlib.ExitStack() as stack:
        directory = stack.enter_context(_temporary_directory())
        world = build_world(stack)
        path = directory / "failover.toml"
        path.write_text(config_text(world, directory, free_port()), encoding="utf-8")
        config = load_config(path, env=os.environ)
        daemon = Daemon(
            config,
            reload=lambda: load_config(path, env=os.environ),
            env={},
            timings=DaemonTimings(outbox_gauge_every_s=2.0),
        )
        console.print(
            f"[bold]failover demo[/]: {len(config.platforms)} fake platforms, "
            f"{len(config.controls)} controls, DNS and SMTP on 127.0.0.1 (config {path})"
        )
        daemon_task = asyncio.create_task(daemon.run(), name="failover-demo-daemon")
        timeline = Timeline(started=utc_now())
        try:
            measurements = await _scenario(
                console,
                world=world,
                config=config,
                daemon=daemon,
                daemon_task=daemon_task,
                timeline=timeline,
                pause_s=2.0 / speed,
            )
        finally:
            daemon.request_stop()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(12):
                    await daemon_task
        timeline.render(console)
        print_received(console, world, timeline)
        print_latencies(console, measurements)
        return 0


async def _entries(config: Config) -> list[JournalEntry]:
    return await asyncio.to_thread(journal, config, since=None, platform=None)


async def _scenario(
    console: Console,
    *,
    world: World,
    config: Config,
    daemon: Daemon,
    daemon_task: asyncio.Task[int],
    timeline: Timeline,
    pause_s: float,
) -> list[Measurement]:
    async def all_up() -> bool:
        return daemon.rounds >= len(config.platforms) + 1

    await _until("the first rounds", all_up, daemon_task)
    timeline.add(utc_now(), "daemon running; every platform up")
    await asyncio.sleep(pause_s)

    async def mails(n: int) -> bool:
        return len(world.mails()) >= n

    measurements: list[Measurement] = []

    async def step(label: str, platforms: tuple[str, ...], expect_scope: str, expect_mails: int) -> None:
        dark_at = utc_now()
        world.go_dark(platforms)
        timeline.add(dark_at, f"[red]{label} goes dark[/] (DNS SERVFAIL, connections reset)")
        console.print(f"… {label} goes dark")

        async def confirmed() -> bool:
            return any(
                e.incident.scope.value == expect_scope
                and e.incident.confirmed_at
                and e.incident.confirmed_at >= dark_at
                and e.incident.kind is not IncidentKind.manual
                for e in await _entries(config)
            )

        await _until(f"the {label} outage to be confirmed", confirmed, daemon_task)
        entry = next(
            e
            for e in await _entries(config)
            if e.incident.scope.value == expect_scope
            and e.incident.confirmed_at
            and e.incident.confirmed_at >= dark_at
        )
        confirmed_at = entry.incident.confirmed_at
        assert confirmed_at is not None
        timeline.add(
            confirmed_at, f"{entry.incident.scope.value} incident [bold]{entry.incident.name}[/] confirmed"
        )
        await _until(f"the {label} notices", lambda: mails(expect_mails), daemon_task)
        first_mail = next(m for m in world.mails() if m.at >= confirmed_at)
        timeline.add(first_mail.at, f"first notice received ({first_mail.subject})")
        measurements.append(
            Measurement(label=label, dark_at=dark_at, confirmed_at=confirmed_at, mailed_at=first_mail.at)
        )

    # three contacts: Alice and Bob by mail; Chloé's WhatsApp bridge is down, so mail too
    await step("WhatsApp", ("whatsapp",), "platform", 3)
    await asyncio.sleep(pause_s)
    await step("the Meta family", META, "family", 6)
    await asyncio.sleep(pause_s)

    recovered_at = utc_now()
    world.recover()
    timeline.add(recovered_at, "[green]everything recovers[/]")
    console.print("… everything recovers")

    async def resolved() -> bool:
        return all(not e.incident.is_open for e in await _entries(config))

    await _until("the incidents to resolve", resolved, daemon_task)
    for entry in await _entries(config):
        if entry.incident.resolved_at is not None and entry.incident.resolved_at >= recovered_at:
            timeline.add(
                entry.incident.resolved_at,
                f"{entry.incident.scope.value} incident {entry.incident.name} resolved",
            )

    async def recovery_delivered() -> bool:
        # Alice and Bob by mail, Chloé through her bridge again
        return len(world.mails()) >= 8 and len(world.posts()) >= 1

    await _until("the recovery notices", recovery_delivered, daemon_task)
    last = max([m.at for m in world.mails()] + [p.at for p in world.posts()])
    timeline.add(last, "recovery notices delivered")

    return measurements
