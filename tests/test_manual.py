"""Manual failover: targets, the preview, the hold, cancel and resolve, and the CLI that
delivers by itself when no daemon runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from failover.cli import main
from failover.config import Config, load_config
from failover.domain import IncidentEvent, IncidentKind, IncidentScope
from failover.errors import ConfigError
from failover.service import IncidentNotFoundError, find_target, open_store, plan_manual
from failover.service._manual import (
    LOCK_STALE_AFTER,
    cancel_incident,
    daemon_running,
    open_manual,
    resolve_incident,
)
from failover.store import NoticeState, Store
from tests.kit import SmtpSink

NOW = datetime(2026, 10, 4, 15, 40, tzinfo=UTC)


def write_config(tmp_path: Path, smtp_port: int) -> Path:
    """Two meta platforms and telegram; Alice (fr, team), Bob (en, team), Carol (en, board)."""
    platforms = "".join(
        f"""
[platforms.{name}]
{family}
[[platforms.{name}.checks]]
kind = "tcp"
name = "tcp"
host = "127.0.0.1"
port = 9
"""
        for name, family in (
            ("whatsapp", 'family = "meta"'),
            ("facebook", 'family = "meta"'),
            ("telegram", ""),
        )
    )
    people = "".join(
        f"""
[[contacts]]
name = "{name}"
id = "{name.lower()}"
language = "{language}"
groups = ["{group}"]
[[contacts.channels]]
url = "mailto://127.0.0.1:{smtp_port}?from=failover@example.org&to={name.lower()}@example.org"
"""
        for name, language, group in (
            ("Alice", "fr", "team"),
            ("Bob", "en", "team"),
            ("Carol", "en", "board"),
        )
    )
    path = tmp_path / "failover.toml"
    path.write_text(
        f"""
[catalog]
builtin = false

[daemon]
database_url = "sqlite:///{tmp_path}/failover.db"

[detection]
control_quorum = 0

{platforms}
[groups.team]
[groups.board]
{people}
[[routes]]
name = "everyone"
template = "outage"
events = ["confirmed", "resolved", "manual"]
groups = ["team", "board"]
"""
    )
    return path


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return load_config(write_config(tmp_path, 2525), env={})


@pytest.fixture
def store(config: Config) -> Store:
    with open_store(config) as opened:
        yield opened  # type: ignore[misc]


class TestTargets:
    """A name is a platform first, then a family; anything else must be said to be custom."""

    def test_platform_family_and_custom(self, config: Config) -> None:
        assert find_target(config, "whatsapp").platforms == ("whatsapp",)
        family = find_target(config, "meta")
        assert (family.scope, family.platforms) == (IncidentScope.family, ("whatsapp", "facebook"))
        custom = find_target(config, "phones", scope=IncidentScope.custom)
        assert (custom.scope, custom.platforms) == (IncidentScope.custom, ())

    def test_an_unknown_name_is_refused_unless_lenient(self, config: Config) -> None:
        with pytest.raises(ConfigError, match=r"unknown platform or family 'whatsap'.*--custom"):
            find_target(config, "whatsap")
        assert find_target(config, "phones", strict=False).scope is IncidentScope.custom


class TestPreview:
    """The preview shows each text as rendered and counts recipients per channel kind."""

    def test_texts_per_language_and_recipients_per_scheme(self, config: Config) -> None:
        plan = plan_manual(config, find_target(config, "whatsapp"), message="Call us instead", now=NOW)
        assert plan.recipients == 3
        assert plan.channels == (("mailto", 3),)
        assert {(t.language, t.recipients) for t in plan.texts} == {("en", 2), ("fr", 1)}
        assert all("Call us instead" in t.body for t in plan.texts)
        assert all("@" not in t.body for t in plan.texts), "a preview never shows an address"
        assert plan.hold_until is None

    def test_groups_restrict_and_the_hold_holds(self, config: Config) -> None:
        plan = plan_manual(
            config,
            find_target(config, "meta"),
            message="m",
            now=NOW,
            groups=["board"],
            hold=timedelta(seconds=60),
        )
        assert [d.contact_ref for d in plan.drafts] == ["carol"]
        assert plan.hold_until == NOW + timedelta(seconds=60)
        assert all(d.not_before == plan.hold_until for d in plan.drafts)

    def test_an_unknown_group_is_refused(self, config: Config) -> None:
        with pytest.raises(ConfigError, match="unknown group 'boardd'"):
            plan_manual(config, find_target(config, "meta"), message="m", now=NOW, groups=["boardd"])


class TestCancelAndResolve:
    def test_cancel_within_the_hold_withdraws_everything_and_closes(
        self, config: Config, store: Store
    ) -> None:
        plan = plan_manual(
            config, find_target(config, "whatsapp"), message="m", now=NOW, hold=timedelta(minutes=1)
        )
        incident = open_manual(store, plan, now=NOW)
        assert incident.id is not None
        assert incident.kind is IncidentKind.manual
        outcome = cancel_incident(store, incident.id, now=NOW + timedelta(seconds=10))
        assert (outcome.cancelled, outcome.already_sent) == (3, 0)
        assert not outcome.incident.is_open
        assert {n.state for n in store.notices(incident.id)} == {NoticeState.cancelled}
        assert store.claim_notices(now=NOW + timedelta(hours=1)) == []

    def test_resolve_before_anything_went_out_sends_no_recovery(self, config: Config, store: Store) -> None:
        plan = plan_manual(
            config, find_target(config, "whatsapp"), message="m", now=NOW, hold=timedelta(minutes=1)
        )
        incident = open_manual(store, plan, now=NOW)
        assert incident.id is not None
        outcome = resolve_incident(store, config, incident.id, now=NOW + timedelta(seconds=5))
        assert (outcome.queued, outcome.cancelled) == (0, 3)
        assert not outcome.incident.is_open

    def test_resolve_after_the_notices_went_out_queues_the_recovery(
        self, config: Config, store: Store
    ) -> None:
        plan = plan_manual(config, find_target(config, "whatsapp"), message="m", now=NOW)
        incident = open_manual(store, plan, now=NOW)
        assert incident.id is not None
        for notice in store.claim_notices(now=NOW):
            store.mark_notice(notice.id, NoticeState.sent, now=NOW)
        outcome = resolve_incident(store, config, incident.id, now=NOW + timedelta(minutes=5))
        assert outcome.queued == 3
        events = [n.event for n in store.notices(incident.id)]
        assert events.count(IncidentEvent.resolved) == 3
        again = resolve_incident(store, config, incident.id, now=NOW + timedelta(minutes=6))
        assert again.already_resolved

    def test_unknown_incidents_are_refused(self, store: Store) -> None:
        with pytest.raises(IncidentNotFoundError, match="no incident 42"):
            cancel_incident(store, 42, now=NOW)


class TestDaemonDetection:
    def test_a_fresh_lock_means_a_daemon_runs(self, store: Store) -> None:
        assert not daemon_running(store, now=NOW)
        store.acquire_lock("elsewhere:1", now=NOW, stale_after=LOCK_STALE_AFTER)
        assert daemon_running(store, now=NOW + timedelta(seconds=5))
        assert not daemon_running(store, now=NOW + LOCK_STALE_AFTER * 2)


class TestTriggerCommand:
    """`failover trigger` / `cancel` / `resolve` without a daemon."""

    def test_dry_run_previews_and_records_nothing(self, tmp_path: Path) -> None:
        path = write_config(tmp_path, 2525)
        result = CliRunner().invoke(
            main, ["trigger", "meta", "-m", "Use e-mail", "--dry-run", "--config", str(path)]
        )
        assert result.exit_code == 0, result.output
        assert "Manual failover (dry run)" in result.output
        assert "mailto" in result.output
        assert "nothing recorded" in result.output
        with open_store(load_config(path, env={})) as store:
            assert store.open_incidents() == []

    def test_without_a_terminal_it_needs_yes(self, tmp_path: Path) -> None:
        path = write_config(tmp_path, 2525)
        result = CliRunner().invoke(main, ["trigger", "meta", "-m", "x", "--config", str(path)])
        assert result.exit_code == 1
        assert "add --yes" in result.output

    def test_a_target_is_required_once(self, tmp_path: Path) -> None:
        path = write_config(tmp_path, 2525)
        result = CliRunner().invoke(
            main, ["trigger", "meta", "--custom", "x", "-m", "x", "--config", str(path)]
        )
        assert result.exit_code == 1
        assert "exactly one" in result.output

    def test_without_a_daemon_it_delivers_then_resolves(self, tmp_path: Path, smtp_sink: SmtpSink) -> None:
        """No daemon: the command sends the notices itself, and `resolve` the recoveries."""
        path = write_config(tmp_path, smtp_sink.port)
        runner = CliRunner()
        result = runner.invoke(
            main, ["trigger", "whatsapp", "-m", "Write to us by e-mail", "--yes", "--config", str(path)]
        )
        assert result.exit_code == 0, result.output
        assert "delivering from here" in result.output
        assert "3 sent" in result.output
        received = smtp_sink.wait_for(3)
        assert all("Write to us by e-mail" in m.message.get_content() for m in received)

        resolved = runner.invoke(main, ["resolve", "1", "--config", str(path)])
        assert resolved.exit_code == 0, resolved.output
        assert "3 recovery notice(s) queued" in resolved.output
        smtp_sink.wait_for(6)

    def test_cancel_of_an_unknown_incident_fails(self, tmp_path: Path) -> None:
        path = write_config(tmp_path, 2525)
        result = CliRunner().invoke(main, ["cancel", "7", "--config", str(path)])
        assert result.exit_code == 1
        assert "no incident 7" in result.output
