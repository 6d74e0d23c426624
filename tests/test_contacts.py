"""Contacts in and out: CSV and vCard import into the contacts file (checked whole before
anything is written, merged by id, replaced atomically), and a listing that shows personal
data only on request. Errors name the row or line and the field, never the value."""

from __future__ import annotations

import io
import json
import logging
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from click.testing import CliRunner, Result

from failover.cli import main
from failover.config import Config, contact_id, load_config
from failover.errors import ContactImportError
from failover.logs import configure_logging
from failover.service import import_contacts, parse_contacts_csv, parse_vcards

DATA = Path(__file__).with_name("data")
PERSONAL = ("Alice", "Bob", "Chloé", "alice@", "bob@", "chloe@", "+336", "+33 6", "eve.secret")

CONFIG = """
contacts_file = "contacts.toml"

[catalog]
builtin = false

[daemon]
database_url = "sqlite:///{tmp}/failover.db"

[detection]
control_quorum = 0

[notify]
smtp_url = "mailto://127.0.0.1:9?from=failover@example.org"
{signal}

[platforms.whatsapp]
family = "meta"
[[platforms.whatsapp.checks]]
kind = "tcp"
name = "tcp"
host = "127.0.0.1"
port = 9

[groups.team]
[groups.customers]
"""


def write_config(tmp_path: Path, *, signal: bool = True, contacts_file: bool = True) -> Path:
    signal_line = 'signal_url = "signal://127.0.0.1:9/+15551234567"' if signal else ""
    text = CONFIG.format(tmp=tmp_path, signal=signal_line)
    if not contacts_file:
        text = text.replace('contacts_file = "contacts.toml"\n', "")
    path = tmp_path / "failover.toml"
    path.write_text(text)
    return path


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return write_config(tmp_path)


@pytest.fixture
def config(config_path: Path) -> Config:
    return load_config(config_path, env={})


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={})


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """Every log line of the test, as JSON, with the process's set-up put back after."""
    stream = io.StringIO()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging(level="debug", json=True, stream=stream)
    yield stream
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


class TestCsv:
    """A header row, then one contact per row."""

    def test_import_then_load(self, config_path: Path, config: Config, tmp_path: Path) -> None:
        """The contacts file is written, read by the configuration, Signal before e-mail."""
        report = import_contacts(config, DATA / "contacts.csv")
        assert (report.added, report.updated, report.kept, report.written) == (3, 0, 0, True)
        assert report.path == tmp_path / "contacts.toml"
        loaded = load_config(config_path, env={})
        by_id = {c.id: c for c in loaded.contacts}
        assert set(by_id) == {"alice", contact_id("Bob Durand"), "chloe"}
        alice = by_id["alice"]
        assert (alice.name, alice.language, alice.timezone, alice.groups) == (
            "Alice Martin",
            "fr",
            "Europe/Paris",
            ("team",),
        )
        assert [c.url for c in alice.channels] == [
            "signal://127.0.0.1:9/+15551234567/+33612345678",
            "mailto://127.0.0.1:9?from=failover@example.org&to=alice@example.org",
        ]
        assert [c.ref for c in alice.channels] == [
            "contacts[alice].channels[0]",
            "contacts[alice].channels[1]",
        ]
        bob = by_id[contact_id("Bob Durand")]
        assert (bob.language, bob.timezone, bob.groups) == ("en", "UTC", ("team", "customers"))
        chloe = by_id["chloe"]
        assert (chloe.name, chloe.language) == ("Dupont, Chloé", "fr")  # quoted comma, region dropped
        assert [c.url.split("://")[0] for c in chloe.channels] == ["signal"]
        assert "alice@example.org" in loaded.secrets  # redacted from logs like a secret

    def test_prefer_email(self, config: Config) -> None:
        import_contacts(config, DATA / "contacts.csv", prefer="email")
        text = Path(config.contacts_file or "").read_text()
        alice = text.split("[[contacts]]")[1]
        assert alice.index('email = "alice@example.org"') < alice.index('signal = "+33612345678"')

    @pytest.mark.parametrize(
        ("csv_text", "message"),
        [
            ("name,email\nAlice,not-an-address\n", "row 2: email: not an e-mail address"),
            ("name,phone\nAlice,0612345678\n", "row 2: phone: not an international phone number"),
            ("name,email,language\nAlice,a@example.org,de\n", "row 2: language: unsupported language"),
            ("name,email,timezone\nAlice,a@example.org,Mars/Olympus\n", "row 2: timezone: unknown time zone"),
            ("name,email,groups\nAlice,a@example.org,team;ops\n", "row 2: groups: unknown group 'ops'"),
            ("name,email,id\nAlice,a@example.org,has space\n", "row 2: id: an id may contain only"),
            ("name,email\nAlice,a@example.org\n,b@example.org\n", "row 3: name: empty"),
            ("name,email\nAlice,a@example.org\nAlice,b@example.org\n", "row 3: name: the same name as row 2"),
            ("name,email\nAlice,a@example.org,extra\n", "row 2: expected 2 fields, found 3"),
            ("name,mail\nAlice,a@example.org\n", "row 1: unknown column 'mail'"),
            ("email\na@example.org\n", "row 1: a 'name' column is required"),
            ('name,email\n"Multi\nline",a@example.org\nBob,bad\n', "row 4: email: not an e-mail address"),
        ],
    )
    def test_errors_name_the_row_and_field_not_the_value(
        self, config: Config, csv_text: str, message: str
    ) -> None:
        with pytest.raises(ContactImportError) as caught:
            parse_contacts_csv(csv_text, config)
        assert str(caught.value).startswith(message)
        for value in ("not-an-address", "0612345678", "Mars/Olympus", "has space", "a@example.org"):
            assert value not in str(caught.value)

    def test_a_contact_needs_a_channel(self, config: Config) -> None:
        """Blank lines are skipped but counted: the row is the file's line."""
        with pytest.raises(ContactImportError, match=r"^row 3: no channel: no e-mail address$"):
            import_contacts(config, _write(config, "name,phone\n\nAlice,\n"))

    def test_a_bad_row_writes_nothing_and_loses_nothing(
        self, config: Config, tmp_path: Path, captured_logs: io.StringIO
    ) -> None:
        """The first import is kept byte for byte when the second fails; no temporary file
        is left; neither the error nor the logs carry personal data."""
        import_contacts(config, DATA / "contacts.csv")
        target = tmp_path / "contacts.toml"
        before = target.read_bytes()
        with pytest.raises(ContactImportError) as caught:
            import_contacts(config, DATA / "contacts-bad-email.csv")
        assert str(caught.value) == "row 4: email: not an e-mail address"
        assert target.read_bytes() == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["contacts.toml", "failover.toml"]
        logs = captured_logs.getvalue()
        assert "contacts_imported" in logs
        for value in PERSONAL:
            assert value not in logs
            assert value not in str(caught.value)

    def test_the_file_is_private(self, config: Config, tmp_path: Path) -> None:
        import_contacts(config, DATA / "contacts.csv")
        assert stat.S_IMODE((tmp_path / "contacts.toml").stat().st_mode) == 0o600

    def test_merge_by_id_keeps_the_others_and_their_references(
        self, config_path: Path, config: Config, tmp_path: Path
    ) -> None:
        """A re-import replaces the entries with the same id; others, and their secret
        references, are kept as written."""
        (tmp_path / "contacts.toml").write_text(
            '[[contacts]]\nid = "zoe"\nname = "Zoé"\n'
            '[[contacts.channels]]\nurl = "tgram://${env:BOT_TOKEN}/123"\n'
            '[[contacts]]\nid = "alice"\nname = "Alice Martin"\nchannels = [{ email = "old@example.org" }]\n'
        )
        report = import_contacts(config, DATA / "contacts.csv")
        assert (report.added, report.updated, report.kept) == (2, 1, 1)
        text = (tmp_path / "contacts.toml").read_text()
        assert 'url = "tgram://${env:BOT_TOKEN}/123"' in text
        assert "old@example.org" not in text
        loaded = load_config(config_path, env={"BOT_TOKEN": "42:abc"})
        assert [c.id for c in loaded.contacts] == ["zoe", "alice", contact_id("Bob Durand"), "chloe"]
        assert loaded.contacts[0].channels[0].url == "tgram://42:abc/123"

    def test_a_name_already_in_the_configuration_file_is_refused(self, tmp_path: Path) -> None:
        path = write_config(tmp_path)
        path.write_text(
            path.read_text()
            + '\n[[contacts]]\nname = "Alice Martin"\nchannels = [{ email = "alice@example.org" }]\n'
        )
        with pytest.raises(ContactImportError, match=r"^row 2: name: a contact of the configuration file"):
            import_contacts(load_config(path, env={}), DATA / "contacts.csv")

    def test_phones_without_signal_are_left_out_and_counted(self, tmp_path: Path) -> None:
        config = load_config(write_config(tmp_path, signal=False), env={})
        with pytest.raises(ContactImportError, match=r"^row 4: no channel: no e-mail address, and no"):
            import_contacts(config, DATA / "contacts.csv")
        csv_path = _write(config, "name,email,phone\nAlice,alice@example.org,+33612345678\n")
        report = import_contacts(config, csv_path)
        assert report.phones_left_out == 1
        assert "signal" not in (tmp_path / "contacts.toml").read_text()

    def test_dry_run_writes_nothing(self, config: Config, tmp_path: Path) -> None:
        report = import_contacts(config, DATA / "contacts.csv", dry_run=True)
        assert (report.added, report.written) == (3, False)
        assert not (tmp_path / "contacts.toml").exists()


def _write(config: Config, text: str) -> Path:
    path = Path(config.source).parent / "input.csv"
    path.write_text(text)
    return path


class TestVcard:
    """vCard 3.0 and 4.0: folded lines, escapes, preferences, categories as groups."""

    def test_import(self, config: Config) -> None:
        contacts = {c.id: c for c in parse_vcards((DATA / "contacts.vcf").read_text(), config)}
        chloe = contacts["chloe"]
        assert chloe.name == "Dupont, Chloé"
        assert chloe.email == "chloe@example.org"  # the preferred one, unfolded
        assert chloe.phone == "+33698765432"  # the mobile
        assert chloe.groups == ("customers", "team")
        assert chloe.language == "en"
        david = contacts[contact_id("David Lambert")]
        assert (david.language, david.timezone, david.email, david.phone) == (
            "en",
            "America/Montreal",
            "david@example.org",
            "+15145550100",
        )

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("BEGIN:VCARD\nVERSION:2.1\nFN:A\nEND:VCARD\n", "line 1: VERSION: expected 3.0 or 4.0"),
            ("BEGIN:VCARD\nVERSION:4.0\nEND:VCARD\n", "line 1: FN: a formatted name is required"),
            (
                "BEGIN:VCARD\nVERSION:4.0\nFN:A\nN:A;;;;\nEMAIL:nope\nEND:VCARD\n",
                "line 5: EMAIL: not an e-mail address",
            ),
            (
                "BEGIN:VCARD\nVERSION:3.0\nFN:A\nTZ:-05:00\nEND:VCARD\n",
                "line 4: TZ: unknown time zone",
            ),
            (
                "BEGIN:VCARD\nVERSION:4.0\nFN:A\nCATEGORIES:friends\nEND:VCARD\n",
                "line 4: CATEGORIES: unknown group 'friends'",
            ),
            ("FN:A\n", "line 1: expected BEGIN:VCARD"),
            ("BEGIN:VCARD\nVERSION:4.0\nFN:A\n", "line 1: card without END:VCARD"),
            ("BEGIN:VCARD\nVERSION:4.0\nno colon here\nEND:VCARD\n", "line 3: not a vCard property"),
            ("", "no vCard found"),
        ],
    )
    def test_errors_name_the_line(self, config: Config, text: str, message: str) -> None:
        with pytest.raises(ContactImportError) as caught:
            parse_vcards(text, config)
        assert str(caught.value).startswith(message)
        assert "nope" not in str(caught.value)

    def test_import_into_the_contacts_file(self, config_path: Path, config: Config) -> None:
        report = import_contacts(config, DATA / "contacts.vcf")
        assert report.added == 2
        loaded = load_config(config_path, env={})
        assert {c.id for c in loaded.contacts} == {"chloe", contact_id("David Lambert")}


class TestCli:
    """``failover contacts import|list``."""

    def test_import_and_list_hides_personal_data(self, config_path: Path) -> None:
        result = invoke("contacts", "import", str(DATA / "contacts.csv"), "--config", str(config_path))
        assert result.exit_code == 0, result.output
        assert "3 added, 0 updated, 0 kept" in result.output

        listed = invoke("contacts", "list", "--config", str(config_path))
        assert listed.exit_code == 0, listed.output
        assert "alice" in listed.output
        assert "signal, mailto" in listed.output
        for value in PERSONAL:
            assert value not in listed.output

        as_json = json.loads(invoke("contacts", "list", "--json", "--config", str(config_path)).output)
        assert as_json[0] == {
            "id": "alice",
            "language": "fr",
            "timezone": "Europe/Paris",
            "groups": ["team"],
            "channels": ["signal", "mailto"],
        }

        personal = invoke("contacts", "list", "--show-personal", "--json", "--config", str(config_path))
        alice = json.loads(personal.output)[0]
        assert alice["name"] == "Alice Martin"
        assert alice["channels"] == ["signal: +33612345678", "mailto: alice@example.org"]

    def test_import_error_and_dry_run(self, config_path: Path, tmp_path: Path) -> None:
        bad = invoke("contacts", "import", str(DATA / "contacts-bad-email.csv"), "--config", str(config_path))
        assert bad.exit_code == 1
        assert bad.output == "failover: contacts-bad-email.csv: row 4: email: not an e-mail address\n"
        dry = invoke(
            "contacts", "import", str(DATA / "contacts.vcf"), "--dry-run", "--config", str(config_path)
        )
        assert dry.exit_code == 0, dry.output
        assert "would write" in dry.output
        assert not (tmp_path / "contacts.toml").exists()

    def test_without_contacts_file_it_says_how_to_read_them(self, tmp_path: Path) -> None:
        path = write_config(tmp_path, contacts_file=False)
        result = invoke("contacts", "import", str(DATA / "contacts.csv"), "--config", str(path))
        assert result.exit_code == 0, result.output
        assert 'add contacts_file = "contacts.toml"' in result.output
        assert (tmp_path / "contacts.toml").exists()
