"""A manual failover's message written per language: each contact is sent the text of
their language (else the message for every language), the preview says who is not read
to in their own language and what they get instead, a language no text can be written in
is refused, and every language's text is checked before it may go to a public channel.

Over real protocols on 127.0.0.1: the CLI and the HTTP API deliver to an SMTP server and
the fake Mastodon API, and what they received is counted there.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from failover.api import create_app
from failover.cli import main
from failover.config import Config, load_config
from failover.domain import IncidentEvent
from failover.metrics import exposition_app
from failover.service import (
    MESSAGE_LANGUAGES,
    Daemon,
    PreviewGap,
    deliver_manual,
    find_target,
    open_store,
    plan_manual,
    run_async,
    utc_now,
)
from failover.service._http import DaemonBackend
from failover.service._manual_target import find_coverage
from failover.service._trigger import open_manual, record_trigger
from failover.store import Store
from tests.api.test_api import TOKEN, serving
from tests.config.test_channel_rules import config_for_public_text
from tests.kit import FakeMastodon, SmtpSink
from tests.service.test_manual import NOW

FRENCH = "WhatsApp est en panne : écrivez-nous à @support@example.social."
ENGLISH = "WhatsApp is down: write to us at @support@example.social."
PLAIN = "WhatsApp is down: use e-mail."
#: the mentions a Mastodon server reads in a status (its ``Account::MENTION_RE``)
SERVER_MENTION = re.compile(r"(?<![=/\w])@([a-z0-9_]+(?:[.-]+[a-z0-9_]+)*(?:@\w+(?:[.-]+\w+)*)?)", re.I)


def write_config(
    tmp_path: Path,
    *,
    smtp_port: int = 9,
    mastodon_port: int | None = None,
    alternatives: str = "",
    team_template: str = "manual",
    templates: str = "",
) -> Path:
    """Alice (fr) and Bob (en) in the team, Carol (en) on the board, all by e-mail; with
    ``mastodon_port``, Dora (fr, team) by Mastodon direct message."""
    people = [("Alice", "fr", "team"), ("Bob", "en", "team"), ("Carol", "en", "board")]
    contacts = "".join(
        f"""
[[contacts]]
name = "{name}"
id = "{name.lower()}"
language = "{language}"
groups = ["{group}"]
[[contacts.channels]]
url = "mailto://127.0.0.1:{smtp_port}?from=failover@example.org&to={name.lower()}@example.org"
"""
        for name, language, group in people
    )
    if mastodon_port is not None:
        contacts += f"""
[[contacts]]
name = "Dora"
id = "dora"
language = "fr"
groups = ["team"]
[[contacts.channels]]
url = "mastodon://t0ken@127.0.0.1:{mastodon_port}/@dora?visibility=direct"
depends_on = []  # (the fake platforms answer on 127.0.0.1 too)
"""
    path = tmp_path / "failover.toml"
    path.write_text(
        f"""
{alternatives}

[catalog]
builtin = false

[daemon]
database_url = "sqlite:///{tmp_path}/failover.db"

[detection]
control_quorum = 0

[platforms.whatsapp]
[[platforms.whatsapp.checks]]
kind = "tcp"
name = "tcp"
host = "127.0.0.1"
port = 9

[groups.team]
[groups.board]
{contacts}
{templates}

[[routes]]
name = "team"
template = "{team_template}"
events = ["manual"]
groups = ["team"]

[[routes]]
name = "board"
template = "manual"
events = ["manual"]
groups = ["board"]
"""
    )
    return path


def received_by(sink: SmtpSink, count: int) -> dict[str, str]:
    """The text each address received, once ``count`` messages have come."""
    return {m.rcpt_tos[0]: m.message.get_content() for m in sink.wait_for(count)}


def languages_received(texts: dict[str, str]) -> dict[str, int]:
    """How many recipients received the French text, the English one, the plain one."""
    return {
        "fr": sum(FRENCH in text for text in texts.values()),
        "en": sum(ENGLISH in text for text in texts.values()),
        "plain": sum(PLAIN in text for text in texts.values()),
    }


class TestTriggerCommand:
    """`failover trigger --message-fr … --message-en …`, delivering by itself (no daemon)."""

    def test_each_contact_is_sent_the_text_of_their_language(
        self, tmp_path: Path, smtp_sink: SmtpSink, fake_mastodon: FakeMastodon
    ) -> None:
        path = write_config(tmp_path, smtp_port=smtp_sink.port, mastodon_port=fake_mastodon.port)
        result = CliRunner().invoke(
            main,
            [
                *("trigger", "whatsapp", "--message-fr", FRENCH, "--message-en", ENGLISH),
                *("--yes", "--config", str(path)),
            ],
        )
        assert result.exit_code == 0, result.output
        assert "4 sent" in result.output
        texts = received_by(smtp_sink, 3)
        assert FRENCH in texts["alice@example.org"]
        assert ENGLISH in texts["bob@example.org"]
        assert ENGLISH in texts["carol@example.org"]
        assert languages_received(texts) == {"fr": 1, "en": 2, "plain": 0}
        # Dora (fr) reads French on Mastodon, and the direct message reaches her alone
        (status,) = fake_mastodon.statuses
        assert FRENCH in status["status"].replace("\u2060", "")
        assert ENGLISH not in status["status"].replace("\u2060", "")
        assert SERVER_MENTION.findall(status["status"]) == ["dora"]

    def test_a_language_without_its_text_gets_the_message_for_every_language(
        self, tmp_path: Path, smtp_sink: SmtpSink
    ) -> None:
        path = write_config(tmp_path, smtp_port=smtp_sink.port)
        result = CliRunner().invoke(
            main,
            ["trigger", "whatsapp", "-m", PLAIN, "--message-fr", FRENCH, "--yes", "--config", str(path)],
        )
        assert result.exit_code == 0, result.output
        texts = received_by(smtp_sink, 3)
        assert FRENCH in texts["alice@example.org"]
        assert languages_received(texts) == {"fr": 1, "en": 0, "plain": 2}

    def test_the_preview_lists_who_is_not_read_to_in_their_language(self, tmp_path: Path) -> None:
        """Only a French text, alternatives in French only, a template of the team's in
        English only: each gap is named with its readers and what they get instead."""
        path = write_config(
            tmp_path,
            alternatives='alternatives = { fr = ["Courriel : contact@example.org"] }',
            team_template="brief",
            templates="""
[templates.brief]
visibility = "private"
en = { subject = "{{ names }}: down", body = "Hello {{ contact_name }}, {{ message }}" }
""",
        )
        result = CliRunner(env={"COLUMNS": "200"}).invoke(
            main, ["trigger", "whatsapp", "--message-fr", FRENCH, "--dry-run", "--config", str(path)]
        )
        assert result.exit_code == 0, result.output
        gaps = result.output.split("Not written in every recipient's language:")[1].split("recipients per")[0]
        assert [line.strip() for line in gaps.strip().splitlines()] == [
            "en (2 recipient(s)): no alternatives written in en; they get the fr alternatives",
            "en (2 recipient(s)): no message written in en; they get the fr message",
            "fr (1 recipient(s)): template 'brief' has no fr text; they get its en one",
        ]
        assert "nothing recorded" in result.output

    def test_the_message_for_every_language_leaves_no_gap(self, tmp_path: Path) -> None:
        path = write_config(tmp_path, alternatives='alternatives = ["E-mail: contact@example.org"]')
        result = CliRunner(env={"COLUMNS": "200"}).invoke(
            main,
            ["trigger", "whatsapp", "-m", PLAIN, "--message-fr", FRENCH, "--dry-run", "--config", str(path)],
        )
        assert result.exit_code == 0, result.output
        assert "Not written in every recipient's language" not in result.output

    def test_an_unknown_language_is_a_usage_error_naming_it(self, tmp_path: Path) -> None:
        path = write_config(tmp_path)
        result = CliRunner().invoke(
            main, ["trigger", "whatsapp", "--message-de", "Hallo", "--yes", "--config", str(path)]
        )
        assert result.exit_code == 3, result.output
        assert "no message can be written in 'de'" in result.output
        assert "--message-en, --message-fr, or --message for every language" in result.output
        with open_store(load_config(path, env={})) as store:
            assert store.incidents() == []

    @pytest.mark.parametrize(
        ("arguments", "code", "error"),
        [
            ([], 3, "Missing option '-m' / '--message' (or --message-en, --message-fr)"),
            (["--message-en", "  "], 1, "--message-en must not be blank"),
        ],
    )
    def test_a_message_is_required_in_some_language(
        self, tmp_path: Path, arguments: list[str], code: int, error: str
    ) -> None:
        path = write_config(tmp_path)
        result = CliRunner().invoke(main, ["trigger", "whatsapp", *arguments, "--yes", "--config", str(path)])
        assert result.exit_code == code, result.output
        assert error in result.output

    def test_a_phone_number_in_any_languages_text_for_a_public_channel_is_refused(
        self, tmp_path: Path
    ) -> None:
        """The public channel posts in English; the French text is checked all the same."""
        config_for_public_text(tmp_path)
        result = CliRunner().invoke(
            main,
            [
                *(
                    "trigger",
                    "whatsapp",
                    "-m",
                    "WhatsApp is down",
                    "--message-fr",
                    "Appelez le 06 12 34 56 78",
                ),
                *("--yes", "--config", str(tmp_path / "failover.toml")),
            ],
        )
        assert result.exit_code == 1, result.output
        assert "messages.fr: the fr message goes to public channels (channels.announce)" in result.output
        assert "a phone number (ending in 5678)" in result.output
        assert "06 12" not in result.output
        with open_store(load_config(tmp_path / "failover.toml", env={})) as store:
            assert store.incidents() == []

    def test_the_journal_keeps_every_languages_text(self, tmp_path: Path) -> None:
        path = write_config(tmp_path)
        config = load_config(path, env={})
        plan = plan_manual(
            config,
            find_target(config, "whatsapp"),
            message=PLAIN,
            messages={"fr": FRENCH, "en": ENGLISH},
            now=NOW,
        )
        with open_store(config) as store:
            open_manual(store, plan, now=NOW)
        result = CliRunner().invoke(
            main, ["incidents", "--since", "3650d", "--export", "markdown", "--config", str(path)]
        )
        assert result.exit_code == 0, result.output
        assert f"- **Message sent:** {PLAIN}" in result.output
        assert f"- **Message sent (en):** {ENGLISH}" in result.output
        assert f"- **Message sent (fr):** {FRENCH}" in result.output


class TestPlan:
    """What the plan queues: each notice with its reader's text."""

    def test_each_draft_carries_its_readers_text(self, tmp_path: Path) -> None:
        config = load_config(write_config(tmp_path), env={})
        plan = plan_manual(
            config, find_target(config, "whatsapp"), message="", messages={"fr": FRENCH}, now=NOW
        )
        assert {d.contact_ref: d.message for d in plan.drafts} == {
            "alice": FRENCH,
            "bob": FRENCH,  # no English text, no text for every language: another language's
            "carol": FRENCH,
        }
        assert plan.incident.messages == (("fr", FRENCH),)
        assert PreviewGap(language="en", what="message", used="fr", recipients=2) in plan.gaps

    def test_an_update_in_one_text_replaces_the_texts_per_language(self, tmp_path: Path) -> None:
        """An update of an incident opened with texts per language, in one text for every
        language: nobody is sent the earlier texts."""
        config = load_config(write_config(tmp_path), env={})
        target = find_target(config, "whatsapp")
        first = plan_manual(config, target, message="", messages={"fr": FRENCH, "en": ENGLISH}, now=NOW)
        with open_store(config) as store:
            open_manual(store, first, now=NOW)
            update = plan_manual(
                config, target, message=PLAIN, now=NOW, covered_by=find_coverage(store, target)
            )
            record_trigger(store, update, update=True, via="cli", now=NOW)
            [entry] = store.incidents()
            notices = store.notices(entry.incident.id or 0)
        assert {d.message for d in update.drafts} == {PLAIN}
        assert [n.message for n in notices if n.event_key and "/update/" in n.event_key] == [PLAIN] * 3
        assert entry.incident.messages == (("en", ENGLISH), ("fr", FRENCH)), "the journal keeps the first"

    def test_the_languages_are_those_of_the_builtin_texts(self) -> None:
        assert MESSAGE_LANGUAGES == ("en", "fr")


# ------------------------------------------------------------------------------ the HTTP API


@dataclass
class Surface:
    """The daemon's HTTP surface with its real backend and store (no rounds, no pump)."""

    client: httpx.Client
    store: Store
    config: Config

    def trigger(self, **body: Any) -> httpx.Response:
        return self.client.post("/api/v1/trigger", json=body, headers={"Authorization": f"Bearer {TOKEN}"})

    def deliver(self, incident_id: int) -> dict[str, int]:
        """Deliver the incident's notices from this process, as `failover trigger` does."""
        report = run_async(deliver_manual(self.config, incident_id, on_progress=lambda _done, _total: None))
        return {state.value: count for state, count in report.states.items()}


@contextmanager
def surface_for(config: Config) -> Iterator[Surface]:
    daemon = Daemon(config, reload=lambda: config, env={}, clock=utc_now)
    with open_store(config) as store:
        daemon.store = store
        app = create_app(DaemonBackend(daemon), token=TOKEN, metrics=exposition_app(daemon.registry))
        with serving(app) as url, httpx.Client(base_url=url, trust_env=False, timeout=10) as client:
            yield Surface(client=client, store=store, config=config)


@pytest.mark.slow
class TestTriggerApi:
    """POST /api/v1/trigger with ``"messages": {"fr": …, "en": …}``, over HTTP."""

    def test_each_contact_is_sent_the_text_of_their_language(
        self, tmp_path: Path, smtp_sink: SmtpSink
    ) -> None:
        config = load_config(write_config(tmp_path, smtp_port=smtp_sink.port), env={})
        with surface_for(config) as surface:
            response = surface.trigger(target="whatsapp", messages={"fr": FRENCH, "en": ENGLISH})
            assert response.status_code == 202, response.text
            incident_id = response.json()["id"]
            assert surface.deliver(incident_id) == {"sent": 3}
            journal = surface.client.get("/api/v1/incidents").json()["incidents"]
        texts = received_by(smtp_sink, 3)
        assert FRENCH in texts["alice@example.org"]
        assert languages_received(texts) == {"fr": 1, "en": 2, "plain": 0}
        assert [(entry["id"], entry["messages"]) for entry in journal] == [
            (incident_id, {"en": ENGLISH, "fr": FRENCH})
        ]

    def test_the_message_fills_in_for_a_language_without_its_text(
        self, tmp_path: Path, smtp_sink: SmtpSink
    ) -> None:
        config = load_config(write_config(tmp_path, smtp_port=smtp_sink.port), env={})
        with surface_for(config) as surface:
            response = surface.trigger(target="whatsapp", message=PLAIN, messages={"fr": FRENCH})
            assert response.status_code == 202, response.text
            assert surface.deliver(response.json()["id"]) == {"sent": 3}
        assert languages_received(received_by(smtp_sink, 3)) == {"fr": 1, "en": 0, "plain": 2}

    def test_the_dry_run_lists_the_language_gaps(self, tmp_path: Path) -> None:
        config = load_config(
            write_config(tmp_path, alternatives='alternatives = ["E-mail: contact@example.org"]'), env={}
        )
        with surface_for(config) as surface:
            response = surface.trigger(target="whatsapp", messages={"fr": FRENCH}, dry_run=True)
            assert surface.store.incidents() == []
        assert response.status_code == 200, response.text
        preview = response.json()["preview"]
        assert preview["language_gaps"] == [
            {"language": "en", "what": "message", "template": None, "used": "fr", "recipients": 2}
        ]
        assert {text["language"] for text in preview["texts"]} == {"en", "fr"}
        assert all(FRENCH in text["body"] for text in preview["texts"])

    @pytest.mark.parametrize("language", ["de", "fr-CA"])
    def test_an_unknown_language_is_refused_naming_it(self, tmp_path: Path, language: str) -> None:
        config = load_config(write_config(tmp_path), env={})
        with surface_for(config) as surface:
            response = surface.trigger(target="whatsapp", message=PLAIN, messages={language: "Hallo"})
            assert surface.store.incidents() == []
        assert response.status_code == 422
        answer = response.json()
        assert answer["detail"] == [f"messages.{language}"]
        assert f"no texts are written in {language!r}" in answer["error"]
        assert "en, fr" in answer["error"]

    def test_a_language_code_that_is_none_is_refused_without_echoing_it(self, tmp_path: Path) -> None:
        config = load_config(write_config(tmp_path), env={})
        with surface_for(config) as surface:
            response = surface.trigger(target="whatsapp", messages={"+33612345678": "x"})
        assert response.status_code == 422
        assert "+33612345678" not in response.text

    def test_a_message_is_required_in_some_language(self, tmp_path: Path) -> None:
        config = load_config(write_config(tmp_path), env={})
        with surface_for(config) as surface:
            response = surface.trigger(target="whatsapp", messages={})
            blank = surface.trigger(target="whatsapp", messages={"fr": "  "})
        assert response.status_code == 422
        assert response.json()["detail"] == ['message: required (or "messages", one text per language)']
        assert blank.status_code == 422
        assert blank.json()["detail"][0].startswith("messages.fr: ")

    def test_a_phone_number_in_any_languages_text_for_a_public_channel_is_refused(
        self, tmp_path: Path
    ) -> None:
        config = config_for_public_text(tmp_path)
        with surface_for(config) as surface:
            response = surface.trigger(
                target="whatsapp",
                message="WhatsApp is down",
                messages={"en": "Write to press@example.org", "fr": "Appelez le 06 12 34 56 78"},
            )
            assert surface.store.incidents() == []
        assert response.status_code == 422
        answer = response.json()
        assert answer["detail"] == ["messages.fr"]
        assert answer["error"].startswith("the fr message goes to public channels (channels.announce)")
        assert "06 12" not in response.text


def test_the_plan_event_is_the_manual_one(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path), env={})
    plan = plan_manual(config, find_target(config, "whatsapp"), message=PLAIN, now=NOW)
    assert plan.event is IncidentEvent.manual
    assert plan.gaps == (
        PreviewGap(language="en", what="alternatives", used=None, recipients=2),
        PreviewGap(language="fr", what="alternatives", used=None, recipients=1),
    )
