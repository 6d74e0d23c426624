"""Manual failover: targets, the preview, the hold, cancel and resolve, and the CLI that
delivers by itself when no daemon runs."""

from __future__ import annotations

import socket
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from failover.cli import main
from failover.config import Config, load_config
from failover.domain import Incident, IncidentEvent, IncidentKind, IncidentScope, NoticeState
from failover.errors import AlreadyRunningError, ConfigError
from failover.service import IncidentNotFoundError, find_target, open_store, plan_manual, plan_notices
from failover.service._database import LOCK_STALE_AFTER, daemon_running, lock_holder, take_lock
from failover.service._incident_actions import cancel_incident, resolve_incident
from failover.service._manual_target import (
    CoverageChangedError,
    NothingToUpdateError,
    TargetError,
    covers,
    find_coverage,
)
from failover.service._trigger import TriggerAction, open_manual, record_trigger
from failover.store import NOTE_PREFIX, Store
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

    def test_an_unknown_name_is_refused_naming_what_is_configured(self, config: Config) -> None:
        with pytest.raises(ConfigError, match=r"unknown platform or family 'whatsap'.*--custom") as caught:
            find_target(config, "whatsap")
        assert "platforms: facebook, telegram, whatsapp; families: meta" in str(caught.value)
        assert isinstance(caught.value, TargetError)
        assert not caught.value.custom

    @pytest.mark.parametrize("name", ["whatsapp", "meta"])
    def test_a_custom_incident_cannot_take_a_configured_name(self, config: Config, name: str) -> None:
        """Its incident would name no platform and never meet the judge's."""
        with pytest.raises(TargetError, match="name it without --custom") as caught:
            find_target(config, name, scope=IncidentScope.custom)
        assert caught.value.custom

    def test_a_scope_looks_up_only_that_kind(self, config: Config) -> None:
        assert find_target(config, "meta", scope=IncidentScope.family).platforms == ("whatsapp", "facebook")
        with pytest.raises(TargetError):
            find_target(config, "meta", scope=IncidentScope.platform)


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


def judged_outage(
    store: Store,
    config: Config,
    *,
    name: str = "whatsapp",
    scope: IncidentScope = IncidentScope.platform,
    platforms: tuple[str, ...] = ("whatsapp",),
    confirmed: bool = True,
) -> Incident:
    """An outage the judge recorded (confirmed: its notices queued and sent 3 s later)."""
    incident = Incident(
        key=f"{scope}:{name}:20261004T1540Z",
        scope=scope,
        kind=IncidentKind.unreachable,
        name=name,
        platforms=platforms,
        opened_at=NOW,
        confirmed_at=NOW if confirmed else None,
        evidence=("authoritative DNS timed out",),
    )
    event = IncidentEvent.confirmed if confirmed else IncidentEvent.opened
    drafts = plan_notices(config, [(event, incident)], now=NOW) if confirmed else []
    [stored] = store.record_decision(at=NOW, incident_events=[(event, incident)], notices=drafts)
    for notice in store.claim_notices(now=NOW):
        store.mark_notice(notice.id, NoticeState.sent, now=NOW + timedelta(seconds=3))
    return stored


class TestCoverage:
    """A trigger on what an open incident already covers is not a second outage notice."""

    @pytest.mark.parametrize(
        ("target", "covered"),
        [("whatsapp", True), ("facebook", False), ("meta", False), ("telegram", False)],
    )
    def test_a_platform_incident_covers_its_platform_only(
        self, config: Config, store: Store, target: str, covered: bool
    ) -> None:
        incident = judged_outage(store, config)
        assert covers(incident, find_target(config, target)) is covered

    @pytest.mark.parametrize("target", ["whatsapp", "facebook", "meta"])
    def test_a_family_incident_covers_the_family_and_each_member(
        self, config: Config, store: Store, target: str
    ) -> None:
        incident = judged_outage(
            store, config, name="meta", scope=IncidentScope.family, platforms=("whatsapp", "facebook")
        )
        assert covers(incident, find_target(config, target))

    def test_a_suspicion_or_a_resolved_incident_covers_nothing(self, config: Config, store: Store) -> None:
        target = find_target(config, "whatsapp")
        suspected = judged_outage(store, config, confirmed=False)
        assert not covers(suspected, target)
        assert find_coverage(store, target) is None
        resolved = judged_outage(store, config)
        assert not covers(replace(resolved, resolved_at=NOW + timedelta(hours=1)), target)

    def test_a_custom_incident_covers_its_name(self, config: Config, store: Store) -> None:
        phones = find_target(config, "phones", scope=IncidentScope.custom)
        incident = open_manual(store, plan_manual(config, phones, message="m", now=NOW), now=NOW)
        assert covers(incident, phones)
        assert not covers(incident, find_target(config, "lines", scope=IncidentScope.custom))
        assert not covers(incident, find_target(config, "whatsapp"))

    def test_the_coverage_says_whom_the_incident_told_and_when(self, config: Config, store: Store) -> None:
        incident = judged_outage(store, config)
        coverage = find_coverage(store, find_target(config, "whatsapp"))
        assert coverage is not None
        assert coverage.incident.id == incident.id
        assert (coverage.notified, coverage.notified_at, coverage.waiting) == (
            3,
            NOW + timedelta(seconds=3),
            0,
        )

    def test_the_preview_of_a_covered_target_is_an_update_of_the_covering_incident(
        self, config: Config, store: Store
    ) -> None:
        incident = judged_outage(store, config)
        target = find_target(config, "whatsapp")
        coverage = find_coverage(store, target)
        plan = plan_manual(config, target, message="Call 01 23 45 67 89", now=NOW, covered_by=coverage)
        assert plan.covered_by == coverage
        assert plan.incident.key == incident.key
        assert plan.event is IncidentEvent.manual
        assert {d.incident_key for d in plan.drafts} == {incident.key}
        assert {d.event_key for d in plan.drafts} == {f"{incident.key}/update/20261004T154000.000000Z"}
        assert {d.message for d in plan.drafts} == {"Call 01 23 45 67 89"}
        # the operator's words show, although the judge opened the incident
        assert all("Call 01 23 45 67 89" in text.body for text in plan.texts)


class TestRecordTrigger:
    """Open, attach or update: one incident per outage, one outage notice per person."""

    def test_an_uncovered_target_opens_a_manual_incident(self, config: Config, store: Store) -> None:
        plan = plan_manual(config, find_target(config, "telegram"), message="m", now=NOW)
        record = record_trigger(store, plan, update=False, via="cli", now=NOW)
        assert record.action is TriggerAction.opened
        assert (record.incident.kind, record.notices) == (IncidentKind.manual, 3)

    def test_a_covered_target_is_attached_and_sends_nothing(self, config: Config, store: Store) -> None:
        incident = judged_outage(store, config)
        assert incident.id is not None
        target = find_target(config, "whatsapp")
        plan = plan_manual(config, target, message="m", now=NOW, covered_by=find_coverage(store, target))
        record = record_trigger(store, plan, update=False, via="api", now=NOW + timedelta(minutes=1))
        assert record.action is TriggerAction.attached
        assert (record.incident.id, record.notices) == (incident.id, 0)
        assert len(store.notices(incident.id)) == 3
        assert [i.id for i in store.open_incidents()] == [incident.id]
        [entry] = store.incidents()
        assert entry.incident.evidence[-1] == (
            f"{NOTE_PREFIX}trigger via api at 2026-10-04 15:41:00 UTC attached: nothing sent"
        )

    def test_an_update_queues_the_message_for_the_covering_incidents_recipients(
        self, config: Config, store: Store
    ) -> None:
        incident = judged_outage(store, config)
        assert incident.id is not None
        target = find_target(config, "whatsapp")
        plan = plan_manual(config, target, message="m", now=NOW, covered_by=find_coverage(store, target))
        record = record_trigger(store, plan, update=True, via="cli", now=NOW)
        assert record.action is TriggerAction.updated
        assert (record.incident.id, record.notices) == (incident.id, 3)
        updates = [n for n in store.notices(incident.id) if n.event is IncidentEvent.manual]
        assert [(n.state, n.message) for n in updates] == [(NoticeState.pending, "m")] * 3
        assert store.incidents()[0].incident.evidence[-1].endswith(": 3 notice(s) queued")
        again = record_trigger(store, plan, update=True, via="cli", now=NOW)
        assert again.action is TriggerAction.updated
        assert len(store.notices(incident.id)) == 6, "the same update replayed queues nothing twice"

    def test_an_update_of_nothing_is_refused(self, config: Config, store: Store) -> None:
        plan = plan_manual(config, find_target(config, "whatsapp"), message="m", now=NOW)
        with pytest.raises(NothingToUpdateError, match="no open incident covers whatsapp"):
            record_trigger(store, plan, update=True, via="cli", now=NOW)
        assert store.open_incidents() == []

    def test_a_preview_overtaken_by_the_judge_records_nothing(self, config: Config, store: Store) -> None:
        """Previewed uncovered, confirmed by the judge before the operator said yes: the
        operator's notices would be a second outage notice, so nothing is recorded."""
        plan = plan_manual(config, find_target(config, "whatsapp"), message="m", now=NOW)
        incident = judged_outage(store, config)
        with pytest.raises(CoverageChangedError, match=f"incident {incident.id} now covers whatsapp"):
            record_trigger(store, plan, update=False, via="cli", now=NOW)
        assert [i.id for i in store.open_incidents()] == [incident.id]


class TestDaemonDetection:
    def test_a_fresh_lock_means_a_daemon_runs(self, store: Store) -> None:
        assert not daemon_running(store, now=NOW)
        store.acquire_lock("elsewhere:1", now=NOW, stale_after=LOCK_STALE_AFTER)
        assert daemon_running(store, now=NOW + timedelta(seconds=5))
        assert not daemon_running(store, now=NOW + LOCK_STALE_AFTER * 2)

    def test_a_live_daemon_of_this_machine_runs_however_old_its_heartbeat(self, store: Store) -> None:
        """A database that stalled kept the daemon from renewing its heartbeat: a command run
        meanwhile must neither decide that no daemon runs nor take its lock."""
        with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as daemon:
            try:
                holder = f"{socket.gethostname()}:{daemon.pid}"
                store.acquire_lock(holder, now=NOW, stale_after=LOCK_STALE_AFTER)
                later = NOW + LOCK_STALE_AFTER * 3
                assert daemon_running(store, now=later)
                assert store.lock() == (holder, NOW)  # asking took nothing
                with pytest.raises(AlreadyRunningError):
                    take_lock(store, lock_holder(), now=NOW + timedelta(seconds=1))
            finally:
                daemon.kill()

    def test_the_lock_of_a_killed_daemon_of_this_machine_is_taken_at_once(self, store: Store) -> None:
        with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as daemon:
            holder = f"{socket.gethostname()}:{daemon.pid}"
            store.acquire_lock(holder, now=NOW, stale_after=LOCK_STALE_AFTER)
            daemon.kill()
        # its heartbeat is a second old: another machine's would be waited out
        assert not daemon_running(store, now=NOW + timedelta(seconds=1))
        take_lock(store, lock_holder(), now=NOW + timedelta(seconds=1))
        assert store.lock() == (lock_holder(), NOW + timedelta(seconds=1))

    def test_another_machines_lock_is_waited_out(self, store: Store) -> None:
        store.acquire_lock("elsewhere:1", now=NOW, stale_after=LOCK_STALE_AFTER)
        with pytest.raises(AlreadyRunningError, match="elsewhere:1"):
            take_lock(store, lock_holder(), now=NOW + timedelta(seconds=1))
        take_lock(store, lock_holder(), now=NOW + LOCK_STALE_AFTER * 2)
        assert store.lock() == (lock_holder(), NOW + LOCK_STALE_AFTER * 2)


@pytest.mark.slow
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

    @pytest.mark.parametrize(
        ("arguments", "error"),
        [
            (["whatsap", "-m", "x"], "unknown platform or family 'whatsap'"),
            (["--custom", "whatsapp", "-m", "x"], "name it without --custom"),
            (["whatsapp", "-m", "  "], "--message must not be blank"),
            (["whatsapp", "-m", "x", "--update"], "no open incident covers whatsapp"),
        ],
    )
    def test_refused_triggers_record_nothing(self, tmp_path: Path, arguments: list[str], error: str) -> None:
        path = write_config(tmp_path, 2525)
        result = CliRunner().invoke(main, ["trigger", *arguments, "--yes", "--config", str(path)])
        assert result.exit_code == 1
        assert error in result.output
        with open_store(load_config(path, env={})) as store:
            assert store.incidents() == []

    def test_a_covered_target_is_attached_unless_updated(self, tmp_path: Path, smtp_sink: SmtpSink) -> None:
        """The judge already told everyone: the preview says so, a trigger is recorded in
        that incident's journal and sends nothing; --update sends the message once."""
        path = write_config(tmp_path, smtp_sink.port)
        config = load_config(path, env={})
        with open_store(config) as store:
            incident = judged_outage(store, config)
        runner = CliRunner(env={"COLUMNS": "200"})

        preview = runner.invoke(
            main, ["trigger", "whatsapp", "-m", "Call us", "--dry-run", "--config", str(path)]
        )
        assert preview.exit_code == 0, preview.output
        assert f"Incident {incident.id} (platform whatsapp, opened by the judge" in preview.output
        assert "already notified 3 contact(s) at 2026-10-04 15:40:03 UTC" in preview.output
        assert "Call us" in preview.output  # what an update would send

        # no --yes and no terminal: nothing is sent, so nothing needs confirming
        attached = runner.invoke(main, ["trigger", "whatsapp", "-m", "Call us", "--config", str(path)])
        assert attached.exit_code == 0, attached.output
        assert f"recorded in the journal of incident {incident.id}; nothing sent" in attached.output

        updated = runner.invoke(
            main, ["trigger", "whatsapp", "-m", "Call us", "--update", "--yes", "--config", str(path)]
        )
        assert updated.exit_code == 0, updated.output
        assert f"incident {incident.id} updated; 3 notice(s) queued" in updated.output
        assert "3 sent" in updated.output
        received = smtp_sink.wait_for(3)
        assert all("Call us" in m.message.get_content() for m in received)
        assert len(smtp_sink.messages) == 3, "the attached trigger sent nothing"
        with open_store(config) as store:
            [entry] = store.incidents()
        notes = [line for line in entry.incident.evidence if line.startswith(NOTE_PREFIX)]
        assert [note.split(" at ")[0] for note in notes] == ["note: trigger via cli", "note: update via cli"]
