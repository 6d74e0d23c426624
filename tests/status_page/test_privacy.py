"""Public only: the site built during an incident, from a configuration full of personal
data and a journal full of internal detail, carries none of it, in any byte of any file."""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from click.testing import CliRunner

from failover.cli import main
from failover.config import parse_config
from failover.domain import (
    ConnectivityEvent,
    Health,
    Incident,
    IncidentEvent,
    IncidentKind,
    IncidentScope,
    Transition,
)
from failover.service._status_page import private_values
from failover.store import ConnectivityRecord, DeliveryOutcome, NoticeDraft, Store

NOW = datetime.now(UTC).replace(microsecond=0)
OPENED = NOW - timedelta(hours=2)

#: every secret and every piece of personal data of the configuration below, and of the
#: journal written in the test: none of them may appear anywhere in the site
PERSONAL = {
    # contacts: names, addresses, numbers (as written and as normalised)
    "Alice Martin",
    "alice.martin@example.net",
    "+33 6 12 34 56 78",
    "+33612345678",
    "Bob O'Brien",
    "bob.obrien@example.net",
    "Chloé Dupont",
    "chloe.dupont@example.net",
    "+44 7700 900123",
    "+447700900123",
    # secrets given by reference: tokens, passwords, the sending number
    "api-token-4d1f9c2e",
    "smtp-password-77ab",
    "smtp-user-alerts",
    "tg-bot-123456789:AAbbCCddEEff",
    "mastodon-token-9f8e7d",
    "+33600000001",
    "webhook-secret-5e6f",
    # channels, by URL and by reference
    "tgram://",
    "mailtos://",
    "signal://",
    "contacts[",
    "channels.",
    "hooks.corp.internal",
    # internal hosts the checks name, the evidence, causes, notes and errors of the journal
    "intranet.corp.internal",
    "10.20.30.40",
    "10.0.0.53",
    "vpn.corp.internal",
    "evidence-marker-1f2e",
    "cause-marker-3c4d",
    "note-marker-5a6b",
    "reason-marker-7e8f",
    "delivery-error-marker",
    "connectivity-marker",
    # the operator who noted what they did
    "Claire Operateur",
    # a manual message that names a contact: left out
    "Appelez Alice Martin",
}

CONFIG = """
alternatives = { fr = ["Courriel : contact@example.org", "Accueil : 01 23 45 67 89"], \
en = ["E-mail: contact@example.org", "Front desk: +33 1 23 45 67 89"] }
public_contact_points = ["contact@example.org"]

[catalog]
builtin = false

[daemon]
database_url = "sqlite:///@TMP@/failover.db"
timezone = "Europe/Paris"
api_token = "${env:API_TOKEN}"

[status_page]
languages = ["fr", "en"]
title = "Mairie de Sainte-Exemple : nos lignes"

[detection]
control_quorum = 1

[notify]
smtp_url = "mailtos://${env:SMTP_USER}:${env:SMTP_PASS}@mail.example.org?from=alerts@example.org"
signal_url = "signal://signal-api.example.org:8080/${env:SIGNAL_FROM}"

[platforms.whatsapp]
display_name = "WhatsApp"
family = "meta"
[[platforms.whatsapp.checks]]
kind = "http"
name = "web"
url = "https://www.whatsapp.com/"

[platforms.facebook]
display_name = "Facebook"
family = "meta"
[[platforms.facebook.checks]]
kind = "dns"
name = "authoritative"
qname = "facebook.com"
via = "authoritative"
servers = ["10.0.0.53:53"]

[platforms.intranet]
display_name = "Notre messagerie"
[[platforms.intranet.checks]]
kind = "http"
name = "health"
url = "https://intranet.corp.internal:8443/health"
[[platforms.intranet.checks]]
kind = "tcp"
name = "door"
host = "10.20.30.40"
port = 443
[[platforms.intranet.checks]]
kind = "dns"
name = "vpn"
qname = "vpn.corp.internal"
via = "system"

[controls.gateway]
[[controls.gateway.checks]]
kind = "tcp"
name = "gw"
host = "10.20.30.40"
port = 22

[groups.team]
description = "Les agents de l'accueil"

[[contacts]]
name = "Alice Martin"
id = "alice"
language = "fr"
groups = ["team"]
channels = [{ signal = "+33 6 12 34 56 78" }, { email = "alice.martin@example.net" }]

[[contacts]]
name = "Bob O'Brien"
id = "bob"
language = "en"
groups = ["team"]
channels = [{ url = "tgram://${env:TG_TOKEN}/987654321" }, { email = "bob.obrien@example.net" }]

[[contacts]]
name = "Chloé Dupont"
language = "fr"
groups = ["team"]
channels = [{ signal = "+44 7700 900123" }, { email = "chloe.dupont@example.net" }]

[channels.mastodon-public]
url = "mastodons://${env:MASTODON_TOKEN}@mastodon.social/?visibility=public"
visibility = "public"
language = "fr"

[channels.team-hook]
url = "jsons://hooks.corp.internal/${env:HOOK_SECRET}"
visibility = "private"

[[routes]]
name = "team"
template = "outage"
events = ["confirmed", "resolved", "manual"]
groups = ["team"]
channels = ["team-hook"]

[[routes]]
name = "public"
template = "outage-public"
events = ["confirmed", "resolved"]
channels = ["mastodon-public"]
"""


def config_text(tmp_path: Path) -> str:
    return CONFIG.replace("@TMP@", str(tmp_path))


ENV = {
    "API_TOKEN": "api-token-4d1f9c2e",
    "SMTP_USER": "smtp-user-alerts",
    "SMTP_PASS": "smtp-password-77ab",
    "SIGNAL_FROM": "+33600000001",
    "TG_TOKEN": "tg-bot-123456789:AAbbCCddEEff",
    "MASTODON_TOKEN": "mastodon-token-9f8e7d",
    "HOOK_SECRET": "webhook-secret-5e6f",
}


def forms(value: str) -> set[str]:
    """The ways a value could be written into an HTML, XML, JSON or SVG file."""
    return {
        value,
        html.escape(value),
        html.escape(value, quote=False),
        value.replace("'", "&#39;"),
        json.dumps(value, ensure_ascii=True)[1:-1],
        quote(value),
    }


def leaks(files: Mapping[str, bytes], values: Iterable[str]) -> list[tuple[str, str]]:
    """(file, value) for every value found, in any of its forms, case aside, in any file."""
    found = []
    for path, content in files.items():
        text = content.decode("utf-8", errors="replace").lower()
        for value in values:
            if any(form.lower() in text for form in forms(value)):
                found.append((path, value))
    return found


def write_journal(store: Store) -> None:
    """An open family outage, an open incident of the intranet, two manual failovers (one
    whose message names a contact), notes, notices, deliveries, transitions and a lost
    connectivity, all naming internal detail."""
    family = Incident(
        key="family:meta:now",
        scope=IncidentScope.family,
        kind=IncidentKind.unreachable,
        name="meta",
        platforms=("facebook", "whatsapp"),
        opened_at=OPENED,
        confirmed_at=OPENED + timedelta(minutes=1),
        evidence=("authoritative 10.0.0.53: dns_timeout evidence-marker-1f2e",),
        cause="10.0.0.53 silent cause-marker-3c4d",
    )
    intranet = Incident(
        key="platform:intranet:now",
        scope=IncidentScope.platform,
        kind=IncidentKind.degraded,
        name="intranet",
        platforms=("intranet",),
        opened_at=OPENED,
        confirmed_at=OPENED + timedelta(minutes=2),
        evidence=("https://intranet.corp.internal:8443/health http_status 503 evidence-marker-1f2e",),
        cause="vpn.corp.internal servfail cause-marker-3c4d",
    )
    leaky = Incident(
        key="manual:whatsapp:now",
        scope=IncidentScope.platform,
        kind=IncidentKind.manual,
        name="whatsapp",
        platforms=("whatsapp",),
        opened_at=OPENED + timedelta(minutes=5),
        message="Appelez Alice Martin au +33 6 12 34 56 78",
    )
    clean = Incident(
        key="manual:website:now",
        scope=IncidentScope.custom,
        kind=IncidentKind.manual,
        name="website",
        platforms=(),
        opened_at=OPENED + timedelta(minutes=6),
        message="Le site de la mairie est en maintenance jusqu'à midi.",
    )
    transitions = [
        Transition(
            platform=name,
            previous=Health.up,
            current=Health.down,
            at=OPENED + timedelta(minutes=1),
            reason="10.20.30.40 refused reason-marker-7e8f",
        )
        for name in ("facebook", "whatsapp")
    ]
    drafts = [
        NoticeDraft(
            incident_key=incident.key,
            event=IncidentEvent.manual if incident.kind is IncidentKind.manual else IncidentEvent.confirmed,
            contact_ref=f"contacts[{contact}]",
            template="outage",
            language="fr",
            channel_ref=f"contacts[{contact}].channels[0]",
        )
        for incident in (family, intranet, leaky, clean)
        for contact in ("alice", "bob")
    ]
    stored = store.record_decision(
        at=OPENED + timedelta(minutes=6),
        transitions=transitions,
        incident_events=[
            (IncidentEvent.confirmed, family),
            (IncidentEvent.confirmed, intranet),
            (IncidentEvent.manual, leaky),
            (IncidentEvent.manual, clean),
        ],
        connectivity_events=[
            ConnectivityRecord(
                kind=ConnectivityEvent.lost, at=OPENED - timedelta(hours=1), detail="connectivity-marker"
            )
        ],
        notices=drafts,
    )
    for incident in stored:
        assert incident.id is not None
        store.note_incident(incident.id, "Claire Operateur called the ISP note-marker-5a6b")
        for notice in store.notices(incident.id):
            store.record_delivery(
                notice.id,
                at=NOW - timedelta(minutes=30),
                channel_ref=notice.channel_ref or "contacts[alice].channels[0]",
                outcome=DeliveryOutcome.sent,
                error="delivery-error-marker alice.martin@example.net",
            )


@pytest.fixture
def built(tmp_path: Path) -> Path:
    """The site built by ``failover status-page build`` during the incidents."""
    path = tmp_path / "failover.toml"
    path.write_text(config_text(tmp_path))
    config = parse_config(path.read_text(), source=str(path), env=ENV, cwd=tmp_path)
    with Store.open(config.daemon.database_url) as store:
        store.upgrade()
        store.record_platforms(config.platforms, now=NOW - timedelta(days=30))
        write_journal(store)
    site = tmp_path / "site"
    result = CliRunner().invoke(
        main, ["status-page", "build", "--to", str(site), "--config", str(path)], env=ENV
    )
    assert result.exit_code == 0, result.output
    assert "incident(s) open" in result.output
    return site


def site_files(site: Path) -> dict[str, bytes]:
    return {str(path.relative_to(site)): path.read_bytes() for path in site.rglob("*") if path.is_file()}


class TestPublicOnly:
    def test_no_byte_of_the_site_carries_personal_data(self, built: Path, tmp_path: Path) -> None:
        """Every file of the site (pages, feeds, status.json, badges, the manifest) is
        searched for every name, address, number, token, channel, internal host and
        journal detail, in every escaped form: none is there."""
        written = (tmp_path / "failover.toml").read_text() + "".join(ENV.values())
        # the values searched for are really in the configuration, its environment or the
        # journal (numbers also as the configuration normalises them)
        journal = {"Appelez Alice Martin", "Claire Operateur", "contacts[", "+33612345678", "+447700900123"}
        assert {value for value in PERSONAL if value not in written} - journal == {
            value for value in PERSONAL if value.endswith("marker") or "-marker-" in value
        }
        files = site_files(built)
        assert len(files) >= 15
        assert leaks(files, PERSONAL) == []

    def test_the_site_still_says_what_is_public(self, built: Path) -> None:
        """The same site does tell the incidents, in public words, with the organisation's
        own ways to reach it: the search above is not passing on an empty site."""
        page = (built / "index.html").read_text("utf-8")
        assert "Mairie de Sainte-Exemple : nos lignes" in page
        assert "Nos lignes Facebook et WhatsApp sont indisponibles" in page
        assert "Notre messagerie" in page
        assert "Le site de la mairie est en maintenance jusqu&#39;à midi." in page
        assert "Courriel : contact@example.org" in page
        english = (built / "index.en.html").read_text("utf-8")
        assert "Front desk: +33 1 23 45 67 89" in english

    def test_a_manual_message_naming_a_contact_is_left_out(self, built: Path) -> None:
        """The manual failover whose message names a contact is still shown, with the
        public text's own words instead of the message."""
        document = json.loads((built / "status.json").read_text("utf-8"))
        whatsapp = next(i for i in document["incidents"] if i["kind"] == "manual" and i["name"] == "whatsapp")
        assert whatsapp["text"]["en"]["body"].startswith("We have changed how to reach us for now.")

    def test_the_search_finds_a_leak(self) -> None:
        """The search is not blind: a value, escaped or not, in any case, is found."""
        files = {"index.html": b"<p>Bob O&#39;Brien</p>", "status.json": b'{"x": "ALICE.MARTIN@example.net"}'}
        assert leaks(files, ["Bob O'Brien", "alice.martin@example.net", "Chlo\u00e9"]) == [
            ("index.html", "Bob O'Brien"),
            ("status.json", "alice.martin@example.net"),
        ]

    def test_private_values_keep_what_the_organisation_publishes(self, tmp_path: Path) -> None:
        """What the page must never say covers the contacts and secrets, but not the
        organisation's own published address (it is in its alternatives)."""
        config = parse_config(config_text(tmp_path), source="x", env=ENV, cwd=tmp_path)
        values = private_values(config)
        assert {"Alice Martin", "alice.martin@example.net", "api-token-4d1f9c2e"} <= values
        assert "contact@example.org" not in values
