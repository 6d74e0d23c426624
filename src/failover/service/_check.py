"""One round for ``failover check``: probe the platforms and controls, judge that round alone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from failover.config import Config
from failover.detect import Decision, JudgeState, judge
from failover.domain import Health, Observation, Platform
from failover.errors import ConfigError
from failover.probes import Prober
from failover.service._runtime import utc_now


@dataclass(frozen=True, kw_only=True, slots=True)
class CheckReport:
    """One round's observations and what the judge makes of them."""

    platforms: tuple[Platform, ...]
    controls: tuple[Platform, ...]
    observations: tuple[Observation, ...]
    decision: Decision

    @property
    def connectivity_lost(self) -> bool:
        return self.decision.connectivity.ok is False

    @property
    def platforms_in_trouble(self) -> tuple[str, ...]:
        return tuple(
            name
            for name, verdict in self.decision.verdicts.items()
            if verdict.health in (Health.degraded, Health.down)
        )


def select_platforms(config: Config, names: Sequence[str]) -> tuple[Platform, ...]:
    """The configured platforms named in ``names`` (all when empty), in catalog order."""
    if not names:
        return config.platforms
    known = {platform.name: platform for platform in config.platforms}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ConfigError(
            f"unknown platform {unknown[0]!r}; configured: {', '.join(sorted(known)) or 'none'}"
        )
    wanted = set(names)
    return tuple(platform for platform in config.platforms if platform.name in wanted)


async def check_once(config: Config, names: Sequence[str] = ()) -> CheckReport:
    """Probe the selected platforms and every control once, then judge that round alone."""
    platforms = select_platforms(config, names)
    async with Prober(
        user_agent=config.probes.user_agent,
        concurrency=config.probes.concurrency,
        clock=utc_now,
        system_nameservers=config.probes.nameservers,
        lookup_timeout_s=config.probes.lookup_timeout_s,
    ) as prober:
        observations = await prober.probe_platforms([*platforms, *config.controls])
    decision = judge(
        observations=observations,
        state=JudgeState.initial(),
        now=utc_now(),
        policy=config.detection,
        families={platform.name: platform.family for platform in platforms},
    )
    return CheckReport(
        platforms=platforms,
        controls=config.controls,
        observations=tuple(observations),
        decision=decision,
    )
