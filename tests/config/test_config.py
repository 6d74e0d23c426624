"""The configuration loader: one TOML file → frozen, cross-checked configuration."""

from __future__ import annotations

import re
import typing
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel

from failover.config import (
    BUILTIN_SOURCE,
    Config,
    find_config_path,
    infer_depends_on,
    load_config,
    parse_config,
    parse_duration,
    redacted_config,
    render_config,
    starter_config,
)
from failover.config._shape import _FileModel
from failover.domain import (
    CONTROL_FAMILY,
    CheckRole,
    DnsCheck,
    DnsVia,
    Endpoint,
    HttpCheck,
    IncidentEvent,
    Platform,
    StatusCheck,
    StatusFormat,
    TcpCheck,
    TlsCheck,
    Visibility,
)
from failover.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "failover.example.toml"
WITH_SECRETS = ROOT / "tests" / "data" / "with-secrets.toml"
LOCAL = ROOT / "config" / "local.toml"

#: a loopback-only preamble: no catalog, no controls needed
BARE = """
[catalog]
builtin = false
[detection]
control_quorum = 0
"""


def parse(text: str, env: dict[str, str] | None = None, *, cwd: Path | None = None) -> Config:
    return parse_config(text, source="failover.toml", env=env or {}, cwd=cwd)


def error_of(text: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        parse(text, env)
    message = str(info.value)
    assert "\n" not in message
    return message


def secrets_env(tmp_path: Path) -> dict[str, str]:
    """The variables and credential file tests/data/with-secrets.toml refers to."""
    (tmp_path / "bob-telegram").write_text("tgram://123456789:AAbbCCdd/987654321\n")
    return {
        "FAILOVER_API_TOKEN": "api-token-0123456789",
        "SIGNAL_API_HOST": "127.0.0.1:8080",
        "SIGNAL_FROM": "+33600000001",
        "ALICE_PHONE": "+33612345678",
        "SMTP_USER": "mailer",
        "SMTP_PASS": "smtp-pass-0123456789",
        "ALICE_EMAIL": "alice@example.org",
        "MASTODON_TOKEN": "mastodon-token-0123456789",
        "CREDENTIALS_DIRECTORY": str(tmp_path),
    }


class TestDurations:
    """Durations are written as '2s', '5m', '1h30m', '7d', '500ms' or a number of seconds."""

    @pytest.mark.parametrize(
        ("text", "seconds"),
        [
            ("2s", 2.0),
            ("5m", 300.0),
            ("1h30m", 5400.0),
            ("7d", 604800.0),
            ("500ms", 0.5),
            ("1.5s", 1.5),
            (" 1h 30m ", 5400.0),
            (30, 30.0),
            (2.5, 2.5),
            ("45", 45.0),
        ],
    )
    def test_accepted(self, text: object, seconds: float) -> None:
        """Each accepted form gives its number of seconds."""
        assert parse_duration(text) == seconds

    @pytest.mark.parametrize("text", ["", "5x", "m5", "-1s", True, "1h-30m", None, "nan"])
    def test_rejected(self, text: object) -> None:
        """Anything else is a ValueError with a hint, not a guess."""
        with pytest.raises(ValueError, match="expected a duration"):
            parse_duration(text)


class TestBuiltinDefault:
    """Without a file, failover runs on the built-in catalog with no contacts."""

    def test_catalog_has_the_meta_family_with_authoritative_dns(self) -> None:
        """Facebook, Messenger, Instagram and WhatsApp are family meta and ask Meta's name servers."""
        config = load_config(None, env={})
        meta = {p.name: p for p in config.platforms if p.family == "meta"}
        assert set(meta) == {"facebook", "messenger", "instagram", "whatsapp"}
        meta_servers = {"129.134.30.12", "129.134.31.12", "185.89.218.12", "185.89.219.12"}
        for platform in meta.values():
            authoritative = [c for c in platform.checks if c.role is CheckRole.authoritative]
            assert authoritative, platform.name
            for check in authoritative:
                assert isinstance(check, DnsCheck)
                assert {s.host for s in check.servers} == meta_servers
                assert {"SOA", "NS"} <= set(check.record_types)
            kinds = {c.role for c in platform.checks}
            assert {CheckRole.resolver, CheckRole.front_door, CheckRole.status} <= kinds
            status = [c for c in platform.checks if isinstance(c, StatusCheck)]
            assert [s.format for s in status] == [StatusFormat.meta]
        qnames = {c.qname for p in meta.values() for c in p.checks if isinstance(c, DnsCheck)}
        assert {"facebook.com", "whatsapp.net"} <= qnames

    def test_catalog_has_the_other_platforms(self) -> None:
        """Telegram, Signal, X, Discord, Slack and mastodon.social are watched too."""
        names = {p.name for p in load_config(None, env={}).platforms}
        assert {"telegram", "signal", "x", "discord", "slack", "mastodon"} <= names

    def test_statuspage_format_only_where_the_site_is_statuspage(self) -> None:
        """Only Discord's status page is read as Atlassian Statuspage."""
        config = load_config(None, env={})
        statuspage = [
            (p.name, c.url)
            for p in config.platforms
            for c in p.checks
            if isinstance(c, StatusCheck) and c.format is StatusFormat.statuspage
        ]
        assert statuspage == [("discord", "https://discordstatus.com/api/v2/summary.json")]

    def test_at_least_three_independent_controls(self) -> None:
        """Controls are unrelated to Meta and to each other, and meet the default quorum."""
        config = load_config(None, env={})
        assert len(config.controls) >= 3
        assert all(c.family == CONTROL_FAMILY and c.is_control for c in config.controls)
        hosts = set()
        for control in config.controls:
            for check in control.checks:
                if isinstance(check, HttpCheck):
                    host = check.url.split("/")[2]
                    assert "facebook" not in host
                    assert "whatsapp" not in host
                    hosts.add(host)
        assert len(hosts) >= 3
        assert config.detection.control_quorum <= len(config.controls)

    def test_resolver_checks_use_the_configured_resolvers(self) -> None:
        """A via='resolvers' check without servers asks [probes] resolvers."""
        config = load_config(None, env={})
        facebook = next(p for p in config.platforms if p.name == "facebook")
        resolver = next(c for c in facebook.checks if isinstance(c, DnsCheck) and c.via is DnsVia.resolvers)
        assert resolver.servers == config.probes.resolvers
        assert config.probes.resolvers == (
            Endpoint(host="1.1.1.1", port=53),
            Endpoint(host="9.9.9.9", port=53),
        )

    def test_defaults(self, tmp_path: Path) -> None:
        """Defaults: 127.0.0.1:9464, UTC, 7 days of retention, a versioned user agent, ./var database."""
        config = load_config(None, env={}, cwd=tmp_path)
        assert config.source == BUILTIN_SOURCE
        assert config.contacts == ()
        assert config.daemon.listen == Endpoint(host="127.0.0.1", port=9464)
        assert config.daemon.timezone == "UTC"
        assert config.daemon.retention == timedelta(days=7)
        assert config.daemon.database_url == f"sqlite:///{tmp_path.resolve()}/var/failover.db"
        assert config.probes.user_agent.startswith("failover/")
        assert config.probes.concurrency == 32
        assert config.detection.confirm_after_s == (2.0, 5.0)
        assert config.detection.degraded_after == timedelta(minutes=2)
        assert config.detection.confirm_timeout_s == 5.0
        assert config.probes.nameservers is None  # the machine's own resolver configuration
        assert config.probes.lookup_timeout_s == 3.0
        assert config.notify.concurrency == 16
        assert config.notify.max_attempts == 3
        assert config.notify.backoff_base_s == 2.0
        assert config.notify.rate_for("MAILTOS") == 60
        assert config.notify.rate_for("unheard-of") == config.notify.rate_per_minute["default"]
        assert all(p.interval_s == 15.0 for p in config.platforms)

    def test_state_directory_from_systemd(self, tmp_path: Path) -> None:
        """$STATE_DIRECTORY (the first, when systemd lists several) holds the default database."""
        config = load_config(None, env={"STATE_DIRECTORY": f"{tmp_path}/a:{tmp_path}/b"})
        assert config.daemon.database_url == f"sqlite:///{tmp_path}/a/failover.db"

    def test_config_is_frozen(self) -> None:
        """The result cannot be changed after loading."""
        config = load_config(None, env={})
        with pytest.raises(AttributeError):
            config.source = "x"  # type: ignore[misc]
        with pytest.raises(TypeError):
            config.groups["x"] = "y"  # type: ignore[index]


class TestSearchOrder:
    """--config, then $FAILOVER_CONFIG, ./failover.toml, /etc/failover/failover.toml, then built-in."""

    @pytest.fixture
    def files(self, tmp_path: Path) -> dict[str, Path]:
        paths = {}
        for name in ("explicit", "env", "cwd", "system"):
            directory = tmp_path / name
            directory.mkdir()
            paths[name] = directory / "failover.toml"
            paths[name].write_text("")
        return paths

    def test_explicit_wins(self, files: dict[str, Path]) -> None:
        """An explicit path is used even when every other place has a file."""
        found = find_config_path(
            files["explicit"],
            env={"FAILOVER_CONFIG": str(files["env"])},
            cwd=files["cwd"].parent,
            system_path=files["system"],
        )
        assert found == files["explicit"]

    def test_environment_before_working_directory(self, files: dict[str, Path]) -> None:
        """$FAILOVER_CONFIG comes before ./failover.toml."""
        found = find_config_path(
            None,
            env={"FAILOVER_CONFIG": str(files["env"])},
            cwd=files["cwd"].parent,
            system_path=files["system"],
        )
        assert found == files["env"]

    def test_working_directory_before_system(self, files: dict[str, Path]) -> None:
        """./failover.toml comes before the system file."""
        found = find_config_path(None, env={}, cwd=files["cwd"].parent, system_path=files["system"])
        assert found == files["cwd"]

    def test_system_file(self, files: dict[str, Path], tmp_path: Path) -> None:
        """The system file is used when nothing else is there."""
        found = find_config_path(None, env={}, cwd=tmp_path, system_path=files["system"])
        assert found == files["system"]

    def test_built_in_when_nothing_is_found(self, tmp_path: Path) -> None:
        """None means the built-in default."""
        assert find_config_path(None, env={}, cwd=tmp_path, system_path=tmp_path / "absent.toml") is None

    def test_relative_paths_are_taken_from_the_working_directory(self, files: dict[str, Path]) -> None:
        """A relative --config or $FAILOVER_CONFIG is relative to cwd."""
        base = files["explicit"].parent.parent
        assert find_config_path(Path("explicit/failover.toml"), env={}, cwd=base) == files["explicit"]
        assert find_config_path(None, env={"FAILOVER_CONFIG": "env/failover.toml"}, cwd=base) == files["env"]

    @pytest.mark.parametrize("how", ["explicit", "env"])
    def test_a_named_file_must_exist(self, how: str, tmp_path: Path) -> None:
        """A file named explicitly or by $FAILOVER_CONFIG that does not exist is an error, not a fallback."""
        missing = tmp_path / "missing.toml"
        explicit, env = (missing, {}) if how == "explicit" else (None, {"FAILOVER_CONFIG": str(missing)})
        with pytest.raises(ConfigError, match="not found"):
            find_config_path(explicit, env=env, cwd=tmp_path)

    def test_unreadable_file(self, tmp_path: Path) -> None:
        """A file that is not UTF-8 or not there gives a one-line error naming it."""
        binary = tmp_path / "failover.toml"
        binary.write_bytes(b"\xff\xfe\x00")
        with pytest.raises(ConfigError, match=r"failover.toml:1: not UTF-8 text"):
            load_config(binary, env={})
        with pytest.raises(ConfigError, match="file not found"):
            load_config(tmp_path / "absent.toml", env={})


def _models_under(model: type[BaseModel]) -> typing.Iterator[type[BaseModel]]:
    yield model
    for info in model.model_fields.values():
        yield from _models_in(info.annotation)


def _models_in(annotation: object) -> typing.Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield from _models_under(annotation)
    for arg in typing.get_args(annotation):
        yield from _models_in(arg)


class TestShippedFiles:
    """The example, the loopback configuration and the starter all load."""

    def test_example_parses(self) -> None:
        """config/failover.example.toml is valid as shipped, in an empty environment."""
        config = load_config(EXAMPLE, env={})
        assert {c.name for c in config.contacts} == {"Alice Martin", "Bob Durand"}
        assert "x" not in {p.name for p in config.platforms}
        assert "fosstodon" in {p.name for p in config.platforms}
        assert config.daemon.api_token is None
        alice = next(c for c in config.contacts if c.name == "Alice Martin")
        assert alice.channels[0].depends_on == ("signal",)

    def test_references_resolve(self, tmp_path: Path) -> None:
        """Secrets given by ${env:…} and ${file:…} (nested) resolve into the configuration."""
        config = load_config(WITH_SECRETS, env=secrets_env(tmp_path))
        assert config.channels["mastodon-public"].visibility is Visibility.public
        assert config.daemon.api_token == "api-token-0123456789"
        bob = next(c for c in config.contacts if c.name == "Bob Durand")
        assert bob.channels[0].url == "tgram://123456789:AAbbCCdd/987654321"
        assert bob.channels[0].depends_on == ("telegram",)

    def test_example_documents_every_key(self) -> None:
        """Every key of every section appears in the example file."""
        text = EXAMPLE.read_text()
        missing = set()
        for model in _models_under(_FileModel):
            for name in model.model_fields:
                if not re.search(rf"(?m)(^|[\s{{,.\[]){re.escape(name)}(\s*=|\]|\.)", text):
                    missing.add(f"{model.__name__}.{name}")
        assert not missing

    def test_example_has_secrets_only_by_reference(self) -> None:
        """No channel URL of the example carries an inline password or token."""
        for line in EXAMPLE.read_text().splitlines():
            if line.startswith("api_token ="):
                assert "${" in line, line
            credentials = re.search(r"//([^/?@\s]*)@", line)
            if line.startswith("url =") and credentials:
                assert "${" in credentials.group(1), line

    def test_local_config_stays_on_loopback(self) -> None:
        """config/local.toml validates, has no catalog, and points only at 127.0.0.1."""
        config = load_config(LOCAL, env={})
        assert {p.name for p in config.platforms} == {
            "whatsapp",
            "facebook",
            "instagram",
            "messenger",
            "telegram",
        }
        assert {p.name for p in config.platforms if p.family == "meta"} == {
            "whatsapp",
            "facebook",
            "instagram",
            "messenger",
        }
        assert len(config.controls) == 3
        assert config.probes.resolvers == (Endpoint(host="127.0.0.1", port=15353),)
        for target in (*config.platforms, *config.controls):
            for check in target.checks:
                if isinstance(check, DnsCheck):
                    assert {s.host for s in check.servers} == {"127.0.0.1"}
                elif isinstance(check, HttpCheck | StatusCheck):
                    assert check.url.startswith("http://127.0.0.1:")
                else:
                    assert isinstance(check, TcpCheck | TlsCheck)
                    assert check.host == "127.0.0.1"
        for contact in config.contacts:
            assert contact.channels[0].url.startswith("mailto://127.0.0.1:12525?")
        assert config.daemon.database_url.startswith("sqlite:///var/")

    def test_starter_parses(self, tmp_path: Path) -> None:
        """`failover config init` writes a valid file."""
        config = parse_config(starter_config(), source="starter", env={}, cwd=tmp_path)
        assert config.platforms


class TestMerge:
    """A file extends or overrides the built-in catalog table by table."""

    def test_override_keys_keeps_the_rest(self) -> None:
        """Overriding the interval keeps the catalog's checks."""
        config = parse("[platforms.facebook]\ninterval = '10s'\n")
        facebook = next(p for p in config.platforms if p.name == "facebook")
        assert facebook.interval_s == 10.0
        assert len(facebook.checks) == 4
        assert facebook.family == "meta"

    def test_checks_replace_the_catalogs(self) -> None:
        """A given checks list replaces all of the catalog's checks."""
        config = parse(
            "[platforms.facebook]\n[[platforms.facebook.checks]]\n"
            "kind = 'tcp'\nname = 'edge'\nhost = '127.0.0.1'\nport = 9\n"
        )
        facebook = next(p for p in config.platforms if p.name == "facebook")
        assert facebook.checks == (TcpCheck(name="edge", host="127.0.0.1", port=9),)

    def test_disable(self) -> None:
        """enabled = false switches a platform or control off."""
        config = parse("[platforms.x]\nenabled = false\n[controls.debian]\nenabled = false\n")
        assert "x" not in {p.name for p in config.platforms}
        assert "debian" not in {c.name for c in config.controls}

    def test_new_platform_extends(self) -> None:
        """A new name adds a platform; display_name defaults to the name."""
        config = parse(
            "[platforms.matrix]\nfamily = 'fediverse'\n[[platforms.matrix.checks]]\n"
            "kind = 'http'\nname = 'web'\nurl = 'https://matrix.example.org/'\n"
        )
        matrix = next(p for p in config.platforms if p.name == "matrix")
        assert matrix.display_name == "matrix"
        assert matrix.family == "fediverse"
        assert "facebook" in {p.name for p in config.platforms}

    def test_builtin_false_drops_the_catalog(self) -> None:
        """[catalog] builtin = false drops platforms and controls alike."""
        config = parse(BARE)
        assert config.platforms == ()
        assert config.controls == ()

    def test_quorum_needs_enough_controls(self) -> None:
        """A control quorum above the number of enabled controls is an error."""
        message = error_of("[catalog]\nbuiltin = false\n")
        assert message.startswith("failover.toml: detection.control_quorum: needs 2 passing controls")


def http_platform(extra: str = "", name: str = "web") -> str:
    return f"{BARE}[platforms.site]\n[[platforms.site.checks]]\nkind = 'http'\nname = '{name}'\nurl = 'https://site.example/'\n{extra}"


def dns_platform(extra: str) -> str:
    check = "kind = 'dns'\nname = 'dns'\nqname = 'site.example'\n"
    return f"{BARE}[platforms.site]\n[[platforms.site.checks]]\n{check}{extra}"


class TestChecks:
    """Each check kind's keys become the domain's frozen check."""

    def test_http_check(self) -> None:
        """Status classes, ranges and codes, a body pattern and durations are read."""
        config = parse(
            http_platform(
                "method = 'HEAD'\naccept_status = [204, '3xx', '401-403']\nbody_pattern = 'ok|fine'\n"
                "slow_after = '1500ms'\nmax_redirects = 0\ntimeout = 4\nca_file = '/tmp/ca.pem'\n"
            )
        )
        (check,) = config.platforms[0].checks
        assert check == HttpCheck(
            name="web",
            url="https://site.example/",
            method="HEAD",
            accept_status=frozenset({204, *range(300, 400), 401, 402, 403}),
            body_pattern="ok|fine",
            slow_after_s=1.5,
            max_redirects=0,
            ca_file="/tmp/ca.pem",
            timeout_s=4.0,
        )

    def test_defaults_come_from_the_domain(self) -> None:
        """Keys left out keep the domain's defaults (200-399, 10 s, …)."""
        (check,) = parse(http_platform()).platforms[0].checks
        assert check == HttpCheck(name="web", url="https://site.example/")

    @pytest.mark.parametrize(
        ("servers", "expected"),
        [
            ("['192.0.2.1']", (Endpoint(host="192.0.2.1", port=53),)),
            ("['ns.example:5353']", (Endpoint(host="ns.example", port=5353),)),
            ("['[2001:db8::1]:5353']", (Endpoint(host="2001:db8::1", port=5353),)),
            ("['2001:db8::1']", (Endpoint(host="2001:db8::1", port=53),)),
        ],
    )
    def test_dns_servers(self, servers: str, expected: tuple[Endpoint, ...]) -> None:
        """Servers are 'host', 'host:port', '[v6]:port' or a bare IPv6 address."""
        config = parse(dns_platform(f"via = 'authoritative'\nrecord_types = ['soa']\nservers = {servers}\n"))
        (check,) = config.platforms[0].checks
        assert isinstance(check, DnsCheck)
        assert check.servers == expected
        assert check.record_types == ("SOA",)
        assert check.role is CheckRole.authoritative

    def test_system_resolver(self) -> None:
        """via = 'system' asks the machine's resolver and lists no servers."""
        (check,) = parse(dns_platform("via = 'system'\n")).platforms[0].checks
        assert isinstance(check, DnsCheck)
        assert check.via is DnsVia.system
        assert check.servers == ()

    def test_status_and_tls_checks(self) -> None:
        """Status sources and TLS handshakes are read with their options."""
        config = parse(
            f"{BARE}[platforms.site]\n"
            "[[platforms.site.checks]]\nkind = 'statuspage'\nname = 's'\nurl = 'https://status.example/feed'\n"
            "format = 'feed'\ncomponents = ['API']\n"
            "[[platforms.site.checks]]\nkind = 'tls'\nname = 't'\nhost = 'site.example'\n"
            "server_name = 'x.example'\n"
        )
        status, tls = config.platforms[0].checks
        assert status == StatusCheck(
            name="s", url="https://status.example/feed", format=StatusFormat.feed, components=("API",)
        )
        assert tls == TlsCheck(name="t", host="site.example", port=443, server_name="x.example")


class TestErrors:
    """Every error is one line naming the key path (or the line), never a secret."""

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            pytest.param(
                "[platforms.facebook]\nintervall = '5s'\n",
                "failover.toml: platforms.facebook: unknown key 'intervall'",
                id="typo",
            ),
            pytest.param(
                "[daemon]\nlisten_port = 1\n",
                "failover.toml: daemon: unknown key 'listen_port'",
                id="unknown-section-key",
            ),
            pytest.param(
                "[platforms.facebook]\n[[platforms.facebook.checks]]\nkind = 'http'\nname = 'a'\n"
                "url = 'https://a.example/'\ntimeout = [1]\n",
                "failover.toml: platforms.facebook.checks[0].timeout: expected a duration",
                id="wrong-type-in-check",
            ),
            pytest.param(
                "[probes]\nconcurrency = '8'\n",
                "failover.toml: probes.concurrency: Input should be a valid integer",
                id="string-for-int",
            ),
            pytest.param(
                "[daemon]\ndry_run = 1\n",
                "failover.toml: daemon.dry_run: Input should be a valid boolean",
                id="bool",
            ),
            pytest.param(
                "[daemon]\ntimezone = 'Mars/Olympus'\n",
                "failover.toml: daemon.timezone: unknown time zone",
                id="tz",
            ),
            pytest.param(
                "[daemon]\nlisten = 'localhost:http'\n",
                "failover.toml: daemon.listen: expected a port",
                id="port",
            ),
            pytest.param("daemon = 3\n", "failover.toml: daemon: expected a table", id="not-a-table"),
            pytest.param(
                "[platforms.a]\n[[platforms.a.checks]]\nname = 'x'\n",
                "failover.toml: platforms.a.checks[0]: missing key 'kind'",
                id="no-kind",
            ),
            pytest.param(
                "[platforms.a]\n[[platforms.a.checks]]\nkind = 'icmp'\nname = 'x'\n",
                "failover.toml: platforms.a.checks[0].kind: expected one of 'dns'",
                id="bad-kind",
            ),
            pytest.param(
                "[platforms.a]\n[[platforms.a.checks]]\nkind = 'tcp'\nname = 'x'\nhost = 'h'\n",
                "failover.toml: platforms.a.checks[0]: missing key 'port'",
                id="missing-key",
            ),
            pytest.param(
                "[platforms.'mastodon.example']\nfamily = 3\n",
                'failover.toml: platforms."mastodon.example".family: Input should be a valid string',
                id="quoted-name",
            ),
            pytest.param(
                http_platform("body_pattern = '(unclosed'\n"),
                "failover.toml: platforms.site.checks[0].body_pattern: not a valid regular expression",
                id="regex",
            ),
            pytest.param(
                http_platform("accept_status = ['6xx']\n"),
                "failover.toml: platforms.site.checks[0].accept_status[0]: expected a status code",
                id="status",
            ),
            pytest.param(
                http_platform("url = 'ftp://a.example/'\n").replace("url = 'https://site.example/'\n", ""),
                "failover.toml: platforms.site.checks[0].url: expected an http:// or https:// URL",
                id="http-url",
            ),
            pytest.param(
                http_platform()
                + "[[platforms.site.checks]]\nkind = 'tcp'\nname = 'web'\nhost = 'h'\nport = 1\n",
                "failover.toml: platforms.site.checks[1].name: duplicate check name (also checks[0])",
                id="duplicate-check",
            ),
            pytest.param(
                dns_platform("via = 'authoritative'\n"),
                "failover.toml: platforms.site.checks[0].servers: via = 'authoritative' needs the servers",
                id="authoritative-without-servers",
            ),
            pytest.param(
                dns_platform("via = 'system'\nservers = ['192.0.2.1']\n"),
                "failover.toml: platforms.site.checks[0].servers: via = 'system'",
                id="system-with-servers",
            ),
            pytest.param(
                dns_platform("record_types = ['BOGUS']\n"),
                "failover.toml: platforms.site.checks[0].record_types[0]: expected a record type",
                id="record-type",
            ),
            pytest.param(
                f"{BARE}[platforms.empty]\n",
                "failover.toml: platforms.empty: an enabled target needs at least one check",
                id="no-checks",
            ),
            pytest.param(
                f"{BARE}[platforms.site]\nfamily = '_control'\n[[platforms.site.checks]]\n"
                "kind = 'tcp'\nname = 'a'\nhost = 'h'\nport = 1\n",
                "failover.toml: platforms.site.family: a family name may contain only",
                id="control-family",
            ),
            pytest.param(
                "[controls.facebook]\n[[controls.facebook.checks]]\n"
                "kind = 'tcp'\nname = 'a'\nhost = 'h'\nport = 1\n",
                "failover.toml: controls.facebook: a control may not share its name with a platform",
                id="control-name-clash",
            ),
            pytest.param(
                "[controls.c]\nfamily = 'x'\n",
                "failover.toml: controls.c: unknown key 'family'",
                id="control-family-key",
            ),
            pytest.param(
                "[detection]\nconfirm_after = []\n",
                "failover.toml: detection.confirm_after: List should have at least 1 item",
                id="empty-list",
            ),
            pytest.param(
                '[detection]\ndegraded_after = "0s"\n',
                "failover.toml: detection.degraded_after: Input should be greater than 0",
                id="degraded-after-zero",
            ),
            pytest.param(
                '[probes]\nlookup_timeout = "5m"\n',
                "failover.toml: probes.lookup_timeout: Input should be less than or equal to 60",
                id="lookup-timeout-too-long",
            ),
            pytest.param(
                "[probes]\nnameservers = []\n",
                "failover.toml: probes.nameservers: List should have at least 1 item",
                id="no-nameservers",
            ),
        ],
    )
    def test_shape_errors(self, text: str, expected: str) -> None:
        """The message starts with source and key path."""
        assert error_of(text).startswith(expected)

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("[daemon\nlisten = 1\n", "failover.toml:1: "),
            ("[daemon]\nlisten = \n", "failover.toml:2: "),
            ("a = 1\na = 2\n", "failover.toml:2: "),
            ("x = 'unterminated\n", "failover.toml:1: "),
        ],
    )
    def test_syntax_errors_name_the_line(self, text: str, expected: str) -> None:
        """A TOML syntax error names the line, without tomllib's '(at line …)' tail."""
        message = error_of(text)
        assert message.startswith(expected)
        assert "(at line" not in message

    def test_several_errors_are_counted(self) -> None:
        """The first error is reported and the others counted."""
        message = error_of("[daemon]\nlog_level = 'loud'\ndry_run = 'no'\nretention = 'forever'\n")
        assert message.startswith("failover.toml: daemon.log_level: Input should be 'debug', 'info'")
        assert message.endswith("(and 2 more)")

    def test_channel_url_is_never_repeated(self) -> None:
        """An invalid channel URL is reported by its key path, never by its value."""
        text = (
            f"{BARE}[groups.g]\n[[contacts]]\nname = 'A'\ngroups = ['g']\n"
            "[[contacts.channels]]\nurl = 'call +33612345678 alice@example.org'\n"
        )
        message = error_of(text)
        assert message.startswith("failover.toml: contacts[0].channels[0].url: expected an apprise URL")
        assert "+33612345678" not in message
        assert "alice@example.org" not in message


class TestSecrets:
    """Secrets are written ${env:NAME} or ${file:/path}, resolved at load and collected for redaction."""

    def test_env_reference_whole_and_embedded(self) -> None:
        """A reference may be the whole value or part of it."""
        config = parse(
            f"{BARE}[daemon]\napi_token = '${{env:TOKEN}}'\n"
            "[channels.mail]\nurl = 'mailtos://u:${env:SMTP_PASS}@smtp.example.org?to=ops@example.org'\n",
            {"TOKEN": "tok-123456", "SMTP_PASS": "p@ss word"},
        )
        assert config.daemon.api_token == "tok-123456"
        url = "mailtos://u:p@ss word@smtp.example.org?to=ops@example.org"
        assert config.channels["mail"].url == url
        assert {"tok-123456", "p@ss word", url} <= config.secrets

    def test_file_reference(self, tmp_path: Path) -> None:
        """A file's content (less its final newline) replaces the reference; its path may use a variable."""
        (tmp_path / "token").write_text("from-a-file\n")
        config = parse(
            f"{BARE}[daemon]\napi_token = '${{file:${{env:CREDENTIALS_DIRECTORY}}/token}}'\n",
            {"CREDENTIALS_DIRECTORY": str(tmp_path)},
        )
        assert config.daemon.api_token == "from-a-file"
        assert "from-a-file" in config.secrets
        assert str(tmp_path) not in config.secrets

    def test_literal_dollar_brace(self) -> None:
        """$${ writes a literal ${."""
        config = parse(f"alternatives = ['costs $${{price}}']\n{BARE}")
        assert config.alternatives["en"] == ("costs ${price}",)

    def test_missing_variable(self) -> None:
        """A missing variable names the key and the variable."""
        message = error_of(
            f"{BARE}[[contacts]]\nname = 'A'\n[[contacts.channels]]\nurl = 'mailtos://u:${{env:SMTP_PASS}}@h'\n"
        )
        assert message == (
            "failover.toml: contacts[0].channels[0].url: environment variable 'SMTP_PASS' is not set"
        )

    def test_unreadable_file(self, tmp_path: Path) -> None:
        """An unreadable file names the key and the path, not the content."""
        message = error_of(f"[daemon]\napi_token = '${{file:{tmp_path}/absent}}'\n")
        assert message == (
            "failover.toml: daemon.api_token: "
            f"cannot read secret file '{tmp_path}/absent': No such file or directory"
        )

    @pytest.mark.parametrize("reference", ["${ENV:X}", "${env:1X}", "${X}"])
    def test_malformed_reference(self, reference: str) -> None:
        """A malformed reference is an error rather than a literal."""
        message = error_of(f"[daemon]\napi_token = '{reference}'\n", {"X": "v"})
        assert message.startswith("failover.toml: daemon.api_token: ")

    def test_database_password_is_a_secret(self) -> None:
        """The password of a database URL is collected even when written inline."""
        config = parse(f"{BARE}[daemon]\ndatabase_url = 'postgresql+psycopg://fo:dbpass@db/failover'\n")
        assert "dbpass" in config.secrets

    def test_error_after_resolution_has_no_secret(self) -> None:
        """A later error in a file with resolved secrets does not carry them."""
        message = error_of(
            f"{BARE}[daemon]\napi_token = '${{env:TOKEN}}'\nretention = '${{env:TOKEN}}'\n",
            {"TOKEN": "tok-xyz"},
        )
        assert message.startswith("failover.toml: daemon.retention: expected a duration")
        assert "tok-xyz" not in message


CONTACTS = f"""{BARE}
[groups.team]
description = "Team"

[[contacts]]
name = "Alice"
language = "fr"
timezone = "Europe/Paris"
groups = ["team"]
[[contacts.channels]]
url = "mailto://127.0.0.1:12525?to=alice@example.org"

[channels.public]
url = "json://127.0.0.1:8080/"
visibility = "public"

[templates.private]
en = {{ subject = "s", body = "b" }}

[templates.open]
visibility = "public"
fr = {{ subject = "s", body = "b" }}
"""


class TestCrossReferences:
    """Contacts, groups, channels, routes and templates must refer to each other correctly."""

    def test_valid_notification_sections(self) -> None:
        """A consistent file gives contacts, channels, templates and routes."""
        config = parse(
            CONTACTS + "[[routes]]\nname = 'r'\ntemplate = 'open'\nevents = ['confirmed', 'reminder']\n"
            "groups = ['team']\nchannels = []\nreminder_every = '1h'\n"
            "[[routes]]\nname = 'p'\ntemplate = 'open'\nchannels = ['public']\n"
        )
        (alice,) = config.contacts
        assert alice.language == "fr"
        assert alice.channels[0].ref == f"contacts[{alice.id}].channels[0]"
        assert alice.channels[0].visibility is Visibility.private
        assert config.groups == {"team": "Team"}
        assert config.channels["public"].ref == "channels.public"
        assert set(config.templates["private"].texts) == {"en"}
        first, second = config.routes
        assert first.events == frozenset({IncidentEvent.confirmed, IncidentEvent.reminder})
        assert first.reminder_every == timedelta(hours=1)
        assert second.events == frozenset({IncidentEvent.confirmed, IncidentEvent.resolved})

    @pytest.mark.parametrize(
        ("extra", "expected"),
        [
            pytest.param(
                "[[routes]]\nname = 'r'\ntemplate = 'private'\nchannels = ['public']\n",
                "routes[0].channels[0]: public channel 'public' may not receive private template 'private'",
                id="private-template-to-public-channel",
            ),
            pytest.param(
                "[[routes]]\nname = 'r'\ntemplate = 'open'\nchannels = ['public']\nreminder_every = '1h'\n"
                "events = ['reminder']\n",
                "routes[0].channels[0]: a route with reminder_every may not post to public channel 'public'",
                id="reminder-to-public",
            ),
            pytest.param(
                "[[routes]]\nname = 'r'\ntemplate = 'open'\ngroups = ['staff']\n",
                "routes[0].groups[0]: unknown group 'staff'",
                id="route-group",
            ),
            pytest.param(
                "[[routes]]\nname = 'r'\ntemplate = 'open'\nchannels = ['nope']\n",
                "routes[0].channels[0]: unknown channel 'nope'",
                id="route-channel",
            ),
            pytest.param(
                "[[routes]]\nname = 'r'\ntemplate = 'nope'\ngroups = ['team']\n",
                "routes[0].template: unknown template 'nope'",
                id="route-template",
            ),
            pytest.param(
                "[[routes]]\nname = 'r'\ntemplate = 'open'\ngroups = ['team']\nplatforms = ['myspace']\n",
                "routes[0].platforms[0]: unknown platform 'myspace'",
                id="route-platform",
            ),
            pytest.param(
                "[[routes]]\nname = 'r'\ntemplate = 'open'\ngroups = ['team']\nfamilies = ['meta']\n",
                "routes[0].families[0]: unknown family 'meta'",
                id="route-family",
            ),
            pytest.param(
                "[[routes]]\nname = 'r'\ntemplate = 'open'\n",
                "routes[0]: a route needs 'groups' or 'channels'",
                id="route-nobody",
            ),
            pytest.param(
                "[[routes]]\nname = 'r'\ntemplate = 'open'\ngroups = ['team']\nevents = ['reminder']\n",
                "routes[0].events: the 'reminder' event needs reminder_every",
                id="reminder-without-period",
            ),
            pytest.param(
                "[[routes]]\nname = 'r'\ntemplate = 'open'\ngroups = ['team']\nevents = ['exploded']\n",
                "routes[0].events[0]: Input should be 'opened', 'confirmed'",
                id="unknown-event",
            ),
            pytest.param(
                "[[routes]]\nname = 'r'\ntemplate = 'open'\ngroups = ['team']\n"
                "[[routes]]\nname = 'r'\ntemplate = 'open'\ngroups = ['team']\n",
                "routes[1].name: duplicate route name 'r'",
                id="duplicate-route",
            ),
            pytest.param(
                "[[contacts]]\nname = 'Bob'\ngroups = ['staff']\n[[contacts.channels]]\nurl = 'mailto://h?to=b@example.org'\n",
                "contacts[1].groups[0]: unknown group 'staff'",
                id="contact-group",
            ),
            pytest.param(
                "[[contacts]]\nname = 'Bob'\nlanguage = 'de'\n[[contacts.channels]]\nurl = 'mailto://h?to=b@example.org'\n",
                "contacts[1].language: Input should be 'fr' or 'en'",
                id="contact-language",
            ),
            pytest.param(
                "[[contacts]]\nname = 'Bob'\n",
                "contacts[1]: missing key 'channels'",
                id="contact-without-channels",
            ),
            pytest.param(
                "[[contacts]]\nname = 'Bob'\n[[contacts.channels]]\nurl = 'mailto://h?to=b@example.org'\n"
                "depends_on = ['myspace']\n",
                "contacts[1].channels[0].depends_on[0]: unknown platform 'myspace'",
                id="depends-on",
            ),
            pytest.param(
                "[templates.empty]\nvisibility = 'public'\n",
                "templates.empty: a template needs a text in 'fr' or 'en'",
                id="template-without-text",
            ),
            pytest.param(
                "[channels.c]\nurl = 'mailto://h'\nvisibility = 'secret'\n",
                "channels.c.visibility: Input should be 'private' or 'public'",
                id="visibility",
            ),
        ],
    )
    def test_reference_errors(self, extra: str, expected: str) -> None:
        """Each broken reference is reported at its key path."""
        assert error_of(CONTACTS + extra).startswith(f"failover.toml: {expected}")

    def test_duplicate_contact_name_is_not_repeated(self) -> None:
        """A contact's name is personal data: a duplicate points at the other entry instead."""
        message = error_of(
            CONTACTS
            + "[[contacts]]\nname = 'Alice'\n[[contacts.channels]]\nurl = 'mailto://h?to=b@example.org'\n"
        )
        assert message == "failover.toml: contacts[1].name: duplicate contact name (also contacts[0])"

    def test_depends_on_inferred_from_the_scheme(self) -> None:
        """Without depends_on, a channel depends on what its scheme implies."""
        config = parse(
            "[[contacts]]\nname = 'A'\n"
            "[[contacts.channels]]\nurl = 'whatsapp://token@123/456'\n"
            "[[contacts.channels]]\nurl = 'mailtos://u:p@smtp.example.org?to=a@example.org'\n"
            "[[contacts.channels]]\nurl = 'signal://127.0.0.1:8080/+33600000001/+33600000002'\n"
            "depends_on = []\n"
        )
        assert [c.depends_on for c in config.contacts[0].channels] == [("whatsapp",), (), ()]


def _platform(name: str, url: str) -> Platform:
    return Platform(name=name, display_name=name, family=None, checks=(HttpCheck(name="web", url=url),))


class TestInferDependsOn:
    """The scheme → platform map used when a channel does not say what it depends on."""

    PLATFORMS = (
        _platform("whatsapp", "https://web.whatsapp.com/"),
        _platform("telegram", "https://web.telegram.org/"),
        _platform("signal", "https://signal.org/"),
        _platform("x", "https://x.com/"),
        _platform("discord", "https://discord.com/"),
        _platform("slack", "https://slack.com/"),
        _platform("mastodon", "https://mastodon.social/api/v1/instance"),
    )

    @pytest.mark.parametrize(
        ("url", "expected"),
        [
            ("whatsapp://token@123/456", ("whatsapp",)),
            ("whapi://token/456", ("whatsapp",)),
            ("tgram://123:abc/456", ("telegram",)),
            ("TGRAM://123:abc/456", ("telegram",)),
            ("signal://127.0.0.1:8080/+33600000001", ("signal",)),
            ("signals://127.0.0.1:8080/+33600000001", ("signal",)),
            ("twitter://a/b/c/d", ("x",)),
            ("x://a/b/c/d", ("x",)),
            ("mastodons://token@mastodon.social", ("mastodon",)),
            ("mastodon://token@Mastodon.Social/", ("mastodon",)),
            ("mastodons://token@fosstodon.org", ()),
            ("discord://id/token", ("discord",)),
            ("slack://a/b/c", ("slack",)),
            ("mailto://127.0.0.1:12525?to=a@example.org", ()),
            ("mailtos://u:p@smtp.example.org", ()),
            ("json://127.0.0.1/", ()),
            ("mqtt://broker/topic", ()),
            ("not a url", ()),
        ],
    )
    def test_map(self, url: str, expected: tuple[str, ...]) -> None:
        """Each scheme gives the platform it needs, or none."""
        assert infer_depends_on(url, self.PLATFORMS) == expected

    def test_only_known_platforms(self) -> None:
        """A platform that is not configured is not depended on."""
        assert infer_depends_on("tgram://123:abc/456", self.PLATFORMS[:1]) == ()


class TestRender:
    """`config show` prints the resolved configuration with every secret replaced."""

    def test_secrets_are_replaced(self, tmp_path: Path) -> None:
        """Tokens, passwords and channel URLs never appear; channels show their scheme only."""
        env = secrets_env(tmp_path)
        config = load_config(WITH_SECRETS, env=env)
        text = render_config(config)
        for secret in config.secrets:
            assert secret not in text
        for name in ("SMTP_PASS", "FAILOVER_API_TOKEN", "MASTODON_TOKEN", "ALICE_PHONE", "ALICE_EMAIL"):
            assert env[name] not in text
        data = redacted_config(config)
        assert data["daemon"]["api_token"] == "***"
        alice = data["contacts"][0]
        assert [c["url"] for c in alice["channels"]] == ["signal://***", "mailtos://***"]
        assert data["channels"]["mastodon-public"]["url"] == "mastodons://***"

    def test_embedded_secret_in_any_string(self) -> None:
        """A secret referenced inside an ordinary string (a check URL) is replaced too."""
        config = parse(
            http_platform().replace("https://site.example/", "https://site.example/?k=${env:K}"),
            {"K": "kk-secret"},
        )
        check = redacted_config(config)["platforms"][0]["checks"][0]
        assert check["url"] == "https://site.example/?k=***"
        assert check["accept_status"] == ["200-399"]
        assert check["kind"] == "http"

    def test_database_password(self) -> None:
        """A database password is hidden."""
        config = parse(f"{BARE}[daemon]\ndatabase_url = 'postgresql+psycopg://fo:dbpass@db/failover'\n")
        assert redacted_config(config)["daemon"]["database_url"] == "postgresql+psycopg://fo:***@db/failover"

    def test_durations_are_readable(self) -> None:
        """Durations are shown the way they are written."""
        data = redacted_config(load_config(None, env={}))
        assert data["daemon"]["retention"] == "7d"
        assert data["detection"]["flap_window"] == "30m"
