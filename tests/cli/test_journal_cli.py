"""`failover status`, `failover incidents` (the journal and its exports) and `failover db`."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result

from failover.cli import main
from failover.domain import (
    CheckKind,
    CheckRole,
    Health,
    Incident,
    IncidentEvent,
    IncidentKind,
    IncidentScope,
    NoticeState,
    Observation,
    Outcome,
    Transition,
)
from failover.durations import journal_text as format_duration
from failover.store import NoticeDraft, Store

NOW = datetime.now(UTC).replace(microsecond=0)
OPENED = NOW - timedelta(days=1, hours=6)


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "failover.toml"
    path.write_text(
        f"""
[catalog]
builtin = false

[daemon]
database_url = "sqlite:///{tmp_path}/failover.db"
timezone = "Europe/Paris"

[detection]
control_quorum = 0

[platforms.whatsapp]
display_name = "WhatsApp"
family = "meta"
[[platforms.whatsapp.checks]]
kind = "tcp"
name = "tcp"
host = "127.0.0.1"
port = 9
[platforms.instagram]
display_name = "Instagram"
family = "meta"
[[platforms.instagram.checks]]
kind = "tcp"
name = "tcp"
host = "127.0.0.1"
port = 9
[platforms.telegram]
display_name = "Telegram"
[[platforms.telegram.checks]]
kind = "tcp"
name = "tcp"
host = "127.0.0.1"
port = 9
"""
    )
    return path


def invoke(config: Path, *args: str) -> Result:
    return CliRunner().invoke(main, [*args, "--config", str(config)])


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A configuration whose database holds a resolved Meta family incident with notices
    and an open Telegram one."""
    path = write_config(tmp_path)
    with Store.open(f"sqlite:///{tmp_path}/failover.db") as store:
        store.upgrade()
        family = Incident(
            key="family:meta:1",
            scope=IncidentScope.family,
            kind=IncidentKind.unreachable,
            name="meta",
            platforms=("instagram", "whatsapp"),
            opened_at=OPENED,
            confirmed_at=OPENED + timedelta(seconds=7),
            evidence=("whatsapp: authoritative dns_servfail", "instagram: front-door http_error | reset"),
            cause="authoritative DNS SERVFAIL and HTTPS unreachable",
        )
        store.record_decision(
            at=OPENED,
            incident_events=[(IncidentEvent.confirmed, family)],
            transitions=[
                Transition(
                    platform="whatsapp", previous=Health.up, current=Health.down, at=OPENED, reason="x"
                )
            ],
            notices=[
                NoticeDraft(
                    incident_key=family.key, event=IncidentEvent.confirmed, contact_ref=f"c{n}", template="t"
                )
                for n in range(3)
            ],
        )
        for notice in store.claim_notices(now=OPENED, limit=3)[:2]:
            store.mark_notice(notice.id, NoticeState.sent, now=OPENED)
        store.record_decision(
            at=OPENED + timedelta(hours=6),
            incident_events=[
                (IncidentEvent.resolved, dataclasses.replace(family, resolved_at=OPENED + timedelta(hours=6)))
            ],
        )
        telegram = Incident(
            key="platform:telegram:1",
            scope=IncidentScope.platform,
            kind=IncidentKind.degraded,
            name="telegram",
            platforms=("telegram",),
            opened_at=NOW - timedelta(minutes=20),
            cause="HTTP 503",
        )
        store.record_decision(at=NOW, incident_events=[(IncidentEvent.confirmed, telegram)])
        store.record_observations(
            [
                Observation(
                    target="telegram",
                    check="tcp",
                    kind=CheckKind.tcp,
                    role=CheckRole.front_door,
                    outcome=Outcome.ok,
                    at=NOW - timedelta(days=30),
                )
            ]
        )
    return path


class TestIncidents:
    """The journal: date, time, duration, scope, evidence, notices sent."""

    def test_markdown_is_a_report_to_hand_over(self, config: Path) -> None:
        """The markdown export has a summary table and a section per incident with local
        times, durations, cause, evidence and what became of the notices."""
        result = invoke(config, "incidents", "--export", "markdown", "--since", "7d")
        assert result.exit_code == 0, result.output
        text = result.stdout
        assert text.startswith("# Incident journal\n")
        assert "2 incidents" in text
        assert "| # | Opened | Resolved | Duration |" in text
        assert "## #1: meta (unreachable)" in text
        assert "6 h 00 min" in text
        assert "Europe/Paris" in text
        assert "authoritative DNS SERVFAIL and HTTPS unreachable" in text
        assert "  - instagram: front-door http_error \\| reset" not in text  # evidence is a list, not a table
        assert "  - instagram: front-door http_error | reset" in text
        assert "**Notices:** 2 sent, 0 failed, 0 not sent (skipped, silenced or cancelled), 1 pending" in text
        assert "still open" in text
        local_opened = OPENED.astimezone(ZoneInfo("Europe/Paris"))
        assert local_opened.strftime("%Y-%m-%d %H:%M") in text

    def test_csv_and_json(self, config: Path) -> None:
        """CSV has one row per incident with UTC times; JSON has the same facts for scripts."""
        rows = list(csv.DictReader(io.StringIO(invoke(config, "incidents", "--export", "csv").stdout)))
        assert [r["name"] for r in rows] == ["meta", "telegram"]
        assert rows[0]["duration_s"] == str(6 * 3600)
        assert rows[0]["platforms"] == "instagram; whatsapp"
        assert rows[0]["notices_sent"] == "2"
        assert rows[1]["resolved_at"] == ""
        # the shape of GET /api/v1/incidents: newest first
        data = json.loads(invoke(config, "incidents", "--export", "json").stdout)["incidents"]
        assert [d["name"] for d in data] == ["telegram", "meta"]
        assert data[1]["resolved_at"] == (OPENED + timedelta(hours=6)).isoformat()
        assert data[1]["duration_s"] == 6 * 3600
        assert data[1]["notices"] == {"sent": 2, "failed": 0, "skipped": 0, "pending": 1}

    def test_filters(self, config: Path) -> None:
        """--platform keeps incidents touching it; --since leaves out those resolved before."""
        data = json.loads(invoke(config, "incidents", "--export", "json", "--platform", "whatsapp").stdout)
        assert [d["name"] for d in data["incidents"]] == ["meta"]
        data = json.loads(invoke(config, "incidents", "--export", "json", "--since", "1h").stdout)
        assert [d["name"] for d in data["incidents"]] == ["telegram"]
        assert invoke(config, "incidents", "--since", "soon").exit_code == 3  # a usage error

    def test_table(self, config: Path) -> None:
        """Without --export a table is printed for people."""
        result = invoke(config, "incidents")
        assert result.exit_code == 0
        assert "telegram" in result.stdout
        assert "(open)" in result.stdout


class TestStatus:
    """`failover status` reads what the daemon last judged; it probes nothing."""

    def test_never_judged(self, tmp_path: Path) -> None:
        """A fresh database says no round was judged yet, every platform unknown: exit 3
        (UNKNOWN), as `check` when nothing can be said."""
        result = invoke(write_config(tmp_path), "status", "--json")
        assert result.exit_code == 3, result.output
        data = json.loads(result.stdout)
        assert data["judged"] is False
        assert {p["health"] for p in data["platforms"]} == {"unknown"}

    def test_open_incidents_listed(self, config: Path) -> None:
        """Open incidents are listed with their cause."""
        data = json.loads(invoke(config, "status", "--json").stdout)
        assert [i["name"] for i in data["open_incidents"]] == ["telegram"]
        # no control was ever observed: nothing is known of our own connectivity, nothing lost
        assert (data["connectivity"]["ok"], data["connectivity"]["lost_since"]) == (None, None)
        assert "HTTP 503" in invoke(config, "status").stdout

    def test_unreachable_database_is_one_line(self, tmp_path: Path) -> None:
        """A database that cannot be opened is a one-line error, exit 3 (UNKNOWN: nothing
        can be said), no password shown."""
        path = tmp_path / "bad.toml"
        path.write_text(
            '[catalog]\nbuiltin = false\n[daemon]\ndatabase_url = "postgresql+psycopg://u:hunter2@127.0.0.1:1/x"\n'
        )
        result = invoke(path, "status")
        assert result.exit_code == 3
        assert result.stderr.count("\n") == 1
        assert "hunter2" not in result.output


class TestDb:
    """`failover db upgrade|prune`."""

    def test_upgrade_is_idempotent(self, tmp_path: Path) -> None:
        config = write_config(tmp_path)
        assert invoke(config, "db", "upgrade").exit_code == 0
        result = invoke(config, "db", "upgrade")
        assert result.exit_code == 0
        assert "up to date" in result.stdout

    def test_prune_drops_old_raw_observations(self, config: Path) -> None:
        """Observations older than the retention go; incidents stay."""
        result = invoke(config, "db", "prune")
        assert result.exit_code == 0, result.output
        assert "pruned 1 observations" in result.stdout
        journal = json.loads(invoke(config, "incidents", "--export", "json", "--since", "30d").stdout)
        assert len(journal["incidents"]) == 2


def test_format_duration() -> None:
    """Durations read as people write them."""
    assert format_duration(timedelta(hours=6, minutes=2)) == "6 h 02 min"
    assert format_duration(timedelta(minutes=12, seconds=5)) == "12 min 05 s"
    assert format_duration(timedelta(seconds=40)) == "40 s"
    assert format_duration(timedelta(days=2, hours=1)) == "2 d 1 h 00 min"
