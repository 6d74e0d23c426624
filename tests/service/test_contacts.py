"""Contacts in and out: CSV and vCard import into the address book of the configured
database (checked whole before anything is written, merged by id or name, written in one
transaction: all or nothing; a hand-written contacts file is never touched), export back to
CSV and vCard, and a listing that shows personal data only on request. Errors and warnings
name the row or line and the field, never the value. The files as each tool writes them are
in ``tests/contacts/test_contacts_formats.py``."""

from __future__ import annotations

import io
import json
import logging
import re
import sqlite3
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pytest
import structlog
from click.testing import CliRunner, Result

import failover.contacts._merge as contacts_module
from failover.cli import main
from failover.config import Config, contact_id, load_config, stored_entry_problems
from failover.domain import Contact, StoredContact
from failover.errors import ContactImportError, StoreError
from failover.logs import Redactor, configure_logging
from failover.service import (
    close_address_books,
    export_contacts,
    import_contacts,
    parse_contacts_csv,
    parse_vcards,
)
from failover.store import Store
from tests.kit import SmtpSink, fresh_schema, postgres_user, schema_url

DATA = Path(__file__).parents[1] / "data"
SAMPLES = DATA / "contacts"
PERSONAL = ("Alice", "Bob", "Chloé", "alice@", "bob@", "chloe@", "+336", "+33 6", "eve.secret")

CONFIG = """
contacts_file = "contacts.toml"

[catalog]
builtin = false

[daemon]
database_url = "{database_url}"
{timezone}

[detection]
control_quorum = 0

[notify]
smtp_url = "mailto://127.0.0.1:{smtp}?from=failover@example.org"
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


def write_config(
    tmp_path: Path,
    *,
    signal: bool = True,
    contacts_file: bool = True,
    timezone: str | None = None,
    smtp: int = 9,
    sender: str = "+15551234567",
    database_url: str | None = None,
) -> Path:
    """A configuration with groups team and customers; ``timezone`` is ``daemon.timezone``
    (UTC if None), ``sender`` the Signal sending number (a US one by default), the database
    ``failover.db`` next to it unless ``database_url``."""
    signal_line = f'signal_url = "signal://127.0.0.1:9/{sender}"' if signal else ""
    zone_line = f'timezone = "{timezone}"' if timezone else ""
    url = database_url or f"sqlite:///{tmp_path / 'failover.db'}"
    text = CONFIG.format(database_url=url, signal=signal_line, timezone=zone_line, smtp=smtp)
    if not contacts_file:
        text = text.replace('contacts_file = "contacts.toml"\n', "")
    path = tmp_path / "failover.toml"
    path.write_text(text)
    return path


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return write_config(tmp_path)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each backend: a SQLite file in ``tmp_path``, a fresh schema of
    this machine's PostgreSQL (other suites share the database; fails on CI, skips
    elsewhere, when the server is absent)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'failover.db'}"
        return
    user = postgres_user()
    with fresh_schema(user) as schema:
        try:
            yield schema_url(user, schema)
        finally:
            close_address_books()  # the configurations' connections to the schema


@pytest.fixture
def config(config_path: Path) -> Config:
    return load_config(config_path, env={})


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={})


def stored(config: Config) -> list[StoredContact]:
    """The address book's rows as the database keeps them, in import order."""
    with Store.open(config.daemon.database_url) as store:
        return list(store.stored_contacts())


def raw_rows(tmp_path: Path) -> list[tuple[Any, ...]]:
    """Every column of every row of ``failover.db``'s address book, ``seq`` and
    ``updated_at`` included: what a write that changes nothing would still change."""
    db = sqlite3.connect(tmp_path / "failover.db")
    try:
        return db.execute("SELECT * FROM contacts ORDER BY seq").fetchall()
    finally:
        db.close()


def everyone(config_path: Path, **env: str) -> list[Contact]:
    """Every contact of the configuration as it is read afresh: written, then imported."""
    return list(load_config(config_path, env=env).everyone())


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
        """The address book is written in the database, read by the configuration, Signal
        before e-mail; no contacts file is written."""
        report = import_contacts(config, DATA / "contacts.csv")
        assert (report.added, report.updated, report.kept, report.written) == (3, 0, 0, True)
        assert report.where == f"sqlite:///{tmp_path / 'failover.db'}"
        assert not (tmp_path / "contacts.toml").exists()
        loaded = load_config(config_path, env={})
        assert loaded.contacts == ()  # none is written in the configuration
        assert loaded.contact_count() == 3
        by_id = {c.id: c for c in loaded.everyone()}
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
        # redacted from logs like a secret
        line = Redactor(loaded.secrets).redact(f"to {alice.channels[1].url}, alice@example.org, +33612345678")
        for value in ("alice@", "+336"):
            assert value not in line

    def test_prefer_email(self, config: Config) -> None:
        import_contacts(config, DATA / "contacts.csv", prefer="email")
        alice = stored(config)[0]
        assert alice.channels == ({"email": "alice@example.org"}, {"signal": "+33612345678"})

    @pytest.mark.parametrize(
        ("csv_text", "message"),
        [
            ("name,email,language\nAlice,a@example.org,de\n", "row 2: language: unsupported language"),
            ("name,email,timezone\nAlice,a@example.org,Mars/Olympus\n", "row 2: timezone: unknown time zone"),
            ("name,email,groups\nAlice,a@example.org,team;ops\n", "row 2: groups: unknown group 'ops'"),
            ("name,email,id\nAlice,a@example.org,has space\n", "row 2: id: an id may contain only"),
            ("name,email\nAlice,a@example.org\n,b@example.org\n", "row 3: name: empty"),
            ("name,email\nAlice,a@example.org\nAlice,b@example.org\n", "row 3: name: the same name as row 2"),
            ("name,email\nAlice,a@example.org,extra\n", "row 2: expected 2 fields, found 3"),
            ("name,mail\nAlice,a@example.org\n", "row 1: unknown column 'mail'"),
            ("email\na@example.org\n", "row 1: a 'name' column is required"),
            ("name,Name\nAlice,Alice\n", "row 1: a column appears twice"),
            (
                'name,email,language\n"Multi\nline",a@example.org,fr\nBob,b@example.org,de\n',
                "row 4: language: unsupported language",
            ),
        ],
    )
    def test_errors_name_the_row_and_field_not_the_value(
        self, config: Config, csv_text: str, message: str
    ) -> None:
        with pytest.raises(ContactImportError) as caught:
            parse_contacts_csv(csv_text, config)
        assert str(caught.value).startswith(message)
        for value in ("Mars/Olympus", "has space", "a@example.org", "b@example.org"):
            assert value not in str(caught.value)

    def test_unreadable_channels_are_left_out_with_a_warning(self, config: Config) -> None:
        """An address or number that cannot be read drops that channel, not the file; the
        warning names the row and the column, never the value."""
        parsed = parse_contacts_csv(
            "name,email,phone\nAlice,not-an-address,+33612345678\nBob,bob@example.org,0612\n", config
        )
        assert [(c.name, c.email, c.phone) for c in parsed.contacts] == [
            ("Alice", None, "+33612345678"),
            ("Bob", "bob@example.org", None),
        ]
        assert parsed.warnings == (
            "row 2: email: not an e-mail address; left out",
            "row 3: phone: not a phone number that can be read (national numbers read as US); left out",
        )
        for value in ("not-an-address", "0612"):
            assert value not in " ".join(parsed.warnings)

    def test_strict_refuses_at_the_first_warning(self, config: Config, tmp_path: Path) -> None:
        with pytest.raises(ContactImportError) as caught:
            import_contacts(config, DATA / "contacts-bad-email.csv", strict=True)
        assert str(caught.value) == "row 4: email: not an e-mail address; left out (and 1 more warnings)"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["failover.toml"]  # not even a database

    def test_encodings(self, config: Config, tmp_path: Path) -> None:
        """Bytes neither UTF-8 nor Windows-1252 ask for --encoding, which reads them."""
        path = tmp_path / "mac-roman.csv"
        path.write_bytes("name,email\nJosé,jose@example.org\n".encode("mac_roman"))  # é is 0x8e there
        misread = import_contacts(config, path, dry_run=True).parsed
        assert misread is not None
        assert misread.contacts[0].name == "Jos\u017d"  # read as Windows-1252: what --encoding is for
        path.write_bytes(b"name,email\nJos\x81,jose@example.org\n")  # 0x81: no character in Windows-1252
        with pytest.raises(
            ContactImportError, match=r"^neither UTF-8 nor Windows-1252 text \(byte 14\); give --encoding$"
        ):
            import_contacts(config, path)
        report = import_contacts(config, path, encoding="latin-1", dry_run=True)
        assert report.parsed is not None
        assert report.parsed.encoding == "latin-1"
        with pytest.raises(ContactImportError, match=r"^unknown encoding 'klingon'$"):
            import_contacts(config, path, encoding="klingon")

    def test_a_contact_without_a_channel_is_skipped(self, config: Config) -> None:
        """Blank lines are skipped but counted: the row is the file's line."""
        parsed = parse_contacts_csv("name,phone\n\nAlice,\nBob,+33612345678\n", config)
        assert [c.name for c in parsed.contacts] == ["Bob"]
        assert parsed.skipped == 1
        assert parsed.warnings == ("row 3: skipped: no e-mail address or phone number failover can use",)
        with pytest.raises(
            ContactImportError, match=r"^no contact to import \(1 skipped; the first: row 3: "
        ):
            import_contacts(config, _write(config, "name,phone\n\nAlice,\n"))

    def test_a_bad_email_skips_that_contact_only(self, config: Config, tmp_path: Path) -> None:
        report = import_contacts(config, DATA / "contacts-bad-email.csv")
        assert (report.added, report.written) == (2, True)
        assert report.parsed is not None
        assert report.parsed.warnings == (
            "row 4: email: not an e-mail address; left out",
            "row 4: skipped: no e-mail address or phone number failover can use",
        )
        rows = stored(config)
        assert [c.name for c in rows] == ["Alice Martin", "Bob Durand"]
        assert "eve.secret" not in repr(rows)
        assert "eve.secret" not in repr(raw_rows(tmp_path))

    def test_a_bad_row_writes_nothing_and_loses_nothing(
        self, config: Config, tmp_path: Path, captured_logs: io.StringIO
    ) -> None:
        """The first import is kept row for row when the second fails; no other file is
        written; neither the error nor the logs carry personal data."""
        import_contacts(config, DATA / "contacts.csv")
        before = raw_rows(tmp_path)
        bad = _write(
            config,
            "name,email,groups\nAlice Martin,alice@example.org,team\nEve Secret,eve.secret@x.org,ops\n",
        )
        with pytest.raises(ContactImportError) as caught:
            import_contacts(config, bad)
        assert str(caught.value) == "row 3: groups: unknown group 'ops'"
        assert raw_rows(tmp_path) == before
        assert len(before) == 3
        others = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("failover.db"))
        assert others == ["failover.toml", "input.csv"]
        logs = captured_logs.getvalue()
        assert "contacts_imported" in logs
        for value in PERSONAL:
            assert value not in logs
            assert value not in str(caught.value)

    def test_merge_by_id_keeps_the_others_and_their_references(
        self, config_path: Path, config: Config, tmp_path: Path
    ) -> None:
        """A re-import updates the imported contacts with the same id, in their place; the
        other imported ones are kept, and hand-written ones, with their secret references,
        are read as written."""
        (tmp_path / "contacts.toml").write_text(
            '[[contacts]]\nid = "zoe"\nname = "Zoé"\n'
            '[[contacts.channels]]\nurl = "tgram://${env:BOT_TOKEN}/123"\n'
        )
        first = _csv(tmp_path, "id,name,email\nalice,Alice Martin,old@example.org\nyann,Yann,yann@x.org\n")
        assert import_contacts(config, first).added == 2
        report = import_contacts(config, DATA / "contacts.csv")
        assert (report.added, report.updated, report.kept) == (2, 1, 1)
        rows = stored(config)
        assert [c.id for c in rows] == ["alice", "yann", contact_id("Bob Durand"), "chloe"]
        assert rows[0].channels == ({"email": "alice@example.org"}, {"signal": "+33612345678"})
        assert "old@example.org" not in repr(raw_rows(tmp_path))
        loaded = everyone(config_path, BOT_TOKEN="42:abc")
        assert [c.id for c in loaded] == ["zoe", "alice", "yann", contact_id("Bob Durand"), "chloe"]
        assert loaded[0].channels[0].url == "tgram://42:abc/123"
        assert "${env:BOT_TOKEN}" in (tmp_path / "contacts.toml").read_text()

    @pytest.mark.parametrize("written_in", ["failover.toml", "contacts.toml"])
    @pytest.mark.parametrize(
        ("entry", "message"),
        [
            ('name = "Alice Martin"', "row 2: name: a contact written in the configuration has it"),
            (
                'id = "alice"\nname = "Alice Dupuis"',
                "row 2: id: 'alice' belongs to a contact written in the configuration",
            ),
        ],
    )
    def test_a_name_or_id_written_in_the_configuration_is_refused(
        self, tmp_path: Path, written_in: str, entry: str, message: str
    ) -> None:
        """In the configuration file or the hand-written contacts file: refused, nothing
        is imported, and the file is left as it was."""
        path = write_config(tmp_path)
        target = tmp_path / written_in
        target.write_text(
            (target.read_text() if target.exists() else "")
            + f'\n[[contacts]]\n{entry}\nchannels = [{{ email = "alice@example.org" }}]\n'
        )
        before = target.read_bytes()
        with pytest.raises(ContactImportError) as caught:
            import_contacts(load_config(path, env={}), DATA / "contacts.csv")
        assert str(caught.value) == message
        assert stored(load_config(path, env={})) == []
        assert target.read_bytes() == before
        for value in PERSONAL:
            assert value not in str(caught.value)

    def test_phones_without_signal_are_left_out_and_counted(self, tmp_path: Path) -> None:
        """Without a Signal API, a phone number is no channel: counted, and a contact who
        has nothing else is skipped, saying why."""
        config = load_config(write_config(tmp_path, signal=False), env={})
        report = import_contacts(config, DATA / "contacts.csv")
        assert (report.added, report.phones_left_out) == (2, 2)
        assert report.parsed is not None
        assert report.parsed.warnings == (
            "row 4: skipped: no e-mail address, and no [notify] signal_url for the phone number",
        )
        assert [[next(iter(c)) for c in row.channels] for row in stored(config)] == [["email"], ["email"]]

    def test_dry_run_writes_nothing(self, tmp_path: Path) -> None:
        """A configuration whose database does not exist yet: no file is created to find out
        that it holds nothing, not even its directory."""
        path = write_config(tmp_path, database_url=f"sqlite:///{tmp_path / 'db' / 'failover.db'}")
        report = import_contacts(load_config(path, env={}), DATA / "contacts.csv", dry_run=True)
        assert (report.added, report.written) == (3, False)
        assert report.where == f"sqlite:///{tmp_path / 'db' / 'failover.db'}"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["failover.toml"]

    def test_a_dry_run_reads_the_address_book(self, config: Config, tmp_path: Path) -> None:
        """What is already imported is counted (kept), and left as it was."""
        import_contacts(config, _write(config, "name,email\nAnn,a@example.org\n"))
        before = raw_rows(tmp_path)
        report = import_contacts(config, DATA / "contacts.csv", dry_run=True)
        assert (report.added, report.kept, report.written) == (3, 1, False)
        assert raw_rows(tmp_path) == before


def _write(config: Config, text: str) -> Path:
    path = Path(config.source).parent / "input.csv"
    path.write_text(text)
    return path


class TestVcard:
    """vCard 3.0 and 4.0: folded lines, escapes, preferences, categories as groups."""

    def test_import(self, config: Config) -> None:
        contacts = {c.id: c for c in parse_vcards((DATA / "contacts.vcf").read_text(), config).contacts}
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
            ("BEGIN:VCARD\nVERSION:5.0\nFN:A\nEND:VCARD\n", "line 1: VERSION: expected 2.1, 3.0 or 4.0"),
            ("BEGIN:VCARD\nFN:A\nEND:VCARD\n", "line 1: VERSION: expected 2.1, 3.0 or 4.0"),
            ("FN:A\n", "line 1: expected BEGIN:VCARD"),
            ("BEGIN:VCARD\nVERSION:4.0\nBEGIN:VCARD\n", "line 3: BEGIN:VCARD inside a card"),
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

    def test_what_cannot_be_used_is_a_warning_naming_its_line(self, config: Config) -> None:
        """In a vCard (any tool's), an unreadable address, a time zone that is no IANA name,
        a category that is no configured group and a card without a name are left out."""
        text = (
            "BEGIN:VCARD\nVERSION:4.0\nFN:Ann\nEMAIL:nope\nTEL:+33612345678\nTZ:-05:00\n"
            "CATEGORIES:friends,team\nEND:VCARD\n"
            "BEGIN:VCARD\nVERSION:3.0\nN:;;;;\nEMAIL:b@example.org\nEND:VCARD\n"
        )
        parsed = parse_vcards(text, config)
        [ann] = parsed.contacts
        assert (ann.name, ann.email, ann.phone, ann.timezone, ann.groups) == (
            "Ann",
            None,
            "+33612345678",
            "UTC",
            ("team",),
        )
        assert parsed.warnings == (
            "line 4: EMAIL: not an e-mail address; left out",
            "line 6: TZ: unknown time zone (expected an IANA name such as Europe/Paris)",
            "line 9: skipped: no name",
            "label 'friends' (1 contact): not a configured group; left out",
        )
        assert parsed.skipped == 1

    def test_import_into_the_address_book(self, config_path: Path, config: Config) -> None:
        report = import_contacts(config, DATA / "contacts.vcf")
        assert report.added == 2
        assert {c.id for c in everyone(config_path)} == {"chloe", contact_id("David Lambert")}


class TestCli:
    """``failover contacts import|list``."""

    def test_import_and_list_hides_personal_data(self, config_path: Path) -> None:
        result = invoke("contacts", "import", str(DATA / "contacts.csv"), "--config", str(config_path))
        assert result.exit_code == 0, result.output
        database = f"sqlite:///{config_path.parent / 'failover.db'}"
        assert result.stdout.endswith(
            f"wrote the address book ({database}): 3 added, 0 updated, 0 unchanged, 0 kept\n"
        )

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
        bad_path = tmp_path / "bad.csv"
        bad_path.write_text("name,email,timezone\nAlice,alice@example.org,Mars/Olympus\n")
        bad = invoke("contacts", "import", str(bad_path), "--config", str(config_path))
        assert bad.exit_code == 1
        assert bad.output == (
            "failover: bad.csv: row 2: timezone: unknown time zone "
            "(expected an IANA name such as Europe/Paris)\n"
        )
        dry = invoke(
            "contacts", "import", str(DATA / "contacts.vcf"), "--dry-run", "--config", str(config_path)
        )
        assert dry.exit_code == 0, dry.output
        assert "would write the address book (" in dry.output
        assert "  + chloe (line 1)\n" in dry.output
        assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "failover.toml"]  # no database

    def test_without_contacts_file_imported_contacts_are_listed(self, tmp_path: Path) -> None:
        """No contacts file is needed, none is asked for and none is written: ``contacts
        list`` shows what was imported."""
        path = write_config(tmp_path, contacts_file=False)
        result = invoke("contacts", "import", str(DATA / "contacts.csv"), "--config", str(path))
        assert result.exit_code == 0, result.output
        assert "contacts_file =" not in result.output
        assert not (tmp_path / "contacts.toml").exists()
        listed = json.loads(invoke("contacts", "list", "--json", "--config", str(path)).output)
        assert [c["id"] for c in listed] == ["alice", contact_id("Bob Durand"), "chloe"]


def _csv(tmp_path: Path, text: str, name: str = "people.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


class TestDefaults:
    """What a file does not say comes from the configuration, and the report says so."""

    def test_from_the_daemon_time_zone(self, tmp_path: Path) -> None:
        """Europe/Paris: national numbers are French, the language French, the zone Paris."""
        config = load_config(write_config(tmp_path, timezone="Europe/Paris"), env={})
        parsed = parse_contacts_csv("name,email,phone\nAlice,a@example.org,06 12 34 56 78\n", config)
        [alice] = parsed.contacts
        assert (alice.phone, alice.language, alice.timezone) == ("+33612345678", "fr", "Europe/Paris")
        assert alice.defaulted == {"language", "timezone"}
        assert parsed.region == ("FR", "daemon.timezone Europe/Paris")
        assert parsed.default_language == (1, "fr", "region FR")
        assert parsed.default_timezone == (1, "Europe/Paris", "daemon.timezone")

    def test_from_the_signal_sending_number(self, tmp_path: Path) -> None:
        """A zone of no country (UTC): the country of the organisation's Signal number."""
        config = load_config(write_config(tmp_path, sender="+33600000001"), env={})
        parsed = parse_contacts_csv("name,phone\nAlice,06 12 34 56 78\n", config)
        assert [(c.phone, c.language, c.timezone) for c in parsed.contacts] == [("+33612345678", "fr", "UTC")]
        assert parsed.region == ("FR", "the [notify] signal_url sending number")

    def test_options_come_first(self, tmp_path: Path) -> None:
        config = load_config(write_config(tmp_path, timezone="Europe/Paris"), env={})
        parsed = parse_contacts_csv(
            "name,phone\nPieter,0470 12 34 56\n",
            config,
            region="be",
            language="en",
            timezone="Europe/Brussels",
        )
        assert [(c.phone, c.language, c.timezone) for c in parsed.contacts] == [
            ("+32470123456", "en", "Europe/Brussels")
        ]
        assert (parsed.default_language, parsed.default_timezone) == (
            (1, "en", "--language"),
            (1, "Europe/Brussels", "--timezone"),
        )

    def test_the_file_comes_before_the_defaults(self, tmp_path: Path) -> None:
        config = load_config(write_config(tmp_path, timezone="Europe/Paris"), env={})
        parsed = parse_contacts_csv(
            "name,email,language,timezone\nAnn,a@example.org,en-GB,America/New_York\n", config, language="fr"
        )
        assert [(c.language, c.timezone, c.defaulted) for c in parsed.contacts] == [
            ("en", "America/New_York", frozenset())
        ]
        assert (parsed.default_language[0], parsed.default_timezone[0]) == (0, 0)

    def test_without_a_region_national_numbers_cannot_be_read(self, tmp_path: Path) -> None:
        config = load_config(write_config(tmp_path, signal=False), env={})
        parsed = parse_contacts_csv("name,email,phone\nAnn,a@example.org,06 12 34 56 78\n", config)
        assert parsed.region == (None, "")
        assert parsed.default_language == (1, "en", "failover's default")
        assert parsed.warnings == (
            "row 2: phone: a national phone number, and no region to read it in (give --region); left out",
        )

    @pytest.mark.parametrize(
        ("options", "message"),
        [
            ({"language": "de"}, "--language: expected fr or en"),
            ({"timezone": "Mars/Olympus"}, "--timezone: unknown time zone (expected an IANA name)"),
            ({"groups": ["ops"]}, "--group: unknown group 'ops'"),
            ({"region": "XX"}, "--region: unknown region (expected a country code such as FR)"),
        ],
    )
    def test_bad_options(self, config: Config, options: dict[str, Any], message: str) -> None:
        with pytest.raises(ContactImportError, match=f"^{re.escape(message)}$"):
            parse_contacts_csv("name,email\nAnn,a@example.org\n", config, **options)

    def test_a_group_for_every_contact(self, config: Config) -> None:
        parsed = parse_contacts_csv(
            "name,email,groups\nAnn,a@example.org,team\nBo,b@example.org,\n", config, groups=["customers"]
        )
        assert [c.groups for c in parsed.contacts] == [("team", "customers"), ("customers",)]


class TestHomonyms:
    """A second import that names someone already in the address book."""

    FIRST = "name,email\nJean Martin,jean@example.org\n"

    def test_another_person_of_the_same_name_is_refused(self, config: Config, tmp_path: Path) -> None:
        """Same name, no address or number in common: refused, naming the row and the
        contact's id, and nothing else; the address book is left as it was."""
        import_contacts(config, _csv(tmp_path, self.FIRST))
        before = raw_rows(tmp_path)
        second = _csv(tmp_path, "name,email\nJean Martin,jean.martin@elsewhere.org\n", "second.csv")
        with pytest.raises(ContactImportError) as caught:
            import_contacts(config, second)
        assert str(caught.value) == (
            f"row 2: contact {contact_id('Jean Martin')} in the address book has this name, and none of "
            "these addresses or numbers: another person of the same name? Names are unique: tell them "
            "apart in the file, or give --replace to replace the contact"
        )
        assert raw_rows(tmp_path) == before
        for value in ("Jean", "jean", "elsewhere"):
            assert value not in str(caught.value)

    def test_replace(self, config: Config, tmp_path: Path) -> None:
        import_contacts(config, _csv(tmp_path, self.FIRST))
        second = _csv(tmp_path, "name,email\nJean Martin,jean.martin@elsewhere.org\n", "second.csv")
        report = import_contacts(config, second, replace=True)
        assert (report.added, report.updated, report.replaced) == (0, 0, 1)
        assert [(c.id, c.kind) for c in report.changes] == [(contact_id("Jean Martin"), "replaced")]
        [jean] = stored(config)
        assert (jean.id, jean.name) == (contact_id("Jean Martin"), "Jean Martin")
        assert jean.channels == ({"email": "jean.martin@elsewhere.org"},)
        assert "jean@example.org" not in repr(raw_rows(tmp_path))

    def test_the_same_person_with_a_new_number_is_updated(self, config: Config, tmp_path: Path) -> None:
        import_contacts(config, _csv(tmp_path, self.FIRST))
        second = _csv(tmp_path, "name,email,phone\nJean Martin,JEAN@example.org,+33612345678\n", "second.csv")
        report = import_contacts(config, second)
        assert (report.added, report.updated, report.replaced) == (0, 1, 0)
        assert [c.fields for c in report.changes] == [("channels",)]

    def test_an_id_in_the_file_says_who_it_is(self, config: Config, tmp_path: Path) -> None:
        import_contacts(config, _csv(tmp_path, "id,name,email\njm,Jean Martin,jean@example.org\n"))
        report = import_contacts(
            config, _csv(tmp_path, "id,name,email\njm,Jean Martin,new@example.org\n", "b.csv")
        )
        assert (report.updated, report.replaced) == (1, 0)

    def test_the_same_file_twice_changes_nothing(self, config: Config, tmp_path: Path) -> None:
        """Every contact unchanged, and no row rewritten (its ``updated_at`` neither)."""
        import_contacts(config, DATA / "contacts.csv")
        before = raw_rows(tmp_path)
        report = import_contacts(config, DATA / "contacts.csv")
        assert (report.added, report.updated, report.unchanged, report.kept) == (0, 0, 3, 0)
        assert report.changes == ()
        assert raw_rows(tmp_path) == before
        assert len(before) == 3

    def test_within_one_file(self, config: Config) -> None:
        """The same person twice is one contact; two people of one name are an error naming
        every such row."""
        twice = parse_contacts_csv("name,email\nAnn,a@example.org\nAnn,a@example.org\n", config)
        assert [c.name for c in twice.contacts] == ["Ann"]
        assert twice.warnings == ("row 3: skipped: the same contact as row 2",)
        with pytest.raises(ContactImportError) as caught:
            parse_contacts_csv(
                "name,email\nAnn,a@example.org\nAnn,b@example.org\nBo,c@x.org\nBo,d@x.org\n", config
            )
        assert str(caught.value) == (
            "row 3: name: the same name as row 2; row 5: name: the same name as row 4; "
            "names must be unique: tell them apart in the file"
        )

    def test_what_the_file_does_not_say_is_kept(self, config: Config, tmp_path: Path) -> None:
        """An update keeps the contact's language and time zone when the file has only
        defaults, its groups when the file has none, and its other channels."""
        ann = StoredContact(
            id=contact_id("Ann"),
            name="Ann",
            language="fr",
            timezone="Europe/Paris",
            groups=("team",),
            channels=({"url": "tgram://1:x/42"}, {"email": "a@example.org"}),
        )
        with Store.open(config.daemon.database_url) as store:
            store.upgrade()
            store.save_contacts(added=[ann], now=datetime.now(UTC))
        report = import_contacts(config, _csv(tmp_path, "name,email,phone\nAnn,a@example.org,+33612345678\n"))
        assert [c.fields for c in report.changes] == [("channels",)]
        assert stored(config) == [
            StoredContact(
                id=ann.id,
                name="Ann",
                language="fr",
                timezone="Europe/Paris",
                groups=("team",),
                channels=({"url": "tgram://1:x/42"}, {"email": "a@example.org"}, {"signal": "+33612345678"}),
            )
        ]
        [loaded] = everyone(Path(config.source))
        assert (loaded.language, loaded.timezone, loaded.groups) == ("fr", "Europe/Paris", ("team",))
        assert [c.url.split("://")[0] for c in loaded.channels] == ["tgram", "mailto", "signal"]


class TestAddressBook:
    """The imported contacts live in the configured database: written in one transaction,
    read back by every configuration that points at it, in import order."""

    FIRST = "name,email\nAlice Martin,alice@example.org\nBob Durand,bob@example.org\n"

    def test_import_then_read_on_each_backend(self, tmp_path: Path, database_url: str) -> None:
        """What the import wrote, a configuration read afresh (and ``contacts list``) reads:
        in the file's order, by id, counted; the same file again changes nothing."""
        path = write_config(tmp_path, database_url=database_url)
        report = import_contacts(load_config(path, env={}), DATA / "contacts.csv")
        assert (report.added, report.written) == (3, True)
        assert report.where == database_url  # no password to hide here
        config = load_config(path, env={})
        ids = ["alice", contact_id("Bob Durand"), "chloe"]
        assert [c.id for c in config.everyone()] == ids
        assert [c.id for c in config.everyone(groups=["customers"])] == ids[1:]
        assert config.contact_count() == 3
        chloe = config.contact("chloe")
        assert chloe is not None
        assert (chloe.name, chloe.timezone, chloe.groups) == ("Dupont, Chloé", "Europe/Paris", ("customers",))
        assert [c.ref for c in chloe.channels] == ["contacts[chloe].channels[0]"]
        assert config.contact("nobody") is None
        assert list(config.contacts_by_id(["chloe", "nobody", "alice"])) == ["alice", "chloe"]
        listed = json.loads(invoke("contacts", "list", "--json", "-c", str(path)).output)
        assert [c["id"] for c in listed] == ids
        before = stored(config)
        again = import_contacts(config, DATA / "contacts.csv")
        assert (again.added, again.updated, again.unchanged, again.changes) == (0, 0, 3, ())
        assert stored(config) == before

    @pytest.mark.parametrize(
        ("last_row", "options", "message"),
        [
            (
                "Bob Durand,bob@elsewhere.org,,",
                {},
                f"row 4: contact {contact_id('Bob Durand')} in the address book has this name, and none of "
                "these addresses or numbers: another person of the same name? Names are unique: tell them "
                "apart in the file, or give --replace to replace the contact",
            ),
            ("Eve Secret,eve.secret@x.org,,ops", {"strict": True}, "row 4: groups: unknown group 'ops'"),
        ],
    )
    def test_a_refused_import_leaves_the_database_as_it_was(
        self, config: Config, tmp_path: Path, last_row: str, options: dict[str, Any], message: str
    ) -> None:
        """A file whose rows 2 and 3 would add and update, and whose row 4 is refused:
        nothing of it is written, every row (``seq``, ``updated_at``) stays as it was, and
        the same file without that row is imported after it."""
        import_contacts(config, _csv(tmp_path, self.FIRST))
        before = raw_rows(tmp_path)
        good = (
            "name,email,phone,groups\n"
            "Chloé Dupont,chloe@example.org,,\n"  # added
            "Alice Martin,alice@example.org,+33612345678,\n"  # updated
        )
        with pytest.raises(ContactImportError) as caught:
            import_contacts(config, _csv(tmp_path, good + last_row + "\n", "bad.csv"), **options)
        assert str(caught.value) == message
        for value in PERSONAL:
            assert value not in str(caught.value)
        assert raw_rows(tmp_path) == before
        report = import_contacts(config, _csv(tmp_path, good, "good.csv"), **options)
        assert (report.added, report.updated, report.kept) == (1, 1, 1)
        assert [(c.name, c.channels) for c in stored(config)] == [
            ("Alice Martin", ({"email": "alice@example.org"}, {"signal": "+33612345678"})),
            ("Bob Durand", ({"email": "bob@example.org"},)),
            ("Chloé Dupont", ({"email": "chloe@example.org"},)),
        ]

    def test_an_import_that_fails_while_writing_writes_nothing(
        self, tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Another import commits, between this one's reading and writing, a contact of a
        name this one adds: this one's update, already made in its transaction, is undone
        with the rest; the error names no one."""
        path = write_config(tmp_path, database_url=database_url)
        config = load_config(path, env={})
        import_contacts(config, _csv(tmp_path, self.FIRST))
        other = StoredContact(
            id="chloe-d",
            name="Chloé Dupont",
            language="fr",
            timezone=None,
            channels=({"email": "cd@example.org"},),
        )

        def meanwhile(*args: Any, **kwargs: Any) -> list[str]:
            with Store.open(database_url) as store:
                store.save_contacts(added=[other], now=datetime.now(UTC))
            return stored_entry_problems(*args, **kwargs)

        monkeypatch.setattr(contacts_module, "stored_entry_problems", meanwhile)
        alice = "Alice Martin,alice@example.org,+33612345678\n"  # updated
        second = _csv(tmp_path, f"name,email,phone\n{alice}Chloé Dupont,chloe@example.org,\n", "second.csv")
        before = stored(config)
        with pytest.raises(StoreError, match=r"^cannot write the address book: ") as caught:
            import_contacts(config, second)
        for value in PERSONAL:
            assert value not in str(caught.value)
        assert stored(config) == [*before, other]
        monkeypatch.undo()  # nobody else writes now
        report = import_contacts(config, _csv(tmp_path, f"name,email,phone\n{alice}", "third.csv"))
        assert (report.updated, report.kept) == (1, 2)

    def test_two_thousand_contacts(self, config_path: Path, config: Config, tmp_path: Path) -> None:
        """Read back in the file's order (neither the names' nor the ids'), one found by id."""
        numbers = [i * 7919 % 2000 for i in range(2000)]
        names = [f"Person {n:04}" for n in numbers]
        rows = "".join(f"{name},p{n}@example.org\n" for name, n in zip(names, numbers, strict=True))
        report = import_contacts(config, _csv(tmp_path, "name,email\n" + rows))
        assert report.added == 2000
        loaded = load_config(config_path, env={})
        contacts = list(loaded.everyone())
        assert [c.name for c in contacts] == names
        assert [c.id for c in contacts] == [contact_id(name) for name in names]
        assert names != sorted(names)
        assert loaded.contact_count() == 2000
        middle = loaded.contact(contact_id(names[1000]))
        assert middle is not None
        assert middle.name == names[1000]
        assert [c.url.rpartition("&")[2] for c in middle.channels] == [f"to=p{numbers[1000]}@example.org"]

    def test_an_id_kept_by_a_renamed_contact_is_not_taken_again(self, config: Config, tmp_path: Path) -> None:
        """A contact renamed through its id keeps the id its old name gave it: a newcomer
        of that old name is refused naming the row, not a database error."""
        old = contact_id("Chloé Dupont")
        import_contacts(config, _csv(tmp_path, "name,email\nChloé Dupont,chloe@example.org\n"))
        import_contacts(config, _csv(tmp_path, f"id,name,email\n{old},Chloé Martin,chloe@example.org\n"))
        before = raw_rows(tmp_path)
        with pytest.raises(ContactImportError) as caught:
            import_contacts(config, _csv(tmp_path, "name,email\nChloé Dupont,other@example.org\n"))
        assert str(caught.value) == (
            f"row 2: id: '{old}' belongs to another contact of the address book (renamed since): "
            "give this one an id of its own"
        )
        assert raw_rows(tmp_path) == before

    def test_a_contact_written_in_the_configuration_wins(self, tmp_path: Path) -> None:
        """An imported contact whose id is then written in the configuration is read once,
        as written; importing it again is refused."""
        path = write_config(tmp_path, contacts_file=False)
        import_contacts(load_config(path, env={}), DATA / "contacts.csv")
        with path.open("a") as out:
            out.write(
                '\n[[contacts]]\nid = "alice"\nname = "Alice M."\nchannels = [{ email = "am@example.org" }]\n'
            )
        config = load_config(path, env={})
        assert [c.name for c in config.everyone() if c.id == "alice"] == ["Alice M."]
        assert config.contact_count() == len(list(config.everyone())) == 3
        with pytest.raises(ContactImportError, match="belongs to a contact written in the configuration"):
            import_contacts(config, DATA / "contacts.csv")


HAND_WRITTEN = """\
# Contacts of the press office. Keep it short.
# (the mayor's office is in the main configuration)

[[contacts]]
# Alice runs the team
id = "alice"
name = "Alice Martin"   # prefers Signal
groups = ["team"]
channels = [{ signal = "+33612345678" }, { url = "tgram://${env:BOT}/42" }]

# --- customers below ---

[[contacts]]
name = "Bob Durand"
groups = ["customers"]

[[contacts.channels]]
email = "bob@example.org"  # his work address
# end of the file
"""


class TestContactsFile:
    """The contacts file is the operator's, written by hand: an import reads it (its names
    and ids are taken) and never writes it."""

    def test_an_import_leaves_the_contacts_file_as_written(
        self, config_path: Path, config: Config, tmp_path: Path
    ) -> None:
        """Byte for byte, comments included, not even rewritten the same; its contacts are
        still read, before the imported ones, which go to the database only."""
        target = tmp_path / "contacts.toml"
        target.write_text(HAND_WRITTEN)
        written = target.stat()
        source = _csv(tmp_path, "name,email,phone\nZoé,z@example.org,\nAnn,a@example.org,+33612345679\n")
        report = import_contacts(config, source)
        assert (report.added, report.updated, report.kept) == (2, 0, 0)
        assert target.read_bytes() == HAND_WRITTEN.encode()
        assert (target.stat().st_mtime_ns, target.stat().st_ino) == (written.st_mtime_ns, written.st_ino)
        assert [c.name for c in stored(config)] == ["Zoé", "Ann"]
        loaded = load_config(config_path, env={"BOT": "1:x"})
        assert [c.name for c in loaded.everyone()] == ["Alice Martin", "Bob Durand", "Zoé", "Ann"]
        alice = loaded.contact("alice")
        assert alice is not None
        assert [c.url.split("://")[0] for c in alice.channels] == ["signal", "tgram"]


class TestEmailAddresses:
    """Plus-addressed and internationalised addresses, from the file to the mail server."""

    def test_end_to_end(self, tmp_path: Path, smtp_sink: SmtpSink) -> None:
        """Imported, validated, listed and mailed: '+' stays a '+', an internationalised
        domain is sent in its ASCII form."""
        path = write_config(tmp_path, smtp=smtp_sink.port)
        source = _csv(
            tmp_path, "id,name,email\nplus,Alice,alice+news@example.org\nidn,Marie,marie@exämple.fr\n"
        )
        imported = invoke("contacts", "import", str(source), "-c", str(path))
        assert imported.exit_code == 0, imported.output
        assert invoke("config", "validate", str(path)).exit_code == 0
        # '+' quoted in the URL, where most parsers would read a space; the domain in ASCII
        assert [c.channels[0].url.rpartition("&")[2] for c in everyone(path)] == [
            "to=alice%2Bnews@example.org",
            "to=marie@xn--exmple-cua.fr",
        ]
        listed = json.loads(invoke("contacts", "list", "--show-personal", "--json", "-c", str(path)).output)
        assert [c["channels"] for c in listed] == [
            ["mailto: alice+news@example.org"],
            ["mailto: marie@xn--exmple-cua.fr"],
        ]
        for contact in ("plus", "idn"):
            sent = invoke("notify-test", contact, "-c", str(path))
            assert sent.exit_code == 0, sent.output
        assert [m.rcpt_tos for m in smtp_sink.messages] == [
            ["alice+news@example.org"],
            ["marie@xn--exmple-cua.fr"],
        ]
        assert [m.message["To"] for m in smtp_sink.messages] == [
            "alice+news@example.org",
            "marie@xn--exmple-cua.fr",
        ]

    def test_a_plus_written_in_a_url_by_hand(self, tmp_path: Path) -> None:
        """``contacts list`` reads a literal '+' in a hand-written mailto URL as a '+'."""
        path = write_config(tmp_path)
        url = "mailto://127.0.0.1:9?from=failover@example.org&to=bob+alerts@example.org"
        path.write_text(
            path.read_text() + f'\n[[contacts]]\nname = "Bob"\nchannels = [{{ url = "{url}" }}]\n'
        )
        listed = json.loads(invoke("contacts", "list", "--show-personal", "--json", "-c", str(path)).output)
        assert listed[0]["channels"] == ["mailto: bob+alerts@example.org"]

    def test_letters_beyond_ascii_before_the_at(self, tmp_path: Path, config: Config) -> None:
        """The mail channel cannot send to josé@…: left out at import, refused by the
        configuration (rather than failing at the first notice)."""
        parsed = parse_contacts_csv("name,email,phone\nJosé,josé@example.fr,+33612345678\n", config)
        assert parsed.warnings == (
            "row 2: email: letters beyond ASCII before the '@': the mail channel cannot send to such an "
            "address; left out",
        )
        path = write_config(tmp_path)
        path.write_text(
            path.read_text() + '\n[[contacts]]\nname = "José"\nchannels = [{ email = "josé@example.fr" }]\n'
        )
        refused = invoke("config", "validate", str(path))
        assert refused.exit_code == 1
        assert "contacts[0].channels[0].email: letters beyond ASCII before the '@'" in refused.output
        assert "josé" not in refused.output


class TestExport:
    """``contacts export`` writes what ``contacts import`` reads back."""

    @pytest.mark.parametrize("fmt", ["csv", "vcard"])
    def test_round_trip(self, tmp_path: Path, fmt: Literal["csv", "vcard"]) -> None:
        """Samples of every kind imported, exported, and the export imported into another
        database: the same contacts, ids, languages, zones, groups and channels."""
        path = write_config(tmp_path, timezone="Europe/Paris")
        for sample in ("google-legacy.csv", "vcard4.vcf", "android.vcf"):
            import_contacts(load_config(path, env={}), SAMPLES / sample)
        config = load_config(path, env={})
        export = export_contacts(config, fmt)
        assert (export.contacts, export.channels_left_out) == (config.contact_count(), 0)
        assert export.contacts == 7
        exported = tmp_path / f"export.{'csv' if fmt == 'csv' else 'vcf'}"
        exported.write_text(export.text)
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        other = load_config(write_config(elsewhere, timezone="Europe/Paris"), env={})
        import_contacts(other, exported)
        assert stored(other) == stored(config)

    def test_what_neither_format_holds_is_counted(self, config: Config, tmp_path: Path) -> None:
        (tmp_path / "contacts.toml").write_text(
            '[[contacts]]\nid = "ann"\nname = "Ann"\n'
            'channels = [{ url = "tgram://1:x/42" }, { email = "a@exämple.fr" }]\n'
        )
        export = export_contacts(load_config(Path(config.source), env={}), "vcard")
        assert export.channels_left_out == 1
        assert "EMAIL;PREF=1:a@exämple.fr\r\n" in export.text  # as written, not in its ASCII form
        assert all(len(line.encode()) <= 75 for line in export.text.split("\r\n"))

    @pytest.mark.slow
    def test_csv_header_and_the_cli(self, config_path: Path, tmp_path: Path) -> None:
        invoke("contacts", "import", str(DATA / "contacts.csv"), "-c", str(config_path))
        printed = invoke("contacts", "export", "-c", str(config_path))
        assert printed.exit_code == 0, printed.output
        assert printed.stdout.splitlines()[0] == "id,name,language,timezone,groups,email,phone"
        target = tmp_path / "out.vcf"
        written = invoke("contacts", "export", "--format", "vcard", "-o", str(target), "-c", str(config_path))
        assert written.exit_code == 0, written.output
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        assert target.read_text(encoding="utf-8").count("BEGIN:VCARD") == 3


class TestCliOutput:
    """What ``contacts import`` tells the operator."""

    def test_the_mapping_the_warnings_and_the_changes(self, tmp_path: Path) -> None:
        path = write_config(tmp_path, timezone="Europe/Paris")
        result = invoke(
            "contacts", "import", str(SAMPLES / "google-legacy.csv"), "--dry-run", "-c", str(path)
        )
        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines()[:8] == [
            "read google-legacy.csv (Google Contacts CSV, UTF-16, separator ','): 3 contact(s), 1 skipped",
            "  name      <- Name (else Name Prefix + Given Name + Additional Name + Family Name "
            "+ Name Suffix), else Nickname, File As or the organisation",
            "  email     <- E-mail 1 - Value, E-mail 2 - Value (the one labelled * first)",
            "  phone     <- Phone 1 - Value, Phone 2 - Value (mobile and * first; fax and pager left out); "
            "national numbers read as FR (daemon.timezone Europe/Paris)",
            "  groups    <- Group Membership (system labels ignored: myContacts, starred)",
            "  language  <- Language; default fr (region FR) for 2 contact(s) without one",
            "  timezone  <- default Europe/Paris (daemon.timezone) for 3 contact(s)",
            "  ignored   :  38 (Yomi Name, Given Name Yomi, Additional Name Yomi, Family Name Yomi, "
            "Initials, Short Name, Maiden Name, Birthday, …)",
        ]
        assert f"  + {contact_id('Alice Martin')} (row 2)" in result.stdout
        assert result.stdout.endswith(
            f"would write the address book (sqlite:///{tmp_path / 'failover.db'}): "
            "3 added, 0 updated, 0 unchanged, 0 kept\n"
        )
        assert not (tmp_path / "failover.db").exists()
        assert result.stderr.splitlines()[:2] == [
            "4 warning(s):",
            "  row 3: Phone 1 - Value: a landline, which Signal cannot reach; left out",
        ]
        for value in ("alice.martin@", "06 12", "Clients VIP ::: "):
            assert value not in result.output

    def test_a_progress_bar_on_a_terminal(self, tmp_path: Path) -> None:
        """Past a few hundred rows, a bar on stderr; none on a pipe."""
        path = write_config(tmp_path)
        rows = "".join(f"Person {i},p{i}@example.org\n" for i in range(600))
        source = _csv(tmp_path, "name,email\n" + rows)
        on_terminal = CliRunner().invoke(
            main,
            ["contacts", "import", str(source), "--dry-run", "-c", str(path)],
            env={"TTY_COMPATIBLE": "1"},
        )
        assert on_terminal.exit_code == 0, on_terminal.output
        assert "600/600" in on_terminal.stderr
        on_pipe = invoke("contacts", "import", str(source), "--dry-run", "-c", str(path))
        assert "600/600" not in on_pipe.stderr


class TestCommandsThatTellNobody:
    """An address book of any size costs nothing to the commands that tell nobody: they
    do not read the contacts file; those that tell people, or show contacts, read it."""

    def test_which_commands_read_the_contacts_file(
        self, config_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        (config_path.parent / "contacts.toml").write_text(
            '[[contacts]]\nname = "Alice"\ngroups = ["team"]\n'
            "[[contacts.channels]]\n"
            'url = "mailto://127.0.0.1:9?from=failover@example.org&to=alice@example.org"\n'
        )
        assert invoke("db", "upgrade", "-c", str(config_path)).exit_code == 0
        import failover.config._read as config_module

        reads: list[Path] = []
        read = config_module._read_contacts_file

        def counting(path: Path, **kwargs: Any) -> Any:
            reads.append(path)
            return read(path, **kwargs)

        monkeypatch.setattr(config_module, "_read_contacts_file", counting)
        for command in (
            ["status"],
            ["status", "--json"],
            ["incidents"],
            ["incidents", "--export", "json"],
            ["silences"],
            ["silence", "whatsapp", "--for", "1h", "--reason", "planned"],
            ["unsilence", "whatsapp"],
            ["maintenance"],
            ["db", "prune"],
        ):
            result = invoke(*command, "-c", str(config_path))
            assert result.exit_code in {0, 1, 2, 3}, (command, result.output)
            assert "Traceback" not in result.output
            assert reads == [], command
        for command in (
            ["contacts", "list", "-c", str(config_path)],
            ["config", "validate", str(config_path)],
        ):
            result = invoke(*command)
            assert result.exit_code == 0, (command, result.output)
            assert reads == [config_path.parent / "contacts.toml"], command
            reads.clear()
