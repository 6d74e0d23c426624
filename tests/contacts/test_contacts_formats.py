"""Address books as the tools people use write them (``tests/data/contacts/``): for each,
the contacts that result (name, channels, language, time zone, groups) and the warnings for
what was left out. The configuration runs on Europe/Paris: national numbers are read as
French, and contacts without a language get French.

How each sample was written (see ``tests/data/contacts/README.md``): Google's legacy CSV in
UTF-16 with a BOM, its current one in UTF-8; Outlook desktop in Windows-1252 with every field
quoted, Outlook.com in UTF-8 with a BOM; failover's columns saved by a French Excel with
``;`` (Windows-1252, and "CSV UTF-8" with a BOM); vCard 3.0 from Google and iCloud (group
cards), 2.1 from Android (quoted-printable with soft line breaks, ISO-8859-1 and UTF-8), and
4.0 as RFC 6350 writes it (``KIND:group``, ``MEMBER``, ``tel:`` URIs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from failover.config import Config, contact_id, load_config
from failover.service import ImportedContact, ParsedContacts, import_contacts
from tests.service.test_contacts import write_config

SAMPLES = Path(__file__).parents[1] / "data" / "contacts"
PARIS = "Europe/Paris"
UNREADABLE = "not a phone number that can be read (national numbers read as FR); left out"


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return load_config(write_config(tmp_path, timezone=PARIS), env={})


def read(config: Config, name: str, **options: Any) -> ParsedContacts:
    """What importing the sample would do (nothing is written)."""
    report = import_contacts(config, SAMPLES / name, dry_run=True, **options)
    assert report.parsed is not None
    return report.parsed


def summary(contact: ImportedContact) -> tuple[object, ...]:
    return (
        contact.where,
        contact.name,
        contact.language,
        contact.timezone,
        contact.groups,
        contact.email,
        contact.phone,
    )


class TestGoogleCsv:
    """Google Contacts' two CSV layouts: ' ::: ' between values, '*' marking the primary one
    and the system labels."""

    def test_the_legacy_layout_in_utf16(self, config: Config) -> None:
        """Name/Given Name/Group Membership/E-mail 1 - Type; a multi-line address makes rows
        of several lines; a fax is never a Signal channel, a landline neither; the address
        labelled '*' is used (David's other one, unreadable, is not even tried)."""
        parsed = read(config, "google-legacy.csv")
        assert (parsed.layout, parsed.encoding, parsed.separator) == ("Google Contacts CSV", "UTF-16", ",")
        assert [summary(c) for c in parsed.contacts] == [
            ("row 2", "Alice Martin", "fr", PARIS, ("team",), "alice.martin@example.org", "+33612345678"),
            ("row 3", "Bob Durand", "fr", PARIS, ("customers",), "bob.durand@example.com", None),
            ("row 7", "David Lambert", "fr", PARIS, (), "david+failover@example.org", None),
        ]
        assert parsed.warnings == (
            "row 3: Phone 1 - Value: a landline, which Signal cannot reach; left out",
            "row 4: skipped: no e-mail address or phone number failover can use",
            f"row 7: Phone 1 - Value: {UNREADABLE}",
            "label 'Clients VIP' (2 contacts): not a configured group; left out",
        )
        assert parsed.skipped == 1
        # Alice's "Language" column says Français; the others got the default
        assert parsed.default_language == (2, "fr", "region FR")
        assert parsed.default_timezone == (3, PARIS, "daemon.timezone")
        assert ("groups", "Group Membership (system labels ignored: myContacts, starred)") in parsed.mapping

    def test_the_current_layout(self, config: Config) -> None:
        """First/Middle/Last Name and Labels; a contact with no name but an organisation is
        named after it; one with neither is skipped; an internationalised domain is kept."""
        parsed = read(config, "google.csv")
        assert (parsed.layout, parsed.encoding) == ("Google Contacts CSV", "UTF-8")
        assert [summary(c) for c in parsed.contacts] == [
            (
                "row 2",
                "Marie Claire Rousseau",
                "fr",
                PARIS,
                ("team",),
                "marie.rousseau@exämple.fr",
                "+33698765432",
            ),
            ("row 3", "Jean Tremblay", "fr", PARIS, ("customers",), "jean.tremblay+alertes@example.ca", None),
            ("row 6", "Boulangerie Dupain", "fr", PARIS, (), "contact@boulangerie-dupain.fr", None),
        ]
        assert parsed.warnings == (
            f"row 3: Phone 1 - Value: {UNREADABLE}",
            "row 7: skipped: no name",
        )
        assert "Photo" in parsed.ignored
        assert "Notes" in parsed.ignored

    def test_a_region_reads_the_national_numbers_of_another_country(self, config: Config) -> None:
        parsed = read(config, "google.csv", region="CA")
        jean = next(c for c in parsed.contacts if c.name == "Jean Tremblay")
        assert jean.phone == "+15145550199"
        assert parsed.region == ("CA", "--region")


class TestOutlookCsv:
    """Outlook desktop (Windows-1252, E-mail Type) and Outlook.com (UTF-8 with a BOM)."""

    def test_outlook_desktop(self, config: Config) -> None:
        """An EX address is an Exchange directory name, never mailed: the SMTP one after it
        is used; a company alone with a landline is skipped; Categories are ';'-separated."""
        parsed = read(config, "outlook.csv")
        assert (parsed.layout, parsed.encoding) == ("Outlook CSV", "Windows-1252")
        assert [summary(c) for c in parsed.contacts] == [
            ("row 2", "Élodie Dubois", "fr", PARIS, ("team",), "elodie.dubois@example.fr", "+33611223344"),
            ("row 3", "Gérard Lefèvre", "fr", PARIS, ("customers",), "gerard.lefevre@example.com", None),
        ]
        assert parsed.warnings == (
            "row 3: E-mail Address: an Exchange directory name (type EX), not an e-mail address; left out",
            "row 3: Business Phone: a landline, which Signal cannot reach; left out",
            "row 4: Business Phone: a landline, which Signal cannot reach; left out",
            "row 4: skipped: no e-mail address or phone number failover can use",
            "label 'Fournisseurs' (1 contact): not a configured group; left out",
        )
        # Gérard's "Language" column says French (France)
        assert parsed.default_language == (1, "fr", "region FR")

    def test_outlook_com(self, config: Config) -> None:
        parsed = read(config, "outlook-com.csv")
        assert (parsed.layout, parsed.encoding) == ("Outlook CSV", "UTF-8 with BOM")
        assert [summary(c) for c in parsed.contacts] == [
            ("row 2", "Sophie Bernard", "fr", PARIS, (), "sophie.bernard+news@example.org", "+33698765433"),
            ("row 3", "Thomas Weber", "fr", PARIS, (), "thomas.weber@example.de", "+4915123456789"),
        ]
        assert parsed.warnings == ()


class TestExcelCsv:
    """failover's own columns, saved by a French Excel: ';' between fields."""

    @pytest.mark.parametrize(
        ("name", "encoding"), [("excel-fr.csv", "Windows-1252"), ("excel-fr-utf8.csv", "UTF-8 with BOM")]
    )
    def test_semicolons_in_either_encoding(self, config: Config, name: str, encoding: str) -> None:
        parsed = read(config, name)
        assert (parsed.layout, parsed.encoding, parsed.separator) == ("failover CSV", encoding, ";")
        ids = ["amelie", contact_id("Léon Marchand"), contact_id("Noémie Faure")]
        assert [c.id for c in parsed.contacts] == ids
        assert [summary(c) for c in parsed.contacts] == [
            (
                "row 2",
                "Amélie Poulain",
                "fr",
                PARIS,
                ("team", "customers"),
                "amelie@example.fr",
                "+33612345679",
            ),
            ("row 3", "Léon Marchand", "fr", PARIS, ("customers",), "leon.marchand@example.fr", None),
            ("row 4", "Noémie Faure", "fr", PARIS, (), None, "+33798765432"),
        ]
        assert parsed.warnings == ()
        assert parsed.default_language == (1, "fr", "region FR")
        assert parsed.default_timezone == (2, PARIS, "daemon.timezone")


class TestVcard:
    """vCard 2.1, 3.0 and 4.0 from phones and servers."""

    def test_google(self, config: Config) -> None:
        """CATEGORIES carry Google's labels and myContacts; TYPE=PREF picks the address."""
        parsed = read(config, "google.vcf")
        assert parsed.layout == "vCard 3.0"
        assert [summary(c) for c in parsed.contacts] == [
            ("line 1", "Alice Martin", "fr", PARIS, ("team",), "alice.martin@example.org", "+33612345678"),
            ("line 11", "Bob Durand", "fr", PARIS, ("customers",), "bob@example.org", None),
        ]
        assert parsed.warnings == (
            "line 18: TEL: a landline, which Signal cannot reach; left out",
            "line 24: skipped: no name",
            "label 'Clients VIP' (1 contact): not a configured group; left out",
        )

    def test_icloud_group_cards(self, config: Config) -> None:
        """Group cards are no contacts: counted; a configured group's members join it."""
        parsed = read(config, "icloud.vcf")
        assert parsed.layout == "vCard 3.0"
        assert [summary(c) for c in parsed.contacts] == [
            ("line 1", "Carole Petit", "fr", PARIS, ("team",), "carole.petit@example.org", "+33655443322"),
            ("line 24", "Hugo Garnier", "fr", PARIS, ("team",), None, "+33677889900"),
        ]
        assert parsed.group_cards == 2
        assert parsed.warnings == (
            "line 43: group card 'Famille' (1 member): not a configured group; left out",
        )
        assert "PHOTO" in parsed.ignored

    def test_android_quoted_printable(self, config: Config) -> None:
        """Quoted-printable names in UTF-8 and ISO-8859-1, a soft line break in a long one,
        bare types (TEL;CELL;PREF), a fax never used, a German national number unreadable
        as French."""
        parsed = read(config, "android.vcf")
        assert parsed.layout == "vCard 2.1"
        assert [summary(c) for c in parsed.contacts] == [
            ("line 1", "Hélène Lévy", "fr", PARIS, (), "helene.levy@example.fr", "+33612345670"),
            (
                "line 12",
                "Jean-Baptiste de La Fontaine-Lévêque-Saint-Hilaire",
                "fr",
                PARIS,
                (),
                None,
                "+32470123456",
            ),
        ]
        assert parsed.warnings == (
            "line 20: skipped: no e-mail address or phone number failover can use",
            "line 24: TEL: not a phone number that can be read (national numbers read as FR); left out",
        )
        german = read(config, "android.vcf", region="DE")
        assert [(c.name, c.phone) for c in german.contacts][-1] == ("Jürgen Müller", "+4915123456780")

    def test_vcard4(self, config: Config) -> None:
        """LANG by preference (a region dropped), TZ an IANA name, tel: URIs, KIND:group with
        MEMBER; a language failover does not speak and an offset for a zone are warnings."""
        parsed = read(config, "vcard4.vcf")
        assert parsed.layout == "vCard 4.0"
        zoe = ("Zoé Fournier", "fr", "America/Toronto", ("customers", "team"), "zoe.fournier@example.ca")
        assert [summary(c) for c in parsed.contacts] == [
            ("line 1", *zoe, "+15145550142"),
            ("line 16", "Walter Schmidt", "fr", PARIS, ("team",), "walter.schmidt@example.de", None),
        ]
        assert parsed.warnings == (
            "line 21: LANG: unsupported language (expected fr or en)",
            "line 22: TZ: unknown time zone (expected an IANA name such as Europe/Paris)",
        )
        assert parsed.group_cards == 1
        assert (parsed.default_language, parsed.default_timezone) == (
            (1, "fr", "region FR"),
            (1, PARIS, "daemon.timezone"),
        )


@pytest.mark.parametrize("name", sorted(p.name for p in SAMPLES.glob("*.*") if p.suffix in (".csv", ".vcf")))
def test_every_sample_imports_and_loads(tmp_path: Path, name: str) -> None:
    """Each sample, imported into the address book, makes a configuration that loads and
    reads every contact imported, as the import reported them."""
    path = write_config(tmp_path, timezone=PARIS)
    report = import_contacts(load_config(path, env={}), SAMPLES / name)
    loaded = load_config(path, env={})
    contacts = list(loaded.everyone())
    assert len(contacts) == loaded.contact_count() == report.added > 0
    assert [c.id for c in contacts] == [change.id for change in report.changes]
    assert all(c.channels for c in contacts)
