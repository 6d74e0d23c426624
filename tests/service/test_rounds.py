"""Rounds that do not wait for each other: a dark platform's hung checks delay no other
platform and no control, and a slow look never overrides a fresher one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from failover.config import Config, load_config
from failover.domain import Health, Outcome
from failover.probes import Prober
from failover.service import Watcher, open_store
from tests.kit import OCT_4_2021, DnsServer, FakeClock, HttpTarget, healthy, tcp_controls, whatsapp_platform

#: generous: a busy CI machine may be slow, but never this slow
WAIT_S = 90.0


def _config(
    tmp_path: Path, dns: DnsServer, dark: HttpTarget, other: HttpTarget, control: HttpTarget
) -> Config:
    path = tmp_path / "failover.toml"
    path.write_text(
        f"""
[catalog]
builtin = false

[daemon]
database_url = "sqlite:///{tmp_path}/failover.db"

[probes]
resolvers = ["{dns.endpoint}"]
"""
        + whatsapp_platform(dns=dns.endpoint, front_door=dark.url).replace('timeout = "1s"', 'timeout = "8s"')
        + f"""
[platforms.telegram]
display_name = "Telegram"

[[platforms.telegram.checks]]
kind = "http"
name = "front-door"
url = "{other.url}/"
timeout = "8s"
"""
        + tcp_controls(control.port)
    )
    return load_config(path, env={})


async def _until(what: str, predicate: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        await asyncio.sleep(0.02)


@pytest.fixture
def targets(http_target: HttpTarget) -> Iterator[tuple[HttpTarget, HttpTarget]]:
    with HttpTarget() as other, HttpTarget() as control:
        yield other, control


async def test_a_dark_platform_delays_neither_another_platform_nor_the_controls(
    tmp_path: Path, dns_server: DnsServer, http_target: HttpTarget, targets: tuple[HttpTarget, HttpTarget]
) -> None:
    other, control = targets
    healthy(dns_server)
    http_target.set("silent")  # the door accepts the connection and never answers
    config = _config(tmp_path, dns_server, http_target, other, control)
    async with Prober(user_agent="failover-test", clock=FakeClock()) as prober:
        with open_store(config) as store:
            watcher = Watcher(config=config, store=store, prober=prober, clock=FakeClock())
            dark = asyncio.create_task(watcher.run_round({"whatsapp"}, with_controls=False))
            await _until("the dark door to be knocked on", lambda: len(http_target.requests) > 0)
            decision = await watcher.run_round({"telegram"})  # with the controls
            assert not dark.done(), "the dark platform's round ended before its door timed out"
            assert decision.verdicts["telegram"].health is Health.up
            assert decision.connectivity.ok is True
            dark.cancel()
            with pytest.raises(asyncio.CancelledError):
                await dark


@pytest.mark.slow
async def test_a_look_older_than_one_already_judged_is_recorded_not_judged(
    tmp_path: Path, dns_server: DnsServer, http_target: HttpTarget, targets: tuple[HttpTarget, HttpTarget]
) -> None:
    other, control = targets
    healthy(dns_server)
    http_target.set("silent")
    config = _config(tmp_path, dns_server, http_target, other, control)
    clock = FakeClock()
    async with Prober(user_agent="failover-test", clock=clock, lookup_timeout_s=1.0) as prober:
        with open_store(config) as store:
            watcher = Watcher(config=config, store=store, prober=prober, clock=clock)
            slow = asyncio.create_task(
                watcher.run_round({"whatsapp"}, with_controls=False, timeout_cap_s=2.0)
            )
            await _until("the slow look's door to be knocked on", lambda: len(http_target.requests) > 0)
            clock.advance(1)
            http_target.set("ok")
            fresh = await watcher.run_round({"whatsapp"}, with_controls=False)
            assert fresh.verdicts["whatsapp"].health is Health.up
            stale = await slow  # its door timed out: a failing look, but an older one
            assert "whatsapp" not in stale.verdicts
            assert watcher.state.platforms["whatsapp"].lingering is None
            # its observations are kept all the same: the journal shows what was seen
            recorded = store.observations(since=OCT_4_2021, target="whatsapp")
            assert [o.outcome for o in recorded if o.check == "front-door"] == [
                Outcome.http_timeout,  # oldest first: the slow look started first
                Outcome.ok,
            ]
