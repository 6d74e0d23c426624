"""``failover silence|unsilence|silences`` and ``failover notify-test``, through the
command line, against a real SMTP server and the fake Signal API on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from failover.cli import main
from tests.kit import FakeSignal, SmtpSink

CONFIG = """
[catalog]
builtin = false

[daemon]
database_url = "sqlite:///{tmp}/failover.db"

[detection]
control_quorum = 0

[notify]
smtp_url = "mailto://127.0.0.1:{smtp}?from=failover@example.org"
signal_url = "signal://127.0.0.1:{signal}/+15551234567"

[platforms.whatsapp]
family = "meta"
[[platforms.whatsapp.checks]]
kind = "tcp"
name = "tcp"
host = "127.0.0.1"
port = 9

[groups.team]

[[contacts]]
id = "alice"
name = "Alice Martin"
language = "fr"
timezone = "Europe/Paris"
groups = ["team"]
channels = [{{ email = "alice@example.org" }}]

[[contacts]]
id = "carol"
name = "Carol Petit"
groups = ["team"]
channels = [{{ signal = "+15557654321" }}, {{ email = "carol@example.org" }}]
"""


def write_config(tmp_path: Path, *, smtp: int = 9, signal: int = 9) -> str:
    path = tmp_path / "failover.toml"
    path.write_text(CONFIG.format(tmp=tmp_path, smtp=smtp, signal=signal))
    return str(path)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={})


class TestSilence:
    """Silences are added, listed and ended by name or number."""

    def test_silence_list_unsilence(self, tmp_path: Path) -> None:
        config = write_config(tmp_path)
        added = invoke("silence", "meta", "--for", "2h", "--reason", "planned work", "-c", config)
        assert added.exit_code == 0, added.output
        assert added.output.startswith("silence #1 on meta until ")

        listed = json.loads(invoke("silences", "--json", "-c", config).output)
        assert [(s["id"], s["name"], s["reason"]) for s in listed] == [(1, "meta", "planned work")]

        assert invoke("silence", "whatsapp", "--for", "30m", "--reason", "x", "-c", config).exit_code == 0
        ended = invoke("unsilence", "1", "-c", config)
        assert ended.output == "ended silence #1 on meta\n"
        ended = invoke("unsilence", "whatsapp", "-c", config)
        assert ended.output == "ended silence #2 on whatsapp\n"
        assert invoke("silences", "-c", config).output == "no silence in force\n"
        again = invoke("unsilence", "meta", "-c", config)
        assert (again.exit_code, again.output) == (1, "failover: no silence in force on meta\n")

    def test_unknown_name_and_bad_duration(self, tmp_path: Path) -> None:
        config = write_config(tmp_path)
        unknown = invoke("silence", "myspace", "--for", "1h", "--reason", "x", "-c", config)
        assert unknown.exit_code == 1
        assert "unknown platform or family 'myspace'; configured: meta, whatsapp" in unknown.output
        bad = invoke("silence", "meta", "--for", "soon", "--reason", "x", "-c", config)
        assert bad.exit_code == 3  # a usage error
        assert "expected a duration" in bad.output
        assert invoke("silence", "meta", "--reason", "x", "-c", config).exit_code == 3  # --for is required


class TestNotifyTest:
    """A test message reaches one contact, in their language; nothing is journaled."""

    def test_sends_one_message_in_the_contacts_language(self, tmp_path: Path, smtp_sink: SmtpSink) -> None:
        config = write_config(tmp_path, smtp=smtp_sink.port)
        result = invoke("notify-test", "alice", "-c", config)
        assert result.exit_code == 0, result.output
        assert result.output == "sent to alice via contacts[alice].channels[0] (mailto)\n"
        [received] = smtp_sink.messages
        assert received.rcpt_tos == ["alice@example.org"]
        assert received.message["Content-Language"] == "fr"
        assert "Ceci est un message d'essai" in received.message.get_content()
        assert "Bonjour Alice Martin" in received.message.get_content()
        journal = invoke("incidents", "--export", "json", "-c", config)
        assert json.loads(journal.output) == {"incidents": []}

    def test_dry_run_shows_the_text_and_sends_nothing(
        self, tmp_path: Path, smtp_sink: SmtpSink, fake_signal: FakeSignal
    ) -> None:
        config = write_config(tmp_path, smtp=smtp_sink.port, signal=fake_signal.port)
        result = invoke("notify-test", "carol", "--dry-run", "-c", config)
        assert result.exit_code == 0, result.output
        lines = result.output.splitlines()
        assert lines[0] == "dry run: would send via contacts[carol].channels[0] (signal), in en:"
        assert lines[1] == "Subject: Test message: failover can reach you"
        assert "Hello Carol Petit" in result.output
        assert "This is a test message from failover" in result.output
        assert smtp_sink.messages == []
        assert fake_signal.requests == []

    def test_one_channel_and_fall_over(
        self, tmp_path: Path, smtp_sink: SmtpSink, fake_signal: FakeSignal
    ) -> None:
        """--channel 1 uses the second channel only; without it, a failing Signal falls
        over to e-mail after one attempt."""
        config = write_config(tmp_path, smtp=smtp_sink.port, signal=fake_signal.port)
        second = invoke("notify-test", "carol", "--channel", "1", "-c", config)
        assert second.output == "sent to carol via contacts[carol].channels[1] (mailto)\n"
        assert fake_signal.requests == []

        fake_signal.set_status(500)
        fallen = invoke("notify-test", "carol", "-c", config)
        assert fallen.output == "sent to carol via contacts[carol].channels[1] (mailto)\n"
        assert len(fake_signal.requests) == 1
        assert [m.rcpt_tos for m in smtp_sink.messages] == [["carol@example.org"], ["carol@example.org"]]

        failed = invoke("notify-test", "carol", "--channel", "0", "-c", config)
        assert failed.exit_code == 1
        assert failed.output == (
            "failover: failed: all channels failed; last: contacts[carol].channels[0]: "
            "signal: failure (HTTP 500)\n"
        )

    def test_unknown_contact_or_channel(self, tmp_path: Path) -> None:
        config = write_config(tmp_path)
        unknown = invoke("notify-test", "zoe", "-c", config)
        assert unknown.exit_code == 1
        assert "no contact with id 'zoe'" in unknown.output
        channel = invoke("notify-test", "alice", "--channel", "3", "-c", config)
        assert channel.exit_code == 1
        assert "contact alice has channels 0 to 0, not 3" in channel.output
