"""One message per recipient, and public means public: what a channel URL reaches (read
as apprise reads it), the shapes `failover config validate` refuses with their key path,
and personal data kept out of text bound for a public channel (templates, a manual
message, and at send time)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import apprise
import pytest
from click.testing import CliRunner, Result

from failover.cli import main
from failover.config import Config, load_config
from failover.domain import Incident, IncidentEvent, IncidentKind, IncidentScope, NoticeState, Visibility
from failover.errors import ConfigError
from failover.notify import public_text_problems
from failover.notify._plugins import build_plugin
from failover.reach import SUPPORTED_SCHEMES, Audience, channel_reach
from failover.service import ManualPlan, NoticePump, find_target, open_store, plan_manual, plan_notices
from tests.kit import FakeMastodon

NOW = datetime(2026, 10, 4, 15, 40, tzinfo=UTC)
ASSET = apprise.AppriseAsset(app_id="failover", async_mode=False, storage_mode="memory")
TG = "tgram://123456789:AAHfakeTokenForTests_abcdefghijklmnop"
X_KEYS = "ckey/csecret/akey/asecret"
SLACK_HOOK = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"

#: (url, audience, recipients) for every scheme failover accepts
READINGS: list[tuple[str, Audience, int]] = [
    ("mailto://127.0.0.1:25?from=a@example.org&to=b@example.org", Audience.person, 1),
    ("mailtos://u:p@smtp.example.org/b@example.org/c@example.org", Audience.person, 2),
    ("signal://127.0.0.1:8080/+15551234567/+15557654321", Audience.person, 1),
    ("signals://127.0.0.1:8080/+15551234567?to=+15557654321,+15550000001", Audience.person, 2),
    ("signal://127.0.0.1:8080/+15551234567/group.abcdef", Audience.public, 1),
    (f"{TG}/987654321", Audience.person, 1),
    (f"{TG}/-1001234567890", Audience.public, 1),
    (f"{TG}/@ourchannel", Audience.public, 1),
    (f"{TG}/987654321/123456", Audience.person, 2),
    ("mastodon://t0ken@127.0.0.1/@bob?visibility=direct", Audience.person, 1),
    ("mastodons://t0ken@127.0.0.1/@bob/@carol?visibility=direct", Audience.person, 2),
    ("toot://t0ken@127.0.0.1/@bob?visibility=direct&ping=@carol", Audience.person, 2),
    ("toots://t0ken@127.0.0.1", Audience.public, 0),
    ("mastodon://t0ken@127.0.0.1/%23outage?visibility=unlisted", Audience.public, 0),
    (f"x://{X_KEYS}/@alice", Audience.person, 1),
    (f"twitter://alice@{X_KEYS}", Audience.person, 1),
    (f"x://{X_KEYS}/@alice/@bob", Audience.person, 2),
    (f"tweet://{X_KEYS}", Audience.public, 0),
    (f"x://{X_KEYS}?mode=tweet", Audience.public, 0),
    (f"{SLACK_HOOK}/#general", Audience.public, 1),
    (f"{SLACK_HOOK}/@bob", Audience.person, 1),
    (f"{SLACK_HOOK}/@bob/@carol", Audience.person, 2),
    ("whatsapp://abcdefghijklmnop@1234567890/+15557654321", Audience.person, 1),
    ("whatsapp://abcdefghijklmnop@1234567890/+15557654321/+15550000001", Audience.person, 2),
    ("whapi://abcdefghijklmnopqrstuvwxyz123456/+15557654321", Audience.person, 1),
    ("whapi://abcdefghijklmnopqrstuvwxyz123456/120363025555555555@g.us", Audience.public, 1),
    ("ntfy://127.0.0.1:8081/failover", Audience.unknown, 1),
    ("ntfys://ntfy.example.org/a/b", Audience.unknown, 2),
    ("mqtt://127.0.0.1:1883/failover/alerts", Audience.unknown, 1),
    ("mqtts://127.0.0.1/a,b", Audience.unknown, 2),
]
#: schemes whose messages go to one place that names no recipient (a webhook, an app)
ENDPOINTS: list[tuple[str, Audience]] = [
    ("discord://1234567890/abcdefghijklmnopqrstuvwxyz", Audience.public),
    ("json://127.0.0.1:8080/hook", Audience.unknown),
    ("jsons://hooks.example.org/hook", Audience.unknown),
    ("form://127.0.0.1/form", Audience.unknown),
    ("forms://hooks.example.org/form", Audience.unknown),
    ("xml://127.0.0.1/xml", Audience.unknown),
    ("xmls://hooks.example.org/xml", Audience.unknown),
    ("gotify://127.0.0.1/abcdefghijklmno", Audience.unknown),
    ("gotifys://gotify.example.org/abcdefghijklmno", Audience.unknown),
    (SLACK_HOOK, Audience.public),
]


def apprise_recipients(url: str) -> int:
    """How many recipients apprise's own plugin was built with, for comparison."""
    plugin = build_plugin(url, asset=ASSET)
    assert plugin is not None, url
    named = 0
    for attribute in ("targets", "channels", "topics", "cc", "bcc"):
        value = getattr(plugin, attribute, None)
        if isinstance(value, list | tuple | set):
            named += sum(1 for item in value if item is not None)
    pings: Any = getattr(plugin, "ping", None) or []
    return named + sum(1 for ping in pings if str(ping).startswith("@"))


class TestReadingMatchesApprise:
    """failover reads each URL's recipients as apprise's own plugin does."""

    def test_every_accepted_scheme_is_covered_here(self) -> None:
        from failover.reach import url_scheme

        covered = {url_scheme(url) for url, _, _ in READINGS} | {url_scheme(url) for url, _ in ENDPOINTS}
        assert covered == SUPPORTED_SCHEMES

    @pytest.mark.parametrize(("url", "audience", "recipients"), READINGS)
    def test_recipients_and_audience(self, url: str, audience: Audience, recipients: int) -> None:
        reach = channel_reach(url)
        assert (reach.audience, reach.recipients) == (audience, recipients)
        assert reach.recipients == apprise_recipients(url)
        if recipients > 1:
            assert reach.problem == SEVERAL

    @pytest.mark.parametrize(("url", "audience"), ENDPOINTS)
    def test_an_endpoint_is_one_destination(self, url: str, audience: Audience) -> None:
        reach = channel_reach(url)
        assert (reach.audience, reach.recipients, reach.problem) == (audience, 1, None)
        assert apprise_recipients(url) == 0  # apprise names nobody: it posts where it is told

    @pytest.mark.parametrize(
        ("url", "problem"),
        [
            ("mailto://127.0.0.1:25?from=a@example.org", "names no recipient"),
            ("mailto://127.0.0.1:25?from=a@example.org&to=b@example.org&cc=c@example.org", "cc or bcc"),
            ("signal://127.0.0.1:8080/+15551234567", "sending number itself"),
            (TG, "names no chat"),
            ("mastodon://t0ken@127.0.0.1?visibility=direct", "names no one"),
            ("mastodon://t0ken@127.0.0.1/@bob?visibility=public", "may not mention anyone"),
            ("mastodon://t0ken@127.0.0.1?visibility=friends", "unknown Mastodon visibility"),
            (f"x://{X_KEYS}", "names no one"),
            ("pover://uQiRzpo4DXghDmr9QzzfQu27cmVRsG@azGDORePK8gMaC0QOYAMyEEuzJnyUi", "cannot tell whom"),
        ],
    )
    def test_refused_whatever_the_use(self, url: str, problem: str) -> None:
        refusal = channel_reach(url).problem
        assert refusal is not None
        assert problem in refusal
        for secret in ("t0ken", "+1555", "example.org", "uQiRzpo4", "AAHfake", "csecret"):
            assert secret not in refusal


# ------------------------------------------------------------------ `failover config validate`

BASE = """
[catalog]
builtin = false
[detection]
control_quorum = 0
[groups.team]
"""


def contact_with(channel: str) -> str:
    return f"{BASE}[[contacts]]\nname = 'Alice'\ngroups = ['team']\n[[contacts.channels]]\n{channel}\n"


def validate(tmp_path: Path, text: str) -> Result:
    path = tmp_path / "failover.toml"
    path.write_text(text)
    return CliRunner().invoke(main, ["config", "validate", str(path)], env={})


@pytest.fixture(autouse=True)
def _in_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FAILOVER_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)


SEVERAL = "reaches 2 recipients; one message per recipient: give each person their own channel"
PUBLIC_CONTACT = "is read by the public or a group: a contact's channel reaches that contact alone"


class TestConfigValidateRefuses:
    """Each shape that breaks one-message-per-recipient or public-means-public is refused
    by `failover config validate`: exit 1, one line naming the key."""

    @pytest.mark.parametrize(
        ("channel", "key", "message"),
        [
            pytest.param(
                "url = 'mailto://127.0.0.1:25?from=f@example.org&to=b@example.org,c@example.org'",
                "contacts[0].channels[0].url",
                SEVERAL,
                id="mail-two-to",
            ),
            pytest.param(
                "url = 'mailtos://u:p@smtp.example.org/b@example.org/c@example.org'",
                "contacts[0].channels[0].url",
                SEVERAL,
                id="mail-two-in-path",
            ),
            pytest.param(
                "url = 'mailto://127.0.0.1:25?from=f@example.org&to=b@example.org&bcc=c@example.org'",
                "contacts[0].channels[0].url",
                "may not have cc or bcc recipients",
                id="mail-bcc",
            ),
            pytest.param(
                "url = 'mailto://127.0.0.1:25?from=f@example.org'",
                "contacts[0].channels[0].url",
                "names no recipient",
                id="mail-none",
            ),
            pytest.param(
                "url = 'mastodon://t0ken@127.0.0.1/@bob/@carol?visibility=direct'",
                "contacts[0].channels[0].url",
                SEVERAL,
                id="mastodon-dm-two-mentions",
            ),
            pytest.param(
                "url = 'mastodon://t0ken@127.0.0.1/@bob?visibility=direct&ping=@carol'",
                "contacts[0].channels[0].url",
                SEVERAL,
                id="mastodon-dm-ping",
            ),
            pytest.param(
                "url = 'signal://127.0.0.1:8080/+15551234567/+15557654321/+15550000001'",
                "contacts[0].channels[0].url",
                SEVERAL,
                id="signal-two",
            ),
            pytest.param(
                "url = 'signal://127.0.0.1:8080/+15551234567?to=+15557654321,+15550000001'",
                "contacts[0].channels[0].url",
                SEVERAL,
                id="signal-two-to",
            ),
            pytest.param(
                f"url = '{TG}/987654321/123456'", "contacts[0].channels[0].url", SEVERAL, id="telegram-two"
            ),
            pytest.param(
                f"url = 'x://{X_KEYS}/@alice/@bob'", "contacts[0].channels[0].url", SEVERAL, id="x-dm-two"
            ),
            pytest.param(
                "url = 'whatsapp://abcdefghijklmnop@1234567890/+15557654321/+15550000001'",
                "contacts[0].channels[0].url",
                SEVERAL,
                id="whatsapp-two",
            ),
            pytest.param(
                "url = 'whapi://abcdefghijklmnopqrstuvwxyz123456/+15557654321?to=+15550000001'",
                "contacts[0].channels[0].url",
                SEVERAL,
                id="whapi-two",
            ),
            pytest.param(
                f"url = '{SLACK_HOOK}/@bob/@carol'", "contacts[0].channels[0].url", SEVERAL, id="slack-two"
            ),
            pytest.param(
                "url = 'ntfy://127.0.0.1:8081/a/b'\nvisibility = 'private'",
                "contacts[0].channels[0].url",
                SEVERAL,
                id="ntfy-two",
            ),
            pytest.param(
                "url = 'mqtt://127.0.0.1:1883/a,b'\nvisibility = 'private'",
                "contacts[0].channels[0].url",
                SEVERAL,
                id="mqtt-two",
            ),
            pytest.param(
                "url = 'pover://uQiRzpo4DXghDmr9QzzfQu27cmVRsG@azGDORePK8gMaC0QOYAMyEEuzJnyUi'",
                "contacts[0].channels[0].url",
                "failover cannot tell whom a 'pover://' URL reaches",
                id="unknown-scheme",
            ),
            pytest.param(
                f"url = 'tweet://{X_KEYS}'", "contacts[0].channels[0].url", PUBLIC_CONTACT, id="tweet"
            ),
            pytest.param(
                f"url = 'x://{X_KEYS}?mode=tweet'",
                "contacts[0].channels[0].url",
                PUBLIC_CONTACT,
                id="x-tweet",
            ),
            pytest.param(
                f"url = '{TG}/@ourchannel'",
                "contacts[0].channels[0].url",
                PUBLIC_CONTACT,
                id="telegram-channel",
            ),
            pytest.param(
                f"url = '{TG}/-1001234567890'",
                "contacts[0].channels[0].url",
                PUBLIC_CONTACT,
                id="telegram-group",
            ),
            pytest.param(
                "url = 'discord://1234567890/abcdefghijklmnopqrstuvwxyz'",
                "contacts[0].channels[0].url",
                PUBLIC_CONTACT,
                id="discord",
            ),
            pytest.param(
                f"url = '{SLACK_HOOK}/#general'",
                "contacts[0].channels[0].url",
                PUBLIC_CONTACT,
                id="slack-channel",
            ),
            pytest.param(
                "url = 'mastodon://t0ken@127.0.0.1?visibility=unlisted'",
                "contacts[0].channels[0].url",
                PUBLIC_CONTACT,
                id="mastodon-unlisted",
            ),
            pytest.param(
                "url = 'signal://127.0.0.1:8080/+15551234567/group.abcdef'",
                "contacts[0].channels[0].url",
                PUBLIC_CONTACT,
                id="signal-group",
            ),
            pytest.param(
                "url = 'json://127.0.0.1:8080/hook'",
                "contacts[0].channels[0].url",
                "add visibility = 'private' if it reaches this contact alone",
                id="webhook-undeclared",
            ),
            pytest.param(
                "url = 'ntfy://127.0.0.1:8081/alice'",
                "contacts[0].channels[0].url",
                "add visibility = 'private' if it reaches this contact alone",
                id="ntfy-undeclared",
            ),
            pytest.param(
                "url = 'mailto://127.0.0.1:25?from=f@example.org&to=b@example.org'\nvisibility = 'public'",
                "contacts[0].channels[0].visibility",
                "a contact's channel is private",
                id="contact-declared-public",
            ),
        ],
    )
    def test_a_contacts_channel(self, tmp_path: Path, channel: str, key: str, message: str) -> None:
        result = validate(tmp_path, contact_with(channel))
        assert result.exit_code == 1, result.output
        [line] = result.stderr.splitlines()
        assert line.startswith(f"failover: {tmp_path / 'failover.toml'}: {key}: ")
        assert message in line
        for secret in ("t0ken", "+1555", "b@example.org", "AAHfake", "csecret", "uQiRzpo4"):
            assert secret not in line

    @pytest.mark.parametrize(
        ("notify", "key"),
        [
            ("signal_url = 'signal://127.0.0.1:8080/+15551234567/+15557654321'", "notify.signal_url"),
            ("signal_url = 'signal://127.0.0.1:8080/+15551234567?to=+15557654321'", "notify.signal_url"),
            ("smtp_url = 'mailto://127.0.0.1:25?from=f@example.org&to=b@example.org'", "notify.smtp_url"),
            ("smtp_url = 'mailto://127.0.0.1:25/b@example.org?from=f@example.org'", "notify.smtp_url"),
            ("smtp_url = 'mailto://127.0.0.1:25?from=f@example.org&bcc=b@example.org'", "notify.smtp_url"),
        ],
    )
    def test_a_shared_base_url_that_names_a_recipient(self, tmp_path: Path, notify: str, key: str) -> None:
        """Every contact's number or address is added to the base: a recipient already
        there would get every contact's message."""
        result = validate(tmp_path, f"{BASE}[notify]\n{notify}\n")
        assert result.exit_code == 1, result.output
        assert f"{key}: already names a recipient, who would get every contact's message" in result.stderr

    @pytest.mark.parametrize(
        "url",
        [
            f"tweet://{X_KEYS}",
            f"{TG}/@ourchannel",
            "discord://1234567890/abcdefghijklmnopqrstuvwxyz",
            "toot://t@h",
        ],
    )
    def test_a_public_audience_declared_private(self, tmp_path: Path, url: str) -> None:
        result = validate(tmp_path, f"{BASE}[channels.news]\nurl = '{url}'\nvisibility = 'private'\n")
        assert result.exit_code == 1, result.output
        assert "channels.news.visibility: " in result.stderr
        assert "is read by the public or a group: it is public" in result.stderr

    @pytest.mark.parametrize(
        "url",
        [
            f"tweet://{X_KEYS}",
            f"{TG}/-1001234567890",
            f"{SLACK_HOOK}/#general",
            "ntfy://ntfy.example.org/failover-news",
            "json://hooks.example.org/news",
        ],
    )
    def test_a_private_template_never_reaches_a_public_audience(self, tmp_path: Path, url: str) -> None:
        """Without a visibility, what the URL does decides: these are public, so a route
        may not send them the private built-in 'outage' text."""
        text = (
            f"{BASE}[channels.news]\nurl = '{url}'\n"
            "[[routes]]\nname = 'news'\ntemplate = 'outage'\nchannels = ['news']\n"
        )
        result = validate(tmp_path, text)
        assert result.exit_code == 1, result.output
        assert "routes[0].channels[0]: public channel 'news' may not receive private template 'outage'" in (
            result.stderr
        )

    def test_a_public_template_with_personal_data(self, tmp_path: Path) -> None:
        text = (
            f"{BASE}[templates.news]\nvisibility = 'public'\n"
            "fr = { subject = 'Panne', body = 'Appelez le 06 12 34 56 78 ou écrivez à marie@example.org' }\n"
        )
        result = validate(tmp_path, text)
        assert result.exit_code == 1, result.output
        [line] = result.stderr.splitlines()
        assert "templates.news.fr.body: a public template may carry no personal data: " in line
        assert "a phone number (ending in 5678) not among public_contact_points" in line
        assert "an e-mail address (…@example.org) not among public_contact_points" in line


class TestConfigValidateAccepts:
    """One recipient per channel, in every accepted scheme, and the visibility it gets."""

    @pytest.mark.parametrize(
        "channel",
        [
            "url = 'mailtos://u:p@smtp.example.org?to=alice@example.org'",
            "url = 'signals://127.0.0.1:8080/+15551234567/+15557654321'",
            f"url = '{TG}/987654321'",
            "url = 'mastodons://t0ken@127.0.0.1/@alice?visibility=direct'",
            "url = 'toot://t0ken@127.0.0.1/@alice?visibility=direct'",
            f"url = 'x://{X_KEYS}/@alice'",
            f"url = '{SLACK_HOOK}/@alice'",
            "url = 'whatsapp://abcdefghijklmnop@1234567890/+15557654321'",
            "url = 'whapi://abcdefghijklmnopqrstuvwxyz123456/+15557654321'",
            "url = 'json://127.0.0.1:8080/alice'\nvisibility = 'private'",
            "url = 'ntfys://ntfy.example.org/alice-7f3a'\nvisibility = 'private'",
            "url = 'mqtt://127.0.0.1:1883/alice'\nvisibility = 'private'",
            "url = 'gotify://127.0.0.1/abcdefghijklmno'\nvisibility = 'private'",
        ],
    )
    def test_a_contacts_channel(self, tmp_path: Path, channel: str) -> None:
        result = validate(tmp_path, contact_with(channel))
        assert result.exit_code == 0, result.stderr
        config = load_config(tmp_path / "failover.toml", env={})
        assert config.contacts[0].channels[0].visibility is Visibility.private

    @pytest.mark.parametrize(
        ("url", "visibility"),
        [
            (f"tweet://{X_KEYS}", Visibility.public),
            (f"{TG}/@ourchannel", Visibility.public),
            ("discord://1234567890/abcdefghijklmnopqrstuvwxyz", Visibility.public),
            (f"{SLACK_HOOK}/#general", Visibility.public),
            ("mastodons://t0ken@127.0.0.1", Visibility.public),
            ("json://hooks.example.org/news", Visibility.public),
            ("mqtts://127.0.0.1/news", Visibility.public),
            ("mailto://127.0.0.1:25?from=f@example.org&to=ops@example.org", Visibility.private),
        ],
    )
    def test_a_shared_channels_visibility_is_what_its_url_does(
        self, tmp_path: Path, url: str, visibility: Visibility
    ) -> None:
        result = validate(tmp_path, f"{BASE}[channels.news]\nurl = '{url}'\n")
        assert result.exit_code == 0, result.stderr
        config = load_config(tmp_path / "failover.toml", env={})
        assert config.channels["news"].visibility is visibility

    def test_a_webhook_declared_private_is_private(self, tmp_path: Path) -> None:
        validate(tmp_path, f"{BASE}[channels.ops]\nurl = 'json://127.0.0.1/ops'\nvisibility = 'private'\n")
        config = load_config(tmp_path / "failover.toml", env={})
        assert config.channels["ops"].visibility is Visibility.private


# ------------------------------------------------------------------------ personal data


def config_for_public_text(tmp_path: Path, mastodon_port: int = 9) -> Config:
    path = tmp_path / "failover.toml"
    path.write_text(
        f"""
alternatives = ["E-mail: contact@example.org", "Phone: +33 1 23 45 67 89"]
public_contact_points = ["press@example.org", "01 98 76 54 32"]

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

[[contacts]]
id = "marie"
name = "Marie Curie"
groups = ["team"]
[[contacts.channels]]
url = "mailto://127.0.0.1:9?from=failover@example.org&to=marie@example.org"

[channels.announce]
url = "mastodon://t0ken@127.0.0.1:{mastodon_port}/"
depends_on = []

[[routes]]
name = "team"
template = "manual"
events = ["manual"]
groups = ["team"]

[[routes]]
name = "public"
template = "manual-public"
events = ["manual"]
channels = ["announce"]
"""
    )
    return load_config(path, env={})


class TestPublicTextProblems:
    """E-mail addresses, phone numbers and contacts' names that are not the
    organisation's own contact points are found, without repeating them."""

    def test_the_organisations_own_contact_points_pass(self, tmp_path: Path) -> None:
        config = config_for_public_text(tmp_path)
        text = (
            "WhatsApp is down since 2026-10-04 17:41 CEST (4 October). Write to contact@example.org or "
            "press@example.org, call +33 1 23 45 67 89 or 01 98 76 54 32. Ref 20261004-1741."
        )
        assert public_text_problems(text, config) == []

    def test_anything_else_is_a_problem(self, tmp_path: Path) -> None:
        config = config_for_public_text(tmp_path)
        text = "Call marie CURIE on +44 20 7946 0958 or 06 12 34 56 78, or mail marie@example.org."
        assert public_text_problems(text, config) == [
            "an e-mail address (…@example.org) not among public_contact_points",
            "a phone number (ending in 0958) not among public_contact_points",
            "a phone number (ending in 5678) not among public_contact_points",
            "the name of contact marie",
        ]


def manual_plan(config: Config, message: str, groups: tuple[str, ...] = ()) -> ManualPlan:
    return plan_manual(config, find_target(config, "whatsapp"), message=message, now=NOW, groups=groups)


class TestManualMessageBoundForAPublicChannel:
    """A manual message with a phone number is refused when it would be posted publicly."""

    def test_plan_refuses_it_naming_the_public_channel(self, tmp_path: Path) -> None:
        config = config_for_public_text(tmp_path)
        with pytest.raises(ConfigError) as caught:
            manual_plan(config, "WhatsApp is down: call us on 06 12 34 56 78")
        assert caught.value.key == "message"
        assert caught.value.message == (
            "the message goes to public channels (channels.announce) and may carry no personal data: "
            "a phone number (ending in 5678) not among public_contact_points"
        )

    def test_the_same_message_for_the_team_alone_is_allowed(self, tmp_path: Path) -> None:
        config = config_for_public_text(tmp_path)
        plan = manual_plan(config, "WhatsApp is down: call Marie on 06 12 34 56 78", groups=("team",))
        assert [draft.contact_ref for draft in plan.drafts] == ["marie"]

    def test_failover_trigger_refuses_it(self, tmp_path: Path) -> None:
        config_for_public_text(tmp_path)
        result = CliRunner().invoke(
            main,
            [
                "trigger",
                "whatsapp",
                "--message",
                "Call us on +33 6 12 34 56 78",
                "--yes",
                "--config",
                "failover.toml",
            ],
            env={},
        )
        assert result.exit_code == 1, result.output
        assert "the message goes to public channels (channels.announce)" in result.stderr
        assert "a phone number (ending in 5678)" in result.stderr
        assert "+33 6 12" not in result.stderr

    async def test_at_send_time_the_public_notice_fails_unsent(
        self, tmp_path: Path, fake_mastodon: FakeMastodon
    ) -> None:
        """The last guard: a manual incident queued some other way (here straight into the
        outbox) posts nothing publicly; its notice fails with the typed reason."""
        config = config_for_public_text(tmp_path, mastodon_port=fake_mastodon.port)
        now = NOW
        incident = Incident(
            key="custom:phones:20261004T1540Z",
            scope=IncidentScope.custom,
            kind=IncidentKind.manual,
            name="phones",
            platforms=(),
            opened_at=now,
            message="Our lines are down: call Marie on 06 12 34 56 78",
        )
        changes = [(IncidentEvent.manual, incident)]
        with open_store(config) as store:
            [stored] = store.record_decision(
                at=now, incident_events=changes, notices=plan_notices(config, changes, now=now, groups=None)
            )
            assert stored.id is not None
            async with NoticePump(config=config, store=store, clock=lambda: now) as pump:
                await pump.deliver_due()
            announce = next(n for n in store.notices(stored.id) if n.contact_ref == "channels.announce")
        assert fake_mastodon.statuses == []
        assert announce.state is NoticeState.failed
        assert announce.last_error is not None
        assert announce.last_error.startswith(
            "public text with personal data: a phone number (ending in 5678)"
        )
