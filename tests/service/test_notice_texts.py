"""The right words in each language, from the configuration to the inbox: alternatives per
language, each contact's time zone (else ``daemon.timezone``), the shipped templates
speaking of recovery at recovery, and French and English mail as delivered over SMTP."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from failover.config import Config, parse_config
from failover.domain import Incident, IncidentEvent, IncidentKind, IncidentScope
from failover.errors import ConfigError
from failover.notify import validate_template
from failover.service import NoticePump, open_store, plan_notices, send_test_notice
from tests.kit import FakeClock, ReceivedMessage, SmtpSink

ROOT = Path(__file__).resolve().parents[2]
BARE = """
[catalog]
builtin = false
[detection]
control_quorum = 0
"""
#: 15:40 UTC on 4 October 2026 is 17:40 in Paris (summer time until 25 October)
OPENED = datetime(2026, 10, 4, 15, 40, tzinfo=UTC)


def parse(text: str, *, cwd: Path | None = None) -> Config:
    return parse_config(text, source="failover.toml", env={}, cwd=cwd)


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse(text)
    return str(info.value)


class TestAlternativesInTheFile:
    """``alternatives`` is one list for every language, or a table of lists by language."""

    def test_a_plain_list_is_every_languages(self) -> None:
        config = parse(f"alternatives = ['E-mail: contact@example.org']\n{BARE}")
        assert dict(config.alternatives) == {
            "fr": ("E-mail: contact@example.org",),
            "en": ("E-mail: contact@example.org",),
        }

    def test_a_table_gives_each_language_its_own(self) -> None:
        config = parse(
            f"alternatives = {{ fr = ['Courriel : a@example.org'], en = ['E-mail: a@example.org'] }}\n{BARE}"
        )
        assert dict(config.alternatives) == {
            "fr": ("Courriel : a@example.org",),
            "en": ("E-mail: a@example.org",),
        }

    def test_a_language_left_out_has_none(self) -> None:
        config = parse(f"alternatives = {{ fr = ['Courriel : a@example.org'] }}\n{BARE}")
        assert dict(config.alternatives) == {"fr": ("Courriel : a@example.org",), "en": ()}

    def test_none_given_is_none_in_any_language(self) -> None:
        assert dict(parse(BARE).alternatives) == {"fr": (), "en": ()}

    @pytest.mark.parametrize(
        ("line", "message"),
        [
            ("alternatives = { de = ['x'] }", "failover.toml: alternatives: unknown key 'de'"),
            (
                "alternatives = { fr = [''] }",
                "failover.toml: alternatives.fr[0]: String should have at least 1",
            ),
            ("alternatives = { fr = 'x' }", "failover.toml: alternatives.fr: expected an array"),
            ("alternatives = ['']", "failover.toml: alternatives[0]: String should have at least 1"),
            ("alternatives = 3", "failover.toml: alternatives: expected an array"),
        ],
    )
    def test_errors_name_the_key(self, line: str, message: str) -> None:
        assert error_of(f"{line}\n{BARE}").startswith(message)


class TestContactTimeZone:
    """A contact's time zone defaults to ``daemon.timezone``, no longer to UTC."""

    CONTACTS = """
[[contacts]]
name = "Alice"
channels = [{ url = "mailto://127.0.0.1:9?to=alice@example.org" }]
[[contacts]]
name = "Bob"
timezone = "America/New_York"
channels = [{ url = "mailto://127.0.0.1:9?to=bob@example.org" }]
"""

    def test_a_contact_without_zone_reads_the_organisations(self) -> None:
        config = parse(f"{BARE}[daemon]\ntimezone = 'Europe/Paris'\n{self.CONTACTS}")
        assert [(c.name, c.timezone) for c in config.contacts] == [
            ("Alice", "Europe/Paris"),
            ("Bob", "America/New_York"),
        ]

    def test_without_daemon_zone_it_is_utc(self) -> None:
        assert parse(f"{BARE}{self.CONTACTS}").contacts[0].timezone == "UTC"

    def test_the_contacts_file_too(self, tmp_path: Path) -> None:
        (tmp_path / "contacts.toml").write_text(self.CONTACTS)
        config = parse(
            f"contacts_file = 'contacts.toml'\n{BARE}[daemon]\ntimezone = 'Europe/Paris'\n", cwd=tmp_path
        )
        assert config.contacts[0].timezone == "Europe/Paris"


class TestShippedTemplates:
    """The templates of config/local.toml and of the example speak of the recovery at
    recovery, for every event their routes send them."""

    @pytest.mark.parametrize("name", ["local.toml", "failover.example.toml"])
    def test_each_template_is_event_aware_for_its_routes(self, name: str) -> None:
        text = (ROOT / "config" / name).read_text()
        env = {"MASTODON_TOKEN": "t", "FAILOVER_API_TOKEN": "t"}
        config = parse_config(text, source=name, env=env, cwd=ROOT / "config")
        assert config.templates
        for template_name, template in config.templates.items():
            events = {
                event for route in config.routes if route.template == template_name for event in route.events
            }
            if IncidentEvent.confirmed in events:
                events.add(IncidentEvent.updated)  # a family that grows is told to these routes
            assert IncidentEvent.resolved in events, template_name
            validate_template(template, events=events)

    def test_local_toml_writes_alternatives_per_language(self) -> None:
        config = parse_config((ROOT / "config" / "local.toml").read_text(), source="local.toml", env={})
        assert config.alternatives["fr"][0].startswith("Courriel")
        assert config.alternatives["en"][0].startswith("E-mail")


# ------------------------------------------------------------------------------ over SMTP


def smtp_config(tmp_path: Path, smtp_port: int) -> Config:
    """facebook and whatsapp (family meta); alice (fr, no zone of her own), bob (en, New
    York); alternatives per language; the organisation in Paris."""
    platforms = "".join(
        f"""
[platforms.{name}]
display_name = "{display}"
family = "meta"
[[platforms.{name}.checks]]
kind = "tcp"
name = "tcp"
host = "127.0.0.1"
port = 9
"""
        for name, display in (("facebook", "Facebook"), ("whatsapp", "WhatsApp"))
    )
    text = f"""
alternatives = {{ fr = ["Courriel : contact@example.org"], en = ["E-mail: contact@example.org"] }}
{BARE}
[daemon]
database_url = "sqlite:///{tmp_path}/failover.db"
timezone = "Europe/Paris"

[notify]
backoff_base = "10ms"
smtp_url = "mailto://127.0.0.1:{smtp_port}?from=failover@example.org"
{platforms}
[groups.team]

[[contacts]]
id = "alice"
name = "Alice Martin"
language = "fr"
groups = ["team"]
channels = [{{ email = "alice@example.org" }}]

[[contacts]]
id = "bob"
name = "Bob Durand"
language = "en"
timezone = "America/New_York"
groups = ["team"]
channels = [{{ email = "bob@example.org" }}]

[[routes]]
name = "team"
template = "outage"
events = ["confirmed", "resolved"]
groups = ["team"]
"""
    return parse_config(text, source="failover.toml", env={}, cwd=tmp_path)


def mail_to(sink: SmtpSink, address: str) -> list[ReceivedMessage]:
    return [message for message in sink.messages if address in message.rcpt_tos]


class TestOverSmtp:
    """What a French and an English contact read in their inbox."""

    async def test_a_family_outage_and_its_recovery_in_french_and_english(
        self, tmp_path: Path, smtp_sink: SmtpSink
    ) -> None:
        config = smtp_config(tmp_path, smtp_sink.port)
        outage = Incident(
            key="family:meta:20261004T1540Z",
            scope=IncidentScope.family,
            kind=IncidentKind.unreachable,
            name="meta",
            platforms=("facebook", "whatsapp"),
            opened_at=OPENED,
            confirmed_at=OPENED + timedelta(seconds=5),
        )
        clock = FakeClock(OPENED + timedelta(seconds=5))
        with open_store(config) as store:
            changes = [(IncidentEvent.confirmed, outage)]
            store.record_decision(
                at=clock(), incident_events=changes, notices=plan_notices(config, changes, now=clock())
            )
            async with NoticePump(config=config, store=store, clock=clock) as pump:
                summary = await pump.deliver_due()
            assert summary.sent == 2

            [alice] = mail_to(smtp_sink, "alice@example.org")
            assert alice.message["Content-Language"] == "fr"
            assert alice.message["Subject"] == "Facebook et WhatsApp indisponibles : comment nous joindre"
            text = alice.message.get_content()
            assert "Facebook et WhatsApp sont indisponibles depuis le 4 octobre 2026 à 17:40 CEST." in text
            assert "- Courriel : contact@example.org" in text
            assert "E-mail" not in text
            [bob] = mail_to(smtp_sink, "bob@example.org")
            assert bob.message["Subject"] == "Facebook and WhatsApp unavailable: how to reach us"
            text = bob.message.get_content()
            assert "Facebook and WhatsApp have been unavailable since 4 October 2026 at 11:40 EDT." in text
            assert "- E-mail: contact@example.org" in text
            assert "Courriel" not in text

            smtp_sink.clear()
            clock.advance(3600)
            recovered = replace(outage, resolved_at=clock())
            changes = [(IncidentEvent.resolved, recovered)]
            store.record_decision(
                at=clock(), incident_events=changes, notices=plan_notices(config, changes, now=clock())
            )
            async with NoticePump(config=config, store=store, clock=clock) as pump:
                await pump.deliver_due()
        [alice] = mail_to(smtp_sink, "alice@example.org")
        assert alice.message["Subject"] == "Facebook et WhatsApp fonctionnent à nouveau"
        assert "après une interruption de 1 h commencée le 4 octobre 2026 à 17:40 CEST" in (
            alice.message.get_content()
        )
        [bob] = mail_to(smtp_sink, "bob@example.org")
        assert bob.message["Subject"] == "Facebook and WhatsApp work again"
        assert "after an outage of 1 h that began on 4 October 2026 at 11:40 EDT" in bob.message.get_content()

    async def test_a_test_notice_says_it_is_one(self, tmp_path: Path, smtp_sink: SmtpSink) -> None:
        config = smtp_config(tmp_path, smtp_sink.port)
        report = await send_test_notice(config, "alice", now=OPENED)
        assert report.outcome == "sent"
        [received] = smtp_sink.messages
        assert received.message["Subject"] == "Message d'essai : failover peut vous joindre"
        text = received.message.get_content()
        assert "Ceci est un message d'essai de failover" in text
        assert "- Courriel : contact@example.org" in text
