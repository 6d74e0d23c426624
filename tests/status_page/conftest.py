"""Scenes for the status site: the built-in catalog during the 4 October 2021 outage (the
Meta family down for two hours and twenty minutes so far, an older Telegram disruption,
an earlier announcement about the website), and the same after recovery."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from failover.config import Config, parse_config
from failover.domain import Health, Incident, IncidentKind, IncidentScope, Transition
from failover.service._status_page import NotifierWording
from failover.status_page import PlatformNow, Site, Snapshot, build_site

#: 4 October 2021, 20:00 in Paris
NOW = datetime(2021, 10, 4, 18, 0, tzinfo=UTC)
OUTAGE_START = datetime(2021, 10, 4, 15, 40, tzinfo=UTC)
RECOVERED = datetime(2021, 10, 4, 21, 40, tzinfo=UTC)
META = ("facebook", "messenger", "instagram", "whatsapp")

ALTERNATIVES = """
alternatives = { fr = ["Courriel : contact@example.org", "Téléphone : 01 23 45 67 89"], \
en = ["E-mail: contact@example.org", "Phone: +33 1 23 45 67 89"] }
"""


def site_config(tmp_path: Path, *, status_page: str = "", top: str = ALTERNATIVES, more: str = "") -> Config:
    """The built-in catalog (never probed here), Paris time, the page in French first."""
    text = f"""{top}
[daemon]
database_url = "sqlite:///{tmp_path}/failover.db"
timezone = "Europe/Paris"

[status_page]
languages = ["fr", "en"]
{status_page}
{more}
"""
    return parse_config(text, source="test.toml", env={}, cwd=tmp_path)


FAMILY = Incident(
    key="family:meta:20211004T154000Z",
    scope=IncidentScope.family,
    kind=IncidentKind.unreachable,
    name="meta",
    platforms=META,
    opened_at=OUTAGE_START,
    confirmed_at=OUTAGE_START + timedelta(minutes=1),
    evidence=("authoritative: a.ns.facebook.com dns_timeout",),
)
TELEGRAM = Incident(
    key="platform:telegram:20210920T100000Z",
    scope=IncidentScope.platform,
    kind=IncidentKind.degraded,
    name="telegram",
    platforms=("telegram",),
    opened_at=datetime(2021, 9, 20, 10, 0, tzinfo=UTC),
    confirmed_at=datetime(2021, 9, 20, 10, 2, tzinfo=UTC),
    resolved_at=datetime(2021, 9, 20, 12, 32, tzinfo=UTC),
)
WEBSITE = Incident(
    key="manual:website:20210915T080000Z",
    scope=IncidentScope.custom,
    kind=IncidentKind.manual,
    name="website",
    platforms=(),
    opened_at=datetime(2021, 9, 15, 8, 0, tzinfo=UTC),
    resolved_at=datetime(2021, 9, 15, 9, 0, tzinfo=UTC),
    message="Notre site est en maintenance : écrivez-nous par courriel.",
)


def _transitions(*, recovered: bool) -> list[Transition]:
    changes = [
        Transition(
            platform=name, previous=Health.up, current=Health.down, at=FAMILY.confirmed_at or NOW, reason="x"
        )
        for name in META
    ]
    if recovered:
        changes += [
            Transition(platform=name, previous=Health.down, current=Health.up, at=RECOVERED, reason="x")
            for name in META
        ]
    changes += [
        Transition(
            platform="telegram",
            previous=Health.up,
            current=Health.degraded,
            at=TELEGRAM.opened_at,
            reason="x",
        ),
        Transition(
            platform="telegram",
            previous=Health.degraded,
            current=Health.up,
            at=TELEGRAM.resolved_at or NOW,
            reason="x",
        ),
    ]
    return sorted(changes, key=lambda t: t.at)


def scene(config: Config, *, recovered: bool = False) -> Snapshot:
    """The outage at 20:00 in Paris, or (``recovered``) half an hour after its end."""
    now = RECOVERED + timedelta(minutes=30) if recovered else NOW
    family = replace(FAMILY, resolved_at=RECOVERED) if recovered else FAMILY
    platforms = [
        PlatformNow(
            name=p.name,
            health=Health.down if p.name in META and not recovered else Health.up,
            since=(RECOVERED if recovered else FAMILY.confirmed_at)
            if p.name in META
            else TELEGRAM.resolved_at
            if p.name == "telegram"
            else datetime(2021, 6, 1, 9, 0, tzinfo=UTC),
        )
        for p in config.platforms
    ]
    first_day = date(2021, 6, 1)
    watched = {first_day + timedelta(days=n) for n in range(200)}
    return Snapshot(
        now=now,
        platforms=platforms,
        incidents=[family, TELEGRAM, WEBSITE],
        transitions=_transitions(recovered=recovered),
        observed_days={p.name: watched for p in config.platforms},
        watched_from=datetime.combine(now.date(), datetime.min.time(), tzinfo=UTC),
        first_seen={p.name: datetime(2021, 6, 1, tzinfo=UTC) for p in config.platforms},
    )


def build(config: Config, snapshot: Snapshot) -> Site:
    return build_site(snapshot, config=config, wording=NotifierWording(config))


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return site_config(tmp_path)


@pytest.fixture
def outage(config: Config) -> Site:
    """The site during the outage."""
    return build(config, scene(config))


@pytest.fixture
def recovered(config: Config) -> Site:
    """The site after the recovery."""
    return build(config, scene(config, recovered=True))
