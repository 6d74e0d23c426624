"""Fall-over that walks the whole list, over the real protocols on 127.0.0.1: apprise's
Signal plugin against the fake signal-cli-rest-api, mail through aiosmtpd, apprise's
Mastodon plugin against the fake Mastodon API, and a real judge deciding that Signal is
down from loopback DNS and HTTP. Every message is counted where it lands."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterator
from pathlib import Path

import pytest

from failover.config import Config, load_config
from failover.detect import health_of
from failover.domain import (
    Channel,
    Health,
    Incident,
    IncidentEvent,
    IncidentKind,
    IncidentScope,
    NoticeState,
    Visibility,
)
from failover.notify import ApprisePlugins, RenderedNotice, SendResult, channel_scheme
from failover.probes import Prober
from failover.service import NoticePump, Watcher, open_store, plan_notices, validate_notifications
from failover.store import Store
from tests.kit import (
    DnsServer,
    FakeClock,
    FakeMastodon,
    FakeSignal,
    HttpTarget,
    ReceivedMessage,
    SmtpSink,
    tcp_controls,
    whatsapp_platform,
)

FROM = "failover@example.org"


def signal_platform(*, dns: str, front_door: str) -> str:
    """``[platforms.signal]``: the kit's WhatsApp checks (authoritative and resolver DNS,
    an HTTP front door) under Signal's name, outside any family."""
    text = whatsapp_platform(dns=dns, front_door=front_door)
    return text.replace('family = "meta"\n', "").replace("WhatsApp", "Signal").replace("whatsapp", "signal")


def config_text(tmp_path: Path, *, dns: DnsServer, door: HttpTarget, control: HttpTarget, smtp: int,
                signal: int, mastodon: int) -> str:  # fmt: skip
    """carol: Signal, then e-mail. dora: a self-hosted Mastodon that depends on nothing,
    then e-mail. erin: the same kind of Mastodon URL with its dependency left to be
    inferred (the instance is on the watched 'mastodon' platform's host), then e-mail."""
    return (
        f"""
[catalog]
builtin = false

[daemon]
database_url = "sqlite:///{tmp_path}/failover.db"

[probes]
resolvers = ["{dns.endpoint}"]

[detection]
confirm_after = ["2s", "5s"]
recover_after = 2

[notify]
concurrency = 4
max_attempts = 2
backoff_base = "10ms"
smtp_url = "mailto://127.0.0.1:{smtp}?from={FROM}"
signal_url = "signal://127.0.0.1:{signal}/+15551234567"

[notify.rate_per_minute]
default = 100000
# the built-in pace of Mastodon (a status a minute) would hold the second direct message
mastodon = 100000

[groups.everyone]

[[contacts]]
id = "carol"
name = "Carol Petit"
groups = ["everyone"]
channels = [{{ signal = "+15557654321" }}, {{ email = "carol@example.org" }}]

[[contacts]]
id = "dora"
name = "Dora Lenoir"
groups = ["everyone"]
channels = [
  {{ url = "mastodon://t0ken@127.0.0.1:{mastodon}/@dora?visibility=direct", depends_on = [] }},
  {{ email = "dora@example.org" }},
]

[[contacts]]
id = "erin"
name = "Erin Blanc"
groups = ["everyone"]
channels = [
  {{ url = "mastodon://t0ken@127.0.0.1:{mastodon}/@erin?visibility=direct" }},
  {{ email = "erin@example.org" }},
]

[[routes]]
name = "everyone"
template = "outage"
events = ["confirmed"]
groups = ["everyone"]
platforms = ["whatsapp", "mastodon"]

[platforms.whatsapp]
display_name = "WhatsApp"
[[platforms.whatsapp.checks]]
kind = "tcp"
name = "tcp"
host = "127.0.0.1"
port = {control.port}

[platforms.mastodon]
display_name = "Mastodon"
[[platforms.mastodon.checks]]
kind = "tcp"
name = "tcp"
host = "127.0.0.1"
port = {control.port}
"""
        + signal_platform(dns=str(dns.endpoint), front_door=door.url)
        + tcp_controls(control.port)
    )


@pytest.fixture
def signal_world(
    dns_server: DnsServer, http_target: HttpTarget
) -> Iterator[tuple[DnsServer, HttpTarget, HttpTarget]]:
    """Signal healthy on loopback (its DNS and front door), and a healthy control target."""
    dns_server.set("signal.net", "noerror")
    dns_server.set("web.signal.com", "noerror")
    with HttpTarget() as control:
        yield dns_server, http_target, control


def make_config(tmp_path: Path, world: tuple[DnsServer, HttpTarget, HttpTarget], *, smtp: int = 9,
                signal: int = 9, mastodon: int = 9) -> Config:  # fmt: skip
    dns, door, control = world
    path = tmp_path / "failover.toml"
    path.write_text(
        config_text(
            tmp_path, dns=dns, door=door, control=control, smtp=smtp, signal=signal, mastodon=mastodon
        )
    )
    config = load_config(path, env={})
    validate_notifications(config)
    return config


def queue_outage(config: Config, store: Store, clock: FakeClock, platforms: tuple[str, ...]) -> int:
    """An outage of ``platforms`` confirmed now, its notices queued."""
    name = platforms[0]
    outage = Incident(
        key=f"platform:{name}:{clock.now:%Y%m%dT%H%M%S}",
        scope=IncidentScope.platform,
        kind=IncidentKind.unreachable,
        name=name,
        platforms=platforms,
        opened_at=clock.now,
        confirmed_at=clock.now,
    )
    changes = [(IncidentEvent.confirmed, outage)]
    [stored] = store.record_decision(at=clock.now, incident_events=changes, notices=plan_notices(
        config, changes, now=clock.now))  # fmt: skip
    assert stored.id is not None
    return stored.id


async def judge_signal_down(watcher: Watcher, world: tuple[DnsServer, HttpTarget, HttpTarget],
                            clock: FakeClock) -> None:  # fmt: skip
    """Signal goes dark on loopback; the judge's first look and re-probes confirm it."""
    dns, door, _ = world
    go_dark_signal(dns, door)
    suspect = await watcher.run_round(only={"signal"})
    elapsed = 0.0
    for reprobe in suspect.reprobe:
        clock.advance(reprobe.delay_s - elapsed)
        elapsed = reprobe.delay_s
        await watcher.run_round(only={reprobe.platform})
    assert health_of(watcher.state, "signal").health is Health.down


def go_dark_signal(dns: DnsServer, door: HttpTarget) -> None:
    dns.set("signal.net", "servfail")
    dns.set("web.signal.com", "servfail")
    door.set("reset")


def down_now(config: Config, watcher: Watcher) -> Callable[[], Collection[str]]:
    """What the daemon gives the pump: the platforms the judge holds down right now."""
    return lambda: [
        p.name for p in config.platforms if health_of(watcher.state, p.name).health is Health.down
    ]


class JudgeDuringSignalTry:
    """The real sender; while the ``nth`` Signal delivery is in flight the judge confirms
    Signal down (in the daemon, rounds run beside the notice pump)."""

    def __init__(self, inner: ApprisePlugins, nth: int, judge: Callable[[], Awaitable[None]]) -> None:
        self.inner, self.nth, self.judge = inner, nth, judge
        self.signal_tries = 0

    async def send(self, channel: Channel, notice: RenderedNotice, *, visibility: Visibility) -> SendResult:
        result = await self.inner.send(channel, notice, visibility=visibility)
        if channel_scheme(channel.url) == "signal":
            self.signal_tries += 1
            if self.signal_tries == self.nth:
                await self.judge()
        return result


def mails_to(sink: SmtpSink, address: str) -> list[ReceivedMessage]:
    return [message for message in sink.messages if address in message.rcpt_tos]


class TestFallOverAfterThePlatformIsJudgedDown:
    """Carol's first channel is Signal, her second e-mail. Signal fails, then the judge
    finds Signal down: the notice reaches her by e-mail, Signal is not tried again."""

    async def test_the_retry_passes_over_signal_and_mails(
        self,
        tmp_path: Path,
        signal_world: tuple[DnsServer, HttpTarget, HttpTarget],
        smtp_sink: SmtpSink,
        fake_signal: FakeSignal,
    ) -> None:
        config = make_config(tmp_path, signal_world, smtp=smtp_sink.port, signal=fake_signal.port)
        fake_signal.set_status(500)
        clock = FakeClock()
        async with Prober(user_agent="failover-test", clock=clock) as prober:
            with open_store(config) as store:
                watcher = Watcher(config=config, store=store, prober=prober, clock=clock)
                await watcher.run_round(only={"signal"})
                incident_id = queue_outage(config, store, clock, ("whatsapp",))
                pump = NoticePump(
                    config=config, store=store, clock=clock, down_platforms=down_now(config, watcher)
                )
                async with pump:
                    await pump.deliver_due()  # Signal answers 500: a retry is due in 10 ms
                    await judge_signal_down(watcher, signal_world, clock)  # ... 5 s pass meanwhile
                    await pump.deliver_due()
                carol = next(n for n in store.notices(incident_id) if n.contact_ref == "carol")
                tried = [(ref, outcome.value) for _, ref, outcome, _ in store.deliveries(carol.id)]
        assert carol.state is NoticeState.sent
        assert tried == [("contacts[carol].channels[0]", "failed"), ("contacts[carol].channels[1]", "sent")]
        assert len(fake_signal.requests) == 1  # Signal was not tried again once judged down
        assert len(mails_to(smtp_sink, "carol@example.org")) == 1

    async def test_judged_down_while_its_last_try_is_in_flight(
        self,
        tmp_path: Path,
        signal_world: tuple[DnsServer, HttpTarget, HttpTarget],
        smtp_sink: SmtpSink,
        fake_signal: FakeSignal,
    ) -> None:
        """Signal's tries run out at the moment it is judged down: the cursor is on the next
        channel already, and the notice goes by e-mail instead of failing."""
        config = make_config(tmp_path, signal_world, smtp=smtp_sink.port, signal=fake_signal.port)
        fake_signal.set_status(500)
        clock = FakeClock()
        async with Prober(user_agent="failover-test", clock=clock) as prober, ApprisePlugins() as plugins:
            with open_store(config) as store:
                watcher = Watcher(config=config, store=store, prober=prober, clock=clock)
                await watcher.run_round(only={"signal"})
                incident_id = queue_outage(config, store, clock, ("whatsapp",))
                sender = JudgeDuringSignalTry(
                    plugins,
                    config.notify.max_attempts,
                    lambda: judge_signal_down(watcher, signal_world, clock),
                )
                pump = NoticePump(
                    config=config,
                    store=store,
                    clock=clock,
                    sender=sender,
                    down_platforms=down_now(config, watcher),
                )
                async with pump:
                    await pump.deliver_due()  # the first try fails; the second is due in 10 ms
                    clock.advance(1)
                    await pump.deliver_due()  # the second fails while Signal is judged down
                carol = next(n for n in store.notices(incident_id) if n.contact_ref == "carol")
                tried = [(ref, outcome.value) for _, ref, outcome, _ in store.deliveries(carol.id)]
        assert carol.state is NoticeState.sent, carol.last_error
        assert tried == [
            ("contacts[carol].channels[0]", "failed"),
            ("contacts[carol].channels[0]", "failed"),
            ("contacts[carol].channels[1]", "sent"),
        ]
        assert len(fake_signal.requests) == config.notify.max_attempts
        assert len(mails_to(smtp_sink, "carol@example.org")) == 1


class TestAnExplicitDependsOnWins:
    """``depends_on = []`` means "depends on nothing": a contact on a self-hosted Mastodon
    is told through it while the watched Mastodon platform is down."""

    async def test_a_self_hosted_mastodon_is_used_while_mastodon_is_down(
        self,
        tmp_path: Path,
        signal_world: tuple[DnsServer, HttpTarget, HttpTarget],
        smtp_sink: SmtpSink,
        fake_mastodon: FakeMastodon,
    ) -> None:
        config = make_config(tmp_path, signal_world, smtp=smtp_sink.port, mastodon=fake_mastodon.port)
        dora, erin = config.contact("dora"), config.contact("erin")
        assert dora is not None
        assert erin is not None
        assert dora.channels[0].depends_on == ()
        assert "mastodon" in erin.channels[0].depends_on  # inferred from the instance's host
        clock = FakeClock()
        with open_store(config) as store:
            incident_id = queue_outage(config, store, clock, ("mastodon",))
            async with NoticePump(config=config, store=store, clock=clock) as pump:
                await pump.deliver_due()
            notices = {n.contact_ref: n for n in store.notices(incident_id)}
        assert {notices[ref].state for ref in ("dora", "erin")} == {NoticeState.sent}
        [toot] = fake_mastodon.statuses
        assert toot["visibility"] == "direct"
        assert toot["status"].startswith("@dora ")
        assert mails_to(smtp_sink, "dora@example.org") == []
        assert len(mails_to(smtp_sink, "erin@example.org")) == 1  # erin's instance is the one down
