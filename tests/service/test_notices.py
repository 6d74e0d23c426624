"""From an incident decision to someone's inbox: which notices a decision queues, and
their delivery from the store's outbox over real protocols on 127.0.0.1 (SMTP through
aiosmtpd, the fake signal-cli-rest-api, the fake Mastodon API). Store-backed parts run on
SQLite; the outbox's PostgreSQL behaviour is covered by tests/store."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import structlog

from failover.config import BUILTIN_TEMPLATE_NAMES, Config, load_config, parse_config
from failover.domain import (
    Channel,
    Incident,
    IncidentEvent,
    IncidentKind,
    IncidentScope,
    NoticeState,
    Visibility,
)
from failover.errors import ConfigError
from failover.logs import configure_logging
from failover.notify import BUILTIN_TEMPLATES, RenderedNotice, SendResult
from failover.probes import Prober
from failover.service import (
    NoticePump,
    Watcher,
    open_store,
    plan_notices,
    validate_notifications,
)
from failover.store import Silence, Store
from tests.kit import (
    DnsServer,
    FakeClock,
    FakeMastodon,
    FakeSignal,
    HttpTarget,
    ReceivedMessage,
    SmtpSink,
    come_back,
    go_dark,
    tcp_controls,
    whatsapp_platform,
)
from tests.notify.test_send import until

T0 = datetime(2026, 10, 4, 15, 40, tzinfo=UTC)
FROM = "failover@example.org"


@dataclass(frozen=True, slots=True)
class Servers:
    """Where the loopback servers listen (0: not running, the channel is never used)."""

    smtp: int = 9
    signal: int = 9
    mastodon: int = 9
    bridge: int = 9


def notify_sections(servers: Servers, *, dry_run: bool = False, reminder: str = "10m") -> str:
    """Groups, contacts, a public Mastodon account, templates and routes.

    alice (fr, team): e-mail. bob (en, team and customers): e-mail. carol (fr, customers):
    Signal, then e-mail. dave (en, customers): a bridge that needs WhatsApp, then e-mail.
    """
    return f"""
[daemon]
dry_run = {"true" if dry_run else "false"}

[notify]
concurrency = 4
max_attempts = 2
backoff_base = "10ms"
# nothing listens for the public account: its temporary failures end within a test
give_up_after = "1s"
smtp_url = "mailto://127.0.0.1:{servers.smtp}?from={FROM}"
signal_url = "signal://127.0.0.1:{servers.signal}/+15551234567"

[notify.rate_per_minute]
default = 100000
mailto = 100000
signal = 100000
mastodon = 100000
json = 100000

[groups.team]
[groups.customers]

[[contacts]]
id = "alice"
name = "Alice Martin"
language = "fr"
timezone = "Europe/Paris"
groups = ["team"]
channels = [{{ email = "alice@example.org" }}]

[[contacts]]
id = "bob"
name = "Bob Durand"
groups = ["team", "customers"]
channels = [{{ email = "bob@example.org" }}]

[[contacts]]
id = "carol"
name = "Carol Petit"
language = "fr"
groups = ["customers"]
channels = [{{ signal = "+15557654321" }}, {{ email = "carol@example.org" }}]

[[contacts]]
id = "dave"
name = "Dave Smith"
groups = ["customers"]
channels = [
  {{ url = "json://127.0.0.1:{servers.bridge}/bridge", depends_on = ["whatsapp"], visibility = "private" }},
  {{ email = "dave@example.org" }},
]

[channels.announce]
url = "mastodon://s3cr3t-token@127.0.0.1:{servers.mastodon}/"
visibility = "public"
depends_on = []
language = "fr"

[[routes]]
name = "team"
template = "outage"
events = ["confirmed", "resolved", "manual"]
groups = ["team"]
reminder_every = "{reminder}"

[[routes]]
name = "customers"
template = "outage"
events = ["confirmed", "resolved"]
groups = ["customers"]
families = ["meta"]

[[routes]]
name = "public"
template = "outage-public"
events = ["confirmed", "resolved"]
channels = ["announce"]
platforms = ["whatsapp"]
"""


def platform_sections(
    *, dns: str = "127.0.0.1:9", front_door: str = "http://127.0.0.1:9", control: int = 9
) -> str:
    """whatsapp (meta) and telegram, three controls, as in tests/service/test_service.py."""
    return (
        f"""
alternatives = ["E-mail: contact@example.org"]

[catalog]
builtin = false

[probes]
resolvers = ["{dns}"]

[detection]
confirm_after = ["2s", "5s"]
recover_after = 2
"""
        + whatsapp_platform(dns=dns, front_door=front_door)
        + f"""
[platforms.telegram]
display_name = "Telegram"
[[platforms.telegram.checks]]
kind = "tcp"
name = "tcp"
host = "127.0.0.1"
port = {control}
"""
        + tcp_controls(control)
    )


def make_config(tmp_path: Path, servers: Servers = Servers(), **options: object) -> Config:
    text = platform_sections() + notify_sections(servers, **options)  # type: ignore[arg-type]
    text = text.replace("[daemon]", f'[daemon]\ndatabase_url = "sqlite:///{tmp_path}/failover.db"', 1)
    return parse_config(text, source="failover.toml", env={}, cwd=tmp_path)


def incident(
    *,
    platforms: tuple[str, ...] = ("whatsapp",),
    scope: IncidentScope = IncidentScope.platform,
    name: str = "whatsapp",
    kind: IncidentKind = IncidentKind.unreachable,
    resolved: bool = False,
) -> Incident:
    return Incident(
        key=f"{scope}:{name}:20261004T1540Z",
        scope=scope,
        kind=kind,
        name=name,
        platforms=platforms,
        opened_at=T0,
        confirmed_at=T0 + timedelta(seconds=5),
        resolved_at=T0 + timedelta(hours=2) if resolved else None,
    )


def recipients(drafts: list) -> dict[str, str]:  # type: ignore[type-arg]
    return {d.contact_ref: d.template for d in drafts}


def by_recipient(messages: list[ReceivedMessage]) -> dict[str, list[ReceivedMessage]]:
    found: dict[str, list[ReceivedMessage]] = {}
    for message in messages:
        for rcpt in message.rcpt_tos:
            found.setdefault(rcpt, []).append(message)
    return found


class TestBuiltinTemplateNames:
    """The configuration knows the notifier's built-in template names without importing it."""

    def test_names_match_the_notifier(self) -> None:
        """config.BUILTIN_TEMPLATE_NAMES equals notify.BUILTIN_TEMPLATES' names."""
        assert set(BUILTIN_TEMPLATES) == BUILTIN_TEMPLATE_NAMES

    def test_private_builtin_on_a_public_channel_is_a_config_error(self, tmp_path: Path) -> None:
        """A route sending the private 'outage' text to a public channel does not load."""
        text = platform_sections() + notify_sections(Servers())
        text = text.replace('template = "outage-public"', 'template = "outage"')
        with pytest.raises(ConfigError, match=r"routes\[2\]\.channels\[0\]: public channel 'announce'"):
            parse_config(text, source="failover.toml", env={}, cwd=tmp_path)


class TestValidateNotifications:
    """Templates are rendered against a sample at load; unusable channels are refused."""

    def test_the_test_configuration_passes(self, tmp_path: Path) -> None:
        validate_notifications(make_config(tmp_path))

    def test_a_template_naming_an_unknown_variable_fails_naming_it(self, tmp_path: Path) -> None:
        """StrictUndefined: a typo in a variable name is an error at load, with the key."""
        text = platform_sections() + notify_sections(Servers())
        text += '\n[templates.typo]\nen = { subject = "x", body = "{{ platfrom }} is down" }\n'
        config = parse_config(text, source="failover.toml", env={}, cwd=tmp_path)
        with pytest.raises(ConfigError, match=r"failover\.toml: templates\.typo: .*platfrom"):
            validate_notifications(config)

    def test_a_public_template_may_not_use_contact_data(self, tmp_path: Path) -> None:
        text = platform_sections() + notify_sections(Servers())
        text += '\n[templates.leak]\nvisibility = "public"\nen = { body = "Hi {{ contact_name }}" }\n'
        config = parse_config(text, source="failover.toml", env={}, cwd=tmp_path)
        with pytest.raises(ConfigError, match=r"templates\.leak"):
            validate_notifications(config)

    def test_a_mail_channel_with_two_recipients_is_refused(self, tmp_path: Path) -> None:
        """Refused as the file is read, naming the key (every shape: tests/config/test_channel_rules.py)."""
        text = platform_sections() + notify_sections(Servers())
        text = text.replace(
            '{ email = "bob@example.org" }',
            '{ url = "mailto://127.0.0.1:9?from=a@example.org&to=b@example.org,c@example.org" }',
        )
        with pytest.raises(ConfigError, match=r"contacts\[1\]\.channels\[0\]\.url: reaches 2 recipients"):
            parse_config(text, source="failover.toml", env={}, cwd=tmp_path)


class TestPlanNotices:
    """Routes decide who hears of what, with which template: a table of cases."""

    def test_confirmed_outage_reaches_groups_and_the_public_account(self, tmp_path: Path) -> None:
        """One draft per contact of the routed groups and per shared channel, with the
        built-in text of the event and the route's visibility."""
        drafts = plan_notices(make_config(tmp_path), [(IncidentEvent.confirmed, incident())], now=T0)
        assert recipients(drafts) == {
            "alice": "outage",
            "bob": "outage",  # in team and customers: one message, the first route's
            "carol": "outage",
            "dave": "outage",
            "channels.announce": "outage-public",
        }
        assert {d.contact_ref: d.language for d in drafts} == {
            "alice": "fr",
            "bob": "en",
            "carol": "fr",
            "dave": "en",
            "channels.announce": "fr",
        }
        assert all(d.not_before is None and d.silenced_by is None for d in drafts)
        assert [d.channel_ref for d in drafts if d.contact_ref.startswith("channels.")] == [
            "channels.announce"
        ]
        assert all("@" not in d.contact_ref and "://" not in (d.channel_ref or "") for d in drafts)

    @pytest.mark.parametrize(
        ("event", "the_incident", "expected"),
        [
            pytest.param(
                IncidentEvent.resolved,
                incident(resolved=True),
                {"alice": "recovery", "bob": "recovery", "carol": "recovery", "dave": "recovery",
                 "channels.announce": "recovery-public"},
                id="resolved: the recovery texts",
            ),
            pytest.param(IncidentEvent.opened, incident(), {}, id="opened: no route lists it"),
            pytest.param(
                IncidentEvent.confirmed,
                incident(platforms=("telegram",), name="telegram"),
                {"alice": "outage", "bob": "outage"},
                id="telegram: not meta, not whatsapp: the team only",
            ),
            pytest.param(
                IncidentEvent.confirmed,
                incident(platforms=("whatsapp",), scope=IncidentScope.family, name="meta"),
                {"alice": "outage", "bob": "outage", "carol": "outage", "dave": "outage",
                 "channels.announce": "outage-public"},
                id="meta family incident: families and platforms match",
            ),
            pytest.param(
                IncidentEvent.manual,
                incident(kind=IncidentKind.manual),
                {"alice": "manual", "bob": "manual"},
                id="manual: the routes that list it",
            ),
        ],
    )  # fmt: skip
    def test_routing_table(
        self, tmp_path: Path, event: IncidentEvent, the_incident: Incident, expected: dict[str, str]
    ) -> None:
        drafts = plan_notices(make_config(tmp_path), [(event, the_incident)], now=T0)
        assert recipients(drafts) == expected

    def test_silences_queue_them_silenced_but_not_manual_ones(self, tmp_path: Path) -> None:
        """A silence on the family holds every automatic notice; a manual failover goes out;
        an expired silence holds nothing."""
        config = make_config(tmp_path)
        silence = Silence(
            id=3, name="meta", created_at=T0, until=T0 + timedelta(hours=2), reason="maintenance"
        )
        drafts = plan_notices(config, [(IncidentEvent.confirmed, incident())], now=T0, silences=[silence])
        assert drafts
        assert all(
            d.silenced_by and "#3 meta" in d.silenced_by and "maintenance" in d.silenced_by for d in drafts
        )
        manual = plan_notices(
            config, [(IncidentEvent.manual, incident(kind=IncidentKind.manual))], now=T0, silences=[silence]
        )
        assert manual
        assert all(d.silenced_by is None for d in manual)
        later = plan_notices(
            config, [(IncidentEvent.confirmed, incident())], now=T0 + timedelta(hours=3), silences=[silence]
        )
        assert all(d.silenced_by is None for d in later)

    def test_hold_groups_and_message(self, tmp_path: Path) -> None:
        """A manual failover for one group, held for a minute, with the operator's text."""
        hold = T0 + timedelta(minutes=1)
        drafts = plan_notices(
            make_config(tmp_path),
            [(IncidentEvent.confirmed, incident())],
            now=T0,
            hold_until=hold,
            groups=["customers"],
            message="Call us on the landline.",
        )
        assert recipients(drafts) == {"bob": "outage", "carol": "outage", "dave": "outage"}
        assert all(d.not_before == hold and d.message == "Call us on the landline." for d in drafts)

    def test_a_replayed_decision_queues_nothing_twice(self, tmp_path: Path) -> None:
        """The drafts' idempotency keys make record_decision replays harmless."""
        config = make_config(tmp_path)
        changes = [(IncidentEvent.confirmed, incident())]
        with open_store(config) as store:
            for _ in range(3):
                store.record_decision(
                    at=T0, incident_events=changes, notices=plan_notices(config, changes, now=T0)
                )
            assert store.outbox_counts()[NoticeState.pending] == 5


# --------------------------------------------------------------------------- the whole path


def write_world_config(tmp_path: Path, dns: DnsServer, front_door: HttpTarget, control: HttpTarget,
                       servers: Servers, **options: object) -> Config:  # fmt: skip
    text = platform_sections(dns=str(dns.endpoint), front_door=front_door.url, control=control.port)
    text += notify_sections(servers, **options)  # type: ignore[arg-type]
    text = text.replace("[daemon]", f'[daemon]\ndatabase_url = "sqlite:///{tmp_path}/failover.db"', 1)
    path = tmp_path / "failover.toml"
    path.write_text(text)
    config = load_config(path, env={})
    validate_notifications(config)
    return config


@pytest.fixture
def world(
    dns_server: DnsServer, http_target: HttpTarget
) -> Iterator[tuple[DnsServer, HttpTarget, HttpTarget]]:
    """A healthy whatsapp and a healthy control target."""
    dns_server.set("whatsapp.net", "noerror")
    dns_server.set("web.whatsapp.com", "noerror")
    with HttpTarget() as control:
        yield dns_server, http_target, control


async def confirm_outage(watcher: Watcher, clock: FakeClock) -> None:
    suspect = await watcher.run_round()
    elapsed = 0.0
    for reprobe in suspect.reprobe:
        clock.advance(reprobe.delay_s - elapsed)
        elapsed = reprobe.delay_s
        await watcher.run_round(only={reprobe.platform})


class TestFromDecisionToInbox:
    """A platform goes dark on loopback, the outage is confirmed, the notices land in the
    outbox with the decision, and the pump delivers them: one message per recipient, in
    their language, through the first channel that does not need the dead platform."""

    async def test_outage_then_recovery(  # noqa: PLR0917 - pytest passes each fixture as an argument
        self,
        tmp_path: Path,
        world: tuple[DnsServer, HttpTarget, HttpTarget],
        smtp_sink: SmtpSink,
        fake_signal: FakeSignal,
        fake_mastodon: FakeMastodon,
        closed_port: int,
    ) -> None:
        dns, front_door, control = world
        servers = Servers(
            smtp=smtp_sink.port, signal=fake_signal.port, mastodon=fake_mastodon.port, bridge=closed_port
        )
        config = write_world_config(tmp_path, dns, front_door, control, servers)
        clock = FakeClock()
        async with Prober(user_agent="failover-test", clock=clock) as prober:
            store = open_store(config)
            watcher = Watcher(config=config, store=store, prober=prober, clock=clock)
            await watcher.run_round()
            go_dark(dns, front_door)
            clock.advance(30)
            await confirm_outage(watcher, clock)
            [outage] = store.open_incidents()
            assert outage.id is not None
            queued = store.notices(outage.id)
            assert sorted(n.contact_ref for n in queued) == [
                "alice",
                "bob",
                "carol",
                "channels.announce",
                "dave",
            ]
            assert {n.state for n in queued} == {NoticeState.pending}

            async with NoticePump(config=config, store=store, clock=clock) as pump:
                summary = await pump.deliver_due()
            assert summary.sent == 5

            mails = by_recipient(smtp_sink.messages)
            # carol went by Signal; dave's bridge needs WhatsApp, which is down: e-mail
            assert sorted(mails) == ["alice@example.org", "bob@example.org", "dave@example.org"]
            assert all(len(messages) == 1 for messages in mails.values())
            alice = mails["alice@example.org"][0].message
            assert alice["Content-Language"] == "fr"
            assert "WhatsApp indisponible" in alice["Subject"]
            assert "Bonjour Alice Martin" in alice.get_content()
            assert "CEST" in alice.get_content()  # 17:45 in Paris, not 15:45 UTC
            bob = mails["bob@example.org"][0].message
            assert bob["Content-Language"] == "en"
            assert "Hello Bob Durand" in bob.get_content()
            assert [r["recipients"] for r in fake_signal.requests] == [["+15557654321"]]
            assert "Carol Petit" in fake_signal.requests[0]["message"]
            [post] = fake_mastodon.statuses
            assert post["visibility"] == "public"
            assert "Notre ligne WhatsApp" in post["status"]
            for name in ("Alice", "Bob", "Carol", "Dave", "alice@", "bob@", "carol@", "dave@", "+1555"):
                assert name not in post["status"]  # a public post carries no contact data

            notices = {n.contact_ref: n for n in store.notices(outage.id)}
            assert {n.state for n in notices.values()} == {NoticeState.sent}
            assert [ref for _, ref, _, _ in store.deliveries(notices["dave"].id)] == [
                "contacts[dave].channels[1]"
            ]  # the bridge was skipped without an attempt

            smtp_sink.clear()
            come_back(dns, front_door)
            for _ in range(config.detection.recover_after):
                clock.advance(30)
                await watcher.run_round()
            assert store.open_incidents() == []
            async with NoticePump(config=config, store=store, clock=clock) as pump:
                for _ in range(config.notify.max_attempts + 1):
                    await pump.deliver_due()
                    clock.advance(1)  # the bridge's retry comes due
            mails = by_recipient(smtp_sink.messages)
            # the bridge works again (nothing listens there: it fails, then e-mail)
            assert sorted(mails) == ["alice@example.org", "bob@example.org", "dave@example.org"]
            assert "fonctionne à nouveau" in mails["alice@example.org"][0].message["Subject"]
            assert "works again" in mails["bob@example.org"][0].message["Subject"]
            store.close()

        # after an outage, a fan-out over e-mail, Signal, Mastodon and a failing bridge, and
        # the recovery: the database holds no name, address, number or channel URL
        database = config.daemon.database_url.removeprefix("sqlite:///")
        with contextlib.closing(sqlite3.connect(database)) as raw:
            dump = "\n".join(raw.iterdump())
        assert 'INSERT INTO "notices"' in dump
        assert 'INSERT INTO "deliveries"' in dump
        for personal in ("Alice", "Martin", "Durand", "Petit", "@example.org", "+1555", "://"):
            assert personal not in dump, personal


# ------------------------------------------------------------------------ delivery, failures


def queue_outage(config: Config, store: Store, *, at: datetime, the_incident: Incident | None = None) -> int:
    changes = [(IncidentEvent.confirmed, the_incident or incident())]
    [stored] = store.record_decision(
        at=at,
        incident_events=changes,
        notices=plan_notices(config, changes, now=at, silences=store.active_silences(at)),
    )
    assert stored.id is not None
    return stored.id


async def deliver_until_settled(pump: NoticePump, store: Store, incident_id: int) -> None:
    """Passes until no notice of the incident is pending or sending (retries come due)."""
    deadline = time.monotonic() + 10.0
    while True:
        await pump.deliver_due()
        states = {n.state for n in store.notices(incident_id)}
        if not states & {NoticeState.pending, NoticeState.sending}:
            return
        assert time.monotonic() < deadline, f"notices still unsettled: {states}"
        await asyncio.sleep(0.02)


def now() -> datetime:
    return datetime.now(UTC)


@pytest.mark.slow
class TestDeliveryFailures:
    """Retries, fall-over, exhaustion, dry runs, silences and reminders, recorded."""

    async def test_signal_500_retries_then_falls_over_to_email(
        self, tmp_path: Path, smtp_sink: SmtpSink, fake_signal: FakeSignal
    ) -> None:
        """max_attempts tries on Signal with backoff, then the next channel, all recorded."""
        config = make_config(tmp_path, Servers(smtp=smtp_sink.port, signal=fake_signal.port))
        fake_signal.set_status(500)
        with open_store(config) as store:
            incident_id = queue_outage(config, store, at=now())
            async with NoticePump(config=config, store=store, clock=now) as pump:
                await deliver_until_settled(pump, store, incident_id)
            carol = next(n for n in store.notices(incident_id) if n.contact_ref == "carol")
            assert carol.state is NoticeState.sent
            attempts = [(ref, outcome.value, error) for _, ref, outcome, error in store.deliveries(carol.id)]
            assert attempts == [
                ("contacts[carol].channels[0]", "failed", "signal: failure (HTTP 500)"),
                ("contacts[carol].channels[0]", "failed", "signal: failure (HTTP 500)"),
                ("contacts[carol].channels[1]", "sent", None),
            ]
        assert len(fake_signal.requests) == 2
        assert len(by_recipient(smtp_sink.messages)["carol@example.org"]) == 1

    async def test_all_channels_failing_ends_failed_with_the_reason(
        self, tmp_path: Path, smtp_sink: SmtpSink, fake_signal: FakeSignal
    ) -> None:
        config = make_config(tmp_path, Servers(smtp=smtp_sink.port, signal=fake_signal.port))
        fake_signal.set_status(500)
        smtp_sink.fail_with(550)
        with open_store(config) as store:
            incident_id = queue_outage(config, store, at=now())
            async with NoticePump(config=config, store=store, clock=now) as pump:
                await deliver_until_settled(pump, store, incident_id)
            carol = next(n for n in store.notices(incident_id) if n.contact_ref == "carol")
        assert carol.state is NoticeState.failed
        assert carol.last_error is not None
        assert carol.last_error.startswith("all channels failed; last: contacts[carol].channels[1]: mail:")
        assert "carol@" not in carol.last_error

    async def test_no_eligible_channel_is_skipped_without_an_attempt(self, tmp_path: Path) -> None:
        """dave's only usable channel would be e-mail; with WhatsApp down and his e-mail
        removed, nothing is attempted and the reason is kept."""
        text = platform_sections() + notify_sections(Servers())
        text = text.replace('  { email = "dave@example.org" },\n', "")
        text = text.replace("[daemon]", f'[daemon]\ndatabase_url = "sqlite:///{tmp_path}/failover.db"', 1)
        config = parse_config(text, source="failover.toml", env={}, cwd=tmp_path)
        assert len(config.contact("dave").channels) == 1  # type: ignore[union-attr]
        with open_store(config) as store:
            incident_id = queue_outage(config, store, at=now())
            async with NoticePump(config=config, store=store, clock=now, dry_run=True) as pump:
                await pump.deliver_due()
            dave = next(n for n in store.notices(incident_id) if n.contact_ref == "dave")
            assert dave.state is NoticeState.skipped
            assert dave.last_error == (
                "no eligible channel: contacts[dave].channels[0] depends on whatsapp (down)"
            )
            assert store.deliveries(dave.id) == []

    async def test_dry_run_renders_and_records_but_sends_nothing(
        self, tmp_path: Path, smtp_sink: SmtpSink, fake_signal: FakeSignal, fake_mastodon: FakeMastodon
    ) -> None:
        servers = Servers(smtp=smtp_sink.port, signal=fake_signal.port, mastodon=fake_mastodon.port)
        config = make_config(tmp_path, servers, dry_run=True)
        with open_store(config) as store:
            incident_id = queue_outage(config, store, at=now())
            async with NoticePump(config=config, store=store, clock=now) as pump:
                await pump.deliver_due()
            notices = {n.contact_ref: n for n in store.notices(incident_id)}
        assert smtp_sink.messages == []
        assert fake_signal.requests == []
        assert fake_mastodon.statuses == []
        assert {n.state for n in notices.values()} == {NoticeState.skipped}
        assert notices["alice"].last_error == "dry run: would send via contacts[alice].channels[0] (mailto)"
        assert notices["carol"].last_error == "dry run: would send via contacts[carol].channels[0] (signal)"

    async def test_silenced_notices_are_recorded_not_sent(self, tmp_path: Path, smtp_sink: SmtpSink) -> None:
        """Queued under a silence: recorded silenced. A silence added after queueing holds
        the notices still waiting, at claim time."""
        config = make_config(tmp_path, Servers(smtp=smtp_sink.port))
        start = now()
        with open_store(config) as store:
            store.add_silence(name="whatsapp", until=start + timedelta(hours=1), reason="planned", now=start)
            incident_id = queue_outage(config, store, at=start)
            assert {n.state for n in store.notices(incident_id)} == {NoticeState.silenced}
            assert all("planned" in (n.last_error or "") for n in store.notices(incident_id))

            other = incident(platforms=("telegram",), name="telegram")
            other_id = queue_outage(config, store, at=start, the_incident=other)
            store.add_silence(name="*", until=start + timedelta(hours=1), reason="", now=start)
            async with NoticePump(config=config, store=store, clock=now) as pump:
                await pump.deliver_due()
            assert {n.state for n in store.notices(other_id)} == {NoticeState.silenced}
        assert smtp_sink.messages == []

    async def test_reminders_at_the_interval_for_private_routes_only(
        self, tmp_path: Path, smtp_sink: SmtpSink
    ) -> None:
        """Every 10 minutes while the incident is open, the team (the route asking for
        reminders) is reminded once per interval; customers and the public are not."""
        config = make_config(tmp_path, Servers(smtp=smtp_sink.port))
        clock = FakeClock()
        clock.now = T0
        the_incident = incident()
        with open_store(config) as store:
            incident_id = queue_outage(config, store, at=T0, the_incident=the_incident)
            async with NoticePump(config=config, store=store, clock=clock, dry_run=True) as pump:
                clock.now = T0 + timedelta(minutes=9)
                assert await pump.queue_reminders() == 0
                clock.now = T0 + timedelta(minutes=10, seconds=5)
                assert await pump.queue_reminders() == 2
                assert await pump.queue_reminders() == 0  # once per interval
                clock.now = T0 + timedelta(minutes=45)  # three intervals later: one reminder
                assert await pump.queue_reminders() == 2
                await pump.deliver_due()
            reminders = [n for n in store.notices(incident_id) if n.event is IncidentEvent.reminder]
            assert sorted(n.contact_ref for n in reminders) == ["alice", "alice", "bob", "bob"]
            assert {n.template for n in reminders} == {"reminder"}
            assert {n.event_key.rsplit("/", 1)[1] for n in reminders} == {"1", "4"}

            store.record_decision(
                at=clock.now, incident_updates=[replace(the_incident, resolved_at=clock.now)]
            )
            async with NoticePump(config=config, store=store, clock=clock) as pump:
                clock.now = T0 + timedelta(hours=3)
                assert await pump.queue_reminders() == 0  # resolved: no more reminders


@pytest.mark.slow
class TestLogs:
    """One structured line per delivery, with references and never addresses or URLs."""

    async def test_one_line_per_delivery_without_personal_data(
        self, tmp_path: Path, smtp_sink: SmtpSink, fake_signal: FakeSignal
    ) -> None:
        config = make_config(tmp_path, Servers(smtp=smtp_sink.port, signal=fake_signal.port))
        stream = io.StringIO()
        root = logging.getLogger()
        handlers, level = root.handlers[:], root.level
        configure_logging(level="info", json=True, stream=stream)
        try:
            with open_store(config) as store:
                incident_id = queue_outage(config, store, at=now())
                async with NoticePump(config=config, store=store, clock=now) as pump:
                    await deliver_until_settled(pump, store, incident_id)
        finally:
            root.handlers[:] = handlers
            root.setLevel(level)
            structlog.reset_defaults()
        text = stream.getvalue()
        lines = [json.loads(line) for line in text.splitlines()]
        sent = [line for line in lines if line["event"] == "notice_delivery" and line["outcome"] == "sent"]
        assert sorted(line["contact"] for line in sent) == ["alice", "bob", "carol", "dave"]
        carol = next(line for line in sent if line["contact"] == "carol")
        assert carol["channel"] == "contacts[carol].channels[0]"
        assert carol["scheme"] == "signal"
        assert carol["notice_id"] > 0
        # the public account (nothing listens there) failed: its attempts are lines too
        assert any(line.get("channel") == "channels.announce" for line in lines)
        for secret in ("@example.org", "+1555", "s3cr3t", "Alice", "Carol", "://"):
            assert secret not in text


class BlockingSender:
    """Holds every send until released, then answers success; records what it saw."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started: list[str] = []

    async def send(self, channel: Channel, notice: RenderedNotice, *, visibility: Visibility) -> SendResult:
        self.started.append(channel.ref)
        await self.release.wait()
        return SendResult(ok=True)


async def started(sender: BlockingSender, count: int) -> None:
    deadline = time.monotonic() + 5
    while len(sender.started) < count:
        assert time.monotonic() < deadline, f"{len(sender.started)} sends started, not {count}"
        await asyncio.sleep(0.01)


class TestPumpLifecycle:
    """run, wake, reconfigure, and drain with and without a deadline."""

    async def test_run_delivers_what_is_queued_and_follows_a_reload(self, tmp_path: Path) -> None:
        config = make_config(tmp_path, reminder="1000d")
        sender = BlockingSender()
        sender.release.set()
        with open_store(config) as store:
            async with NoticePump(config=config, store=store, clock=now, sender=sender) as pump:
                stop = asyncio.Event()
                task = asyncio.create_task(pump.run(stop))
                incident_id = queue_outage(config, store, at=now())
                pump.wake()
                deadline = time.monotonic() + 30
                while {n.state for n in store.notices(incident_id)} != {NoticeState.sent}:
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.01)

                # carol leaves the configuration; a notice already queued for her is set aside
                text = platform_sections() + notify_sections(Servers())
                text = text.replace(
                    "[daemon]", f'[daemon]\ndatabase_url = "sqlite:///{tmp_path}/failover.db"'
                )
                start = text.index('[[contacts]]\nid = "carol"')
                text = text[:start] + text[text.index("[[contacts]]", start + 1) :]
                reloaded = parse_config(text, source="failover.toml", env={}, cwd=tmp_path)
                other_id = queue_outage(
                    config, store, at=now(), the_incident=incident(platforms=("telegram",), name="telegram")
                )
                pump.reconfigure(reloaded)
                # until each is settled: claimed (sending) is not yet sent, and a stop now would
                # hand it back
                deadline = time.monotonic() + 30
                unsettled = {NoticeState.pending, NoticeState.sending}
                while any(n.state in unsettled for n in store.notices(other_id)):
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.01)
                stop.set()
                await task
            assert {n.contact_ref: n.state for n in store.notices(other_id)} == {
                "alice": NoticeState.sent,
                "bob": NoticeState.sent,
            }

    async def test_drain_waits_for_deliveries_in_flight(self, tmp_path: Path) -> None:
        """A graceful stop lets a delivery that started end and be recorded."""
        config = make_config(tmp_path, reminder="1000d")
        sender = BlockingSender()
        with open_store(config) as store:
            incident_id = queue_outage(
                config, store, at=now(), the_incident=incident(platforms=("telegram",), name="telegram")
            )
            async with NoticePump(config=config, store=store, clock=now, sender=sender) as pump:
                stop = asyncio.Event()
                task = asyncio.create_task(pump.run(stop))
                await started(sender, 2)
                stop.set()
                drained = asyncio.create_task(pump.drain(5.0))
                await asyncio.sleep(0.05)
                assert not drained.done()  # the two deliveries are still in flight
                sender.release.set()
                await drained
                await task
            assert {n.state for n in store.notices(incident_id)} == {NoticeState.sent}

    async def test_drain_gives_up_at_its_deadline_and_the_next_start_resends(self, tmp_path: Path) -> None:
        """Deliveries that outlive the drain stay ``sending`` (as when the process then
        exits); the next pump puts them back and sends them."""
        config = make_config(tmp_path, reminder="1000d")
        stuck = BlockingSender()
        telegram = incident(platforms=("telegram",), name="telegram")
        with open_store(config) as store:
            incident_id = queue_outage(config, store, at=now(), the_incident=telegram)
            async with NoticePump(config=config, store=store, clock=now, sender=stuck) as pump:
                stop = asyncio.Event()
                task = asyncio.create_task(pump.run(stop))
                await started(stuck, 2)
                stop.set()
                await pump.drain(0.05)
                assert {n.state for n in store.notices(incident_id)} == {NoticeState.sending}
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                abandoned = pump._pass
            sender = BlockingSender()
            sender.release.set()
            async with NoticePump(config=config, store=store, clock=now, sender=sender) as restarted:
                await restarted.deliver_due()
            assert sorted(sender.started) == ["contacts[alice].channels[0]", "contacts[bob].channels[0]"]
            assert {n.state for n in store.notices(incident_id)} == {NoticeState.sent}
            stuck.release.set()  # the abandoned deliveries end; they change nothing now
            assert abandoned is not None
            await abandoned
            assert {n.state for n in store.notices(incident_id)} == {NoticeState.sent}


def signal_fan_out_config(tmp_path: Path, signal_port: int, *, contacts: int, concurrency: int) -> Config:
    """``contacts`` people told by Signal of every outage, ``concurrency`` sends at once."""
    people = "".join(
        f'[[contacts]]\nid = "c{index:02d}"\nname = "Contact {index}"\ngroups = ["everyone"]\n'
        f'channels = [{{ signal = "+1555000{index:04d}" }}]\n\n'
        for index in range(contacts)
    )
    text = (
        platform_sections()
        + f"""
[daemon]
database_url = "sqlite:///{tmp_path}/failover.db"

[notify]
concurrency = {concurrency}
max_attempts = 1
signal_url = "signal://127.0.0.1:{signal_port}/+15551234567"

[notify.rate_per_minute]
signal = 100000

[groups.everyone]

{people}
[[routes]]
name = "everyone"
template = "outage"
groups = ["everyone"]
"""
    )
    return parse_config(text, source="failover.toml", env={}, cwd=tmp_path)


class TestPumpConcurrency:
    """``[notify] concurrency`` is the number of sends the pump keeps in flight, as the
    API's server counts them, also after a reload changes it."""

    async def test_a_reloaded_concurrency_bounds_the_signal_requests_in_flight(self, tmp_path: Path) -> None:
        with FakeSignal() as fake:
            config = signal_fan_out_config(tmp_path, fake.port, contacts=30, concurrency=4)
            reloaded = signal_fan_out_config(tmp_path, fake.port, contacts=30, concurrency=12)
            fake.hold()
            with open_store(config) as store:
                async with NoticePump(config=config, store=store, clock=now) as pump:
                    pump.reconfigure(reloaded)
                    incident_id = queue_outage(reloaded, store, at=now())
                    delivering = asyncio.create_task(pump.deliver_due())
                    reached = await until(lambda: fake.in_flight >= 12)
                    fake.release()
                    summary = await delivering
                assert reached, f"only {fake.max_in_flight} Signal requests in flight"
                assert fake.max_in_flight == 12
                assert summary.sent == 30
                assert {n.state for n in store.notices(incident_id)} == {NoticeState.sent}
