"""The HTTP surface under fuzzing, with the daemon's own backend and a real store behind it:
whatever is posted (JSON of any shape close to a trigger or an Alertmanager webhook, or not
JSON at all) or asked for, the answer is JSON, a refusal is a 4xx with ``error`` and
``detail``, and nothing is ever a 500.

uvicorn serves on 127.0.0.1; the configuration's platforms, resolvers and mail server are
on 127.0.0.1 too, and the daemon does not run (nothing is probed or delivered). The store is
SQLite, and PostgreSQL on 127.0.0.1 (a fresh schema), which refuses what SQLite lets by,
such as a NUL character in a text.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from psycopg import sql

from failover.api import MAX_BODY_BYTES, create_app
from failover.config import load_config
from failover.metrics import exposition_app
from failover.service import Daemon, open_store
from failover.service._http import DaemonBackend
from failover.store import Store
from tests.api.test_api import TOKEN, serving
from tests.fuzzing import ODD_TEXT, fuzz_settings
from tests.kit import FakeClock, closed_port_socket

NOW = datetime(2026, 10, 4, 15, 40, tzinfo=UTC)
POSTS = ("/api/v1/trigger", "/api/v1/alertmanager", "/api/v1/incidents/1/resolve")


@dataclass
class Surface:
    client: httpx.Client
    store: Store

    def post(self, path: str, body: bytes, content_type: str = "application/json") -> httpx.Response:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        if content_type:
            headers["Content-Type"] = content_type
        return self.client.post(path, content=body, headers=headers)


def write_config(directory: Path, port: int, database_url: str) -> Path:
    """Two Meta platforms and Telegram, two contacts in two languages, everything at ``port``
    on 127.0.0.1 (held closed)."""
    platforms = "".join(
        f'[platforms.{name}]\n{family}\n[[platforms.{name}.checks]]\nkind = "tcp"\nname = "tcp"\n'
        f'host = "127.0.0.1"\nport = {port}\n'
        for name, family in (
            ("whatsapp", 'family = "meta"'),
            ("facebook", 'family = "meta"'),
            ("telegram", ""),
        )
    )
    contacts = "".join(
        f'[[contacts]]\nname = "{name}"\nlanguage = "{language}"\ngroups = ["team"]\n[[contacts.channels]]\n'
        f'url = "mailto://127.0.0.1:{port}?from=failover@example.org&to={name.lower()}+news@example.org"\n'
        for name, language in (("Alice", "fr"), ("Bob", "en"))
    )
    path = directory / "failover.toml"
    path.write_text(
        f"""
[catalog]
builtin = false
[daemon]
database_url = "{database_url}"
listen = "127.0.0.1:{port}"
api_token = "{TOKEN}"
[probes]
resolvers = ["127.0.0.1:{port}"]
nameservers = ["127.0.0.1:{port}"]
[detection]
control_quorum = 0
{platforms}
[groups.team]
{contacts}
[[routes]]
name = "team"
template = "outage"
events = ["confirmed", "resolved", "manual"]
groups = ["team"]
""",
        encoding="utf-8",
    )
    return path


PG = {"host": "127.0.0.1", "port": 5432, "dbname": "test"}


def postgres_admin() -> psycopg.Connection[Any]:
    """A connection to this machine's PostgreSQL; fails in CI, skips elsewhere if absent."""
    for user in ("postgres", "root"):
        try:
            return psycopg.connect(**PG, user=user, autocommit=True, connect_timeout=3)
        except psycopg.Error:
            continue
    message = f"PostgreSQL is not reachable on {PG['host']}:{PG['port']}/{PG['dbname']}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An empty database: a SQLite file, or a fresh schema of the local PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('fuzz-api-db')}/failover.db"
        return
    schema = f"t_{uuid.uuid4().hex}"
    with postgres_admin() as admin:
        user = admin.info.user
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        try:
            yield (
                f"postgresql+psycopg://{user}@{PG['host']}:{PG['port']}/{PG['dbname']}"
                f"?options=-csearch_path%3D{schema}"
            )
        finally:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(scope="module")
def surface(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Iterator[Surface]:
    directory = tmp_path_factory.mktemp("fuzz-api")
    with closed_port_socket() as closed:
        config = load_config(write_config(directory, closed.getsockname()[1], database_url), env={})
        daemon = Daemon(config, reload=lambda: config, env={}, clock=FakeClock(NOW))
        with open_store(config) as store:
            daemon.store = store
            app = create_app(DaemonBackend(daemon), token=TOKEN, metrics=exposition_app(daemon.registry))
            with serving(app) as url, httpx.Client(base_url=url, trust_env=False, timeout=30) as client:
                yield Surface(client=client, store=store)


def assert_answered(response: httpx.Response) -> None:
    """JSON, never a 5xx; a refusal says why in ``error`` and ``detail``, never with the token."""
    assert response.status_code < 500, response.text
    answer = response.json()
    if response.status_code >= 400:
        assert set(answer) == {"error", "detail"}, answer
        assert isinstance(answer["error"], str)
        assert isinstance(answer["detail"], list)
    assert TOKEN not in response.text


# ------------------------------------------------------------------------------ what is sent

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | ODD_TEXT
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ODD_TEXT, inner, max_size=3),
    max_leaves=10,
)
#: any text JSON can carry, lone surrogates, NUL and line breaks included
any_text = st.text(
    alphabet=st.characters(categories=["Cs", "Cc", "Cf", "Zl", "Zp"]) | st.characters(), max_size=30
)
#: configured targets, a group, a custom name, and names that are not names
names = st.sampled_from(["whatsapp", "meta", "facebook", "telegram", "phones", "team", "*"]) | ODD_TEXT
configured = st.sampled_from(["whatsapp", "meta", "facebook", "telegram"])
#: fresh custom names: each opens an incident of its own, whose message is recorded
custom_names = st.from_regex(r"[a-z][a-z0-9-]{2,12}", fullmatch=True)
texts = any_text | st.sampled_from(
    ["Call us", "a\x00b", "{{ 7 * 7 }}", "{% for %}", "\u202eevil", "x" * 2000, "x" * 2001, " "]
)
#: text JSON carries to the store (no lone surrogate, which no JSON parser takes), controls included
stored_text = st.sampled_from(
    ["Call us", "a\x00b", "\x00", "two\nlines", "\u2028", "\u202eevil", "x" * 2000]
) | st.text(alphabet=st.characters(categories=["Cc", "Cf", "Zl", "Zp"]) | st.characters(), max_size=30)
messages = st.dictionaries(st.sampled_from(["fr", "en", "de", "pt-BR", "x"]) | ODD_TEXT, texts, max_size=3)
trigger_options = {
    "groups": st.just(["team"]),
    "hold_seconds": st.sampled_from([0, 60, 0.5]),
    "dry_run": st.booleans(),
    "update": st.sampled_from([False, False, True]),
    "messages": st.dictionaries(st.sampled_from(["fr", "en"]), stored_text, min_size=1),
}
#: triggers as a client writes them (a configured target or a fresh custom name, a message,
#: options of the right types), and anything else in the same keys
triggers = st.one_of(
    st.fixed_dictionaries({"target": configured, "message": stored_text}, optional=trigger_options),
    st.fixed_dictionaries(
        {"custom": st.just(value=True), "name": custom_names, "message": stored_text},
        optional=trigger_options,
    ),
    st.fixed_dictionaries(
        {},
        optional={
            "target": names | json_values,
            "custom": st.booleans() | json_values,
            "name": names | json_values,
            "message": texts | json_values,
            "messages": messages | json_values,
            "groups": st.lists(names, max_size=3) | json_values,
            "hold_seconds": st.sampled_from([86400, 86401, -1, 1e300]) | json_values,
            "dry_run": json_values,
            "update": json_values,
        },
    ),
)
moments = st.sampled_from(
    [
        "2026-10-04T15:39:30Z", "0001-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-14:00", "2026-10-04T15:39:30", "yesterday", "",
    ]
)  # fmt: skip
label_names = st.sampled_from(["platform", "family", "failover_target", "failover_custom", "alertname"])
alerts = st.fixed_dictionaries(
    {
        "status": st.sampled_from(["firing", "resolved", "pending"]),
        "labels": st.dictionaries(label_names | ODD_TEXT, configured | names | any_text, max_size=3),
        "annotations": st.dictionaries(
            st.sampled_from(["summary", "description"]) | ODD_TEXT, texts, max_size=2
        ),
        "startsAt": moments,
        "endsAt": moments,
        "fingerprint": st.sampled_from(["a1b2c3", "f" * 128, "f" * 129, ""]) | any_text,
    },
    optional={"generatorURL": any_text},
)
webhooks = st.fixed_dictionaries(
    {
        "version": st.sampled_from(["4", "4", "4", "3", 4]),
        "status": st.sampled_from(["firing", "resolved"]),
        "alerts": st.lists(alerts, min_size=1, max_size=3) | st.lists(alerts | json_values, max_size=3),
    },
    optional={
        "groupKey": any_text,
        "truncatedAlerts": st.integers(),
        "commonLabels": st.dictionaries(ODD_TEXT, any_text, max_size=2) | json_values,
        "externalURL": any_text,
    },
)


def encoded(value: Any) -> bytes:
    """JSON as a client would send it, lone surrogates escaped (``\\ud800``)."""
    return json.dumps(value).encode("ascii")


bodies = st.one_of(
    triggers.map(encoded),
    webhooks.map(encoded),
    json_values.map(encoded),
    st.binary(max_size=200),
    any_text.map(lambda text: json.dumps({"target": "whatsapp", "message": text}, ensure_ascii=False).encode(
        "utf-8", errors="surrogatepass"
    )),
    st.sampled_from(
        [
            b"", b"null", b"[]", b"{", b'{"target": "whatsapp", "message": "\xff\xfe"}', b"\xef\xbb\xbf{}",
            b"[" * 10_000 + b"]" * 10_000, b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
            b'{"target": "whatsapp", "message": "x", "target": 1}', b"1e999999", b"-" + b"9" * 10_000,
        ]
    ),
)  # fmt: skip
content_types = st.sampled_from(
    ["application/json", "application/json; charset=utf-8", "application/alert+json", "text/plain", ""]
)


@pytest.mark.slow
class TestAnyRequest:
    """Nothing a client sends makes the surface answer 500."""

    @pytest.mark.parametrize("path", POSTS)
    def test_any_body(self, surface: Surface, path: str) -> None:
        """Fuzzed bodies close to each endpoint's own, and bodies that are not JSON."""

        @fuzz_settings(40, slow_examples=True)
        @given(body=bodies, content_type=content_types)
        def post(body: bytes, content_type: str) -> None:
            assert_answered(surface.post(path, body, content_type))

        post()

    def test_triggers(self, surface: Surface) -> None:
        """Triggers close to valid ones (real targets and groups, odd messages): answered,
        and those accepted are recorded with the message as sent."""

        @fuzz_settings(60, slow_examples=True)
        @given(trigger=triggers)
        def post(trigger: dict[str, Any]) -> None:
            response = surface.post("/api/v1/trigger", encoded(trigger))
            assert_answered(response)
            answer = response.json()
            if response.status_code == 202 and answer.get("action") == "opened":
                incident = surface.store.incident(answer["id"])
                assert incident is not None
                assert incident.message == trigger.get("message")

        post()

    def test_webhooks(self, surface: Surface) -> None:
        """Alertmanager payloads with any labels, annotations, times and fingerprints."""

        @fuzz_settings(60, slow_examples=True)
        @given(payload=webhooks)
        def post(payload: dict[str, Any]) -> None:
            assert_answered(surface.post("/api/v1/alertmanager", encoded(payload)))

        post()

    def test_queries(self, surface: Surface) -> None:
        """The journal's query: any since, any platform."""

        @fuzz_settings(30, slow_examples=True)
        @given(since=ODD_TEXT | moments | st.sampled_from(["1e300", "99999999999d", "7d"]), platform=names)
        def get(since: str, platform: str) -> None:
            assert_answered(
                surface.client.get("/api/v1/incidents", params={"since": since, "platform": platform})
            )

        get()

    @pytest.mark.parametrize(
        ("path", "body", "key"),
        [
            ("/api/v1/trigger", {"custom": True, "name": "nul-message", "message": "a\x00b"}, "message"),
            (
                "/api/v1/trigger",
                {"target": "telegram", "message": "m", "messages": {"fr": "\x00"}},
                "messages.fr",
            ),
            ("/api/v1/alertmanager", {"labels": {"alertname": "\x00"}}, "alerts[0].labels.alertname"),
            ("/api/v1/alertmanager", {"labels": {"x\x00": "y"}}, "alerts[0].labels.<key>"),
            ("/api/v1/alertmanager", {"annotations": {"summary": "\x00"}}, "alerts[0].annotations.summary"),
            ("/api/v1/alertmanager", {"fingerprint": "f\x00"}, "alerts[0].fingerprint"),
        ],
    )
    def test_a_nul_character_is_refused(
        self, surface: Surface, path: str, body: dict[str, Any], key: str
    ) -> None:
        """A NUL (\\u0000) in any text: 422 naming the key, on SQLite as on PostgreSQL,
        which stores no NUL in a text."""
        if path.endswith("alertmanager"):
            alert = {
                "status": "firing",
                "labels": {"platform": "telegram"},
                "annotations": {},
                "startsAt": "2026-10-04T15:39:30Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": "a1b2c3",
            }
            for field, value in body.items():
                alert[field] = alert[field] | value if isinstance(value, dict) else value  # type: ignore[operator]
            body = {"version": "4", "status": "firing", "alerts": [alert]}
        response = surface.post(path, encoded(body))
        assert_answered(response)
        assert response.status_code == 422
        assert response.json()["detail"] == [f"{key}: must not contain NUL (\\u0000)"]

    @pytest.mark.parametrize("incident_id", ["0", "999999999", "9223372036854775807", "9" * 30])
    def test_resolve_any_id(self, surface: Surface, incident_id: str) -> None:
        """An id no incident has, however large: 404."""
        response = surface.post(f"/api/v1/incidents/{incident_id}/resolve", b"{}")
        assert_answered(response)
        assert response.status_code == 404

    def test_a_body_over_the_limit(self, surface: Surface) -> None:
        """Over the size limit: 413, whether declared or streamed."""
        body = b'{"target": "whatsapp", "message": "' + b"x" * MAX_BODY_BYTES + b'"}'
        response = surface.post("/api/v1/trigger", body)
        assert_answered(response)
        assert response.status_code == 413

        def chunks() -> Iterator[bytes]:
            yield body

        streamed = surface.client.post(
            "/api/v1/trigger",
            content=chunks(),
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        )
        assert_answered(streamed)
        assert streamed.status_code == 413
