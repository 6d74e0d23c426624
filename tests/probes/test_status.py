"""Status sources read as specifications: fixture payloads of each format, then fuzzing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from failover.domain import Outcome
from failover.probes import MAX_STATUS_BYTES, StatusReading, parse_feed, parse_meta, parse_statuspage

FIXTURES = Path(__file__).parent / "fixtures"

READINGS = {Outcome.ok, Outcome.status_minor, Outcome.status_major, Outcome.parse_error}


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


class TestStatuspage:
    """Atlassian Statuspage v2 summary.json: the indicator, or the worst watched component."""

    @pytest.mark.parametrize(
        ("name", "expected"),
        [
            ("statuspage_none.json", Outcome.ok),
            ("statuspage_minor.json", Outcome.status_minor),
            ("statuspage_maintenance.json", Outcome.status_minor),
            ("statuspage_major.json", Outcome.status_major),
            ("statuspage_critical.json", Outcome.status_major),
        ],
    )
    def test_indicator_decides_without_components(self, name: str, expected: Outcome) -> None:
        """Without watched components the page's overall indicator is the reading."""
        reading = parse_statuspage(fixture(name))
        assert reading.outcome is expected
        assert "indicator=" in reading.detail

    @pytest.mark.parametrize(
        ("component", "expected"),
        [
            ("Messaging", Outcome.status_minor),  # degraded_performance
            ("Voice and Video Calls", Outcome.ok),  # operational
            ("Media Uploads", Outcome.status_minor),  # partial_outage
            ("Login", Outcome.status_minor),  # under_maintenance
        ],
    )
    def test_each_component_state(self, component: str, expected: Outcome) -> None:
        """Each component state maps to its reading."""
        reading = parse_statuspage(fixture("statuspage_minor.json"), (component,))
        assert reading.outcome is expected
        assert component in reading.detail

    def test_major_outage_component(self) -> None:
        """A watched component in major_outage is status_major even when others are fine."""
        reading = parse_statuspage(fixture("statuspage_major.json"), ("login", "Messaging"))
        assert reading.outcome is Outcome.status_major

    def test_components_override_the_indicator(self) -> None:
        """Watching only healthy components reads ok even while the page is in trouble."""
        reading = parse_statuspage(fixture("statuspage_major.json"), ("Login", "Web Client"))
        assert reading.outcome is Outcome.ok

    def test_component_names_match_loosely(self) -> None:
        """Case and surrounding blanks do not matter."""
        reading = parse_statuspage(fixture("statuspage_minor.json"), ("  voice AND video calls ",))
        assert reading.outcome is Outcome.ok

    def test_unlisted_component_is_a_parse_error(self) -> None:
        """A watched component the page does not list means the configuration and page disagree."""
        reading = parse_statuspage(fixture("statuspage_none.json"), ("Stories",))
        assert reading.outcome is Outcome.parse_error
        assert "Stories" in reading.detail

    @pytest.mark.parametrize(
        "body",
        [
            b"",
            b"<!DOCTYPE html><html></html>",
            b"[]",
            b'{"status": {}}',
            b'{"status": {"indicator": "sunny"}}',
            b'{"status": "none"}',
        ],
    )
    def test_other_shapes_are_parse_errors(self, body: bytes) -> None:
        """Anything but a summary with a known indicator is a parse_error, never "ok"."""
        assert parse_statuspage(body).outcome is Outcome.parse_error

    @pytest.mark.parametrize(
        "components",
        [
            [{"name": "Messaging"}],
            [{"name": "Messaging", "status": "on_fire"}],
            ["Messaging"],
            "Messaging",
        ],
    )
    def test_malformed_components_are_parse_errors(self, components: Any) -> None:
        """Components without a known status cannot be judged."""
        body = json.dumps({"status": {"indicator": "none"}, "components": components}).encode()
        assert parse_statuspage(body, ("Messaging",)).outcome is Outcome.parse_error

    def test_oversized_body_is_refused(self) -> None:
        """Bodies above the size limit are not parsed."""
        body = b'{"status": {"indicator": "none"}, "pad": "' + b"x" * MAX_STATUS_BYTES + b'"}'
        assert parse_statuspage(body).outcome is Outcome.parse_error


class TestFeed:
    """RSS 2.0 and Atom: an entry whose latest update is not resolved/completed is an open incident."""

    @pytest.mark.parametrize(
        ("name", "expected"),
        [
            ("feed_rss_open.xml", Outcome.status_minor),
            ("feed_rss_resolved.xml", Outcome.ok),
            ("feed_atom_open.xml", Outcome.status_major),
            ("feed_atom_resolved.xml", Outcome.ok),
        ],
    )
    def test_open_and_resolved_incidents(self, name: str, expected: Outcome) -> None:
        """The latest update decides; a major/unavailable wording makes an open incident major."""
        assert parse_feed(fixture(name)).outcome is expected

    def test_open_incident_is_named(self) -> None:
        """The detail names the open incident."""
        reading = parse_feed(fixture("feed_rss_open.xml"))
        assert "Messages are not being delivered" in reading.detail

    def test_old_entries_are_ignored_when_the_time_is_given(self) -> None:
        """An entry older than max_age no longer counts, whatever it says."""
        later = datetime(2024, 3, 7, tzinfo=UTC)
        assert parse_feed(fixture("feed_rss_open.xml"), now=later).outcome is Outcome.ok
        during = datetime(2024, 3, 5, 16, 0, tzinfo=UTC)
        assert parse_feed(fixture("feed_rss_open.xml"), now=during).outcome is Outcome.status_minor
        wide = timedelta(days=30)
        assert (
            parse_feed(fixture("feed_rss_open.xml"), now=later, max_age=wide).outcome is Outcome.status_minor
        )

    def test_components_filter_entries(self) -> None:
        """With components, only entries that mention one of them count."""
        assert parse_feed(fixture("feed_rss_open.xml"), ("media uploads",)).outcome is Outcome.ok
        assert parse_feed(fixture("feed_rss_open.xml"), ("logged out",)).outcome is Outcome.status_minor

    def test_entry_without_status_words_is_open_unless_its_title_closes_it(self) -> None:
        """Without a status word in the text, the title is the latest update."""
        item = (
            "<rss version='2.0'><channel><item><title>{}</title>"
            "<description>{}</description></item></channel></rss>"
        )
        open_body = item.format("Login problems", "Some users cannot log in.").encode()
        closed_body = item.format("Resolved: login problems", "Some users could not log in.").encode()
        assert parse_feed(open_body).outcome is Outcome.status_minor
        assert parse_feed(closed_body).outcome is Outcome.ok

    def test_empty_feed_is_ok(self) -> None:
        """A feed without entries has no open incident."""
        body = b'<feed xmlns="http://www.w3.org/2005/Atom"><title>x</title></feed>'
        assert parse_feed(body).outcome is Outcome.ok

    @pytest.mark.parametrize(
        "body",
        [
            b"",
            b"not xml at all",
            b"<html><body>Status</body></html>",
            b"<rss version='2.0'></rss>",
            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
            b"<rss><channel><item><title>&lol2;</title></item></channel></rss>",
            b'<?xml version="1.0" encoding="no-such-codec"?><rss/>',
        ],
    )
    def test_other_documents_are_parse_errors(self, body: bytes) -> None:
        """Non-feeds, broken XML and documents with a DTD or entities are refused."""
        assert parse_feed(body).outcome is Outcome.parse_error


class TestMeta:
    """Meta's orgs.json is read strictly: the known shape and wording, or a parse_error."""

    def test_all_clear(self) -> None:
        """Every service without known issues (or resolved) reads ok."""
        assert parse_meta(fixture("meta_orgs_ok.json")).outcome is Outcome.ok

    def test_disruptions(self) -> None:
        """High disruptions anywhere make the whole reading major."""
        reading = parse_meta(fixture("meta_orgs_disrupted.json"))
        assert reading.outcome is Outcome.status_major
        assert "whatsapp-business-api/Cloud API: High disruptions" in reading.detail

    @pytest.mark.parametrize(
        ("components", "expected"),
        [
            (("whatsapp-business-api",), Outcome.status_major),
            (("Graph API",), Outcome.status_minor),  # an organisation by name
            (("fbs",), Outcome.ok),
            (("Flows",), Outcome.ok),  # a single service by name
            (("Cloud API",), Outcome.status_major),
        ],
    )
    def test_components_choose_organisations_or_services(
        self, components: tuple[str, ...], expected: Outcome
    ) -> None:
        """Components name organisations (id or name) or single services."""
        assert parse_meta(fixture("meta_orgs_disrupted.json"), components).outcome is expected

    def test_unlisted_component_is_a_parse_error(self) -> None:
        """A watched organisation missing from the document is a parse_error."""
        assert parse_meta(fixture("meta_orgs_ok.json"), ("threads",)).outcome is Outcome.parse_error

    def test_html_shell_is_a_parse_error(self) -> None:
        """The 200 HTML shell served on a wrong path is never "all fine"."""
        reading = parse_meta(fixture("meta_html_shell.html"))
        assert reading.outcome is Outcome.parse_error

    @pytest.mark.parametrize(
        "document",
        [
            [],
            {},
            {"orgs": []},
            [{"id": "fbs", "name": "Shops"}],
            [{"id": "fbs", "name": "Shops", "services": [{"name": "Shops"}]}],
            [{"id": "fbs", "name": "Shops", "services": [{"name": "Shops", "status": "Sunny"}]}],
            [{"id": "fbs", "name": "Shops", "services": []}],
            [{"id": 1, "name": "Shops", "services": []}],
            ["fbs"],
            [{"id": "fbs", "name": "Shops", "services": ["Shops"]}],
        ],
    )
    def test_other_shapes_are_parse_errors(self, document: Any) -> None:
        """Anything but the known shape and wording is a parse_error."""
        assert parse_meta(json.dumps(document).encode()).outcome is Outcome.parse_error

    @pytest.mark.parametrize(
        ("status", "expected"),
        [
            ("No known issues", Outcome.ok),
            ("Resolved", Outcome.ok),
            ("Low disruptions", Outcome.status_minor),
            ("Medium disruption", Outcome.status_minor),
            ("High disruptions", Outcome.status_major),
            ("Major disruptions", Outcome.status_major),
            ("Major outage", Outcome.status_major),
        ],
    )
    def test_known_wordings(self, status: str, expected: Outcome) -> None:
        """Each known status wording maps to its reading."""
        document = [
            {"id": "fbs", "name": "Shops", "services": [{"id": 1, "name": "Shops", "status": status}]}
        ]
        assert parse_meta(json.dumps(document).encode()).outcome is expected


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=30,
)
status_words = st.sampled_from(
    [
        "none", "minor", "major", "critical", "maintenance", "operational", "degraded_performance",
        "partial_outage", "major_outage", "under_maintenance", "No known issues", "Resolved",
        "Low disruptions", "High disruptions", "weird",
    ]
)  # fmt: skip
component = st.fixed_dictionaries(
    {"name": st.sampled_from(["Messaging", "Login", "x"]) | st.text(max_size=8), "status": status_words}
)
statuspage_like = st.fixed_dictionaries(
    {
        "status": st.fixed_dictionaries({"indicator": status_words}) | json_values,
        "components": st.lists(component | json_values, max_size=4) | json_values,
    }
)
meta_like = st.lists(
    st.fixed_dictionaries(
        {
            "id": st.sampled_from(["fbs", "graph-api"]) | json_values,
            "name": st.text(max_size=8) | json_values,
            "services": st.lists(component | json_values, max_size=4) | json_values,
        }
    )
    | json_values,
    max_size=4,
)
components_strategy = st.lists(
    st.sampled_from(["Messaging", "Login", "fbs", "x"]) | st.text(max_size=6), max_size=3
)
xml_fragments = st.lists(
    st.sampled_from(
        [
            "<rss version='2.0'>", "<channel>", "<item>", "<title>", "Resolved", "outage",
            "</title>", "<description>", "&lt;strong&gt;Investigating&lt;/strong&gt;", "</description>",
            "<pubDate>", "Tue, 05 Mar 2024 15:42:11 +0000", "garbage date", "</pubDate>", "</item>",
            "</channel>", "</rss>", '<feed xmlns="http://www.w3.org/2005/Atom">', "<entry>", "</entry>",
            "<updated>", "2024-03-05T15:42:11Z", "9999-99-99", "</updated>", "</feed>", "&amp;", "&bogus;",
            "<!DOCTYPE x>", "<![CDATA[", "]]>", "\x00", "\udcff",
        ]
    )
    | st.text(max_size=10),
    max_size=25,
)  # fmt: skip


def assert_reading(reading: StatusReading) -> None:
    assert isinstance(reading, StatusReading)
    assert reading.outcome in READINGS


@pytest.mark.slow
class TestParsersNeverRaise:
    """Fuzzed input of every kind comes out as a reading or a parse_error, never an exception."""

    @settings(max_examples=300)
    @given(body=st.binary(max_size=2048), components=components_strategy)
    def test_any_bytes(self, body: bytes, components: list[str]) -> None:
        """Arbitrary bytes through every parser."""
        now = datetime(2024, 3, 5, tzinfo=UTC)
        assert_reading(parse_statuspage(body, components))
        assert_reading(parse_feed(body, components, now=now))
        assert_reading(parse_meta(body, components))

    @settings(max_examples=300)
    @given(document=json_values | statuspage_like | meta_like, components=components_strategy)
    def test_any_json(self, document: Any, components: list[str]) -> None:
        """Arbitrary JSON structures, some close to the real shapes, through the JSON parsers."""
        body = json.dumps(document).encode()
        assert_reading(parse_statuspage(body, components))
        assert_reading(parse_meta(body, components))

    @settings(max_examples=300)
    @given(fragments=xml_fragments, components=components_strategy)
    def test_any_xmlish(self, fragments: list[str], components: list[str]) -> None:
        """Feed-like XML soup, with and without a clock, through the feed parser."""
        body = "".join(fragments).encode("utf-8", errors="surrogatepass")
        assert_reading(parse_feed(body, components))
        assert_reading(parse_feed(body, components, now=datetime(2024, 3, 5, tzinfo=UTC)))

    def test_deep_nesting(self) -> None:
        """Deeply nested JSON (a recursion bomb) is a parse_error."""
        body = b"[" * 100_000 + b"]" * 100_000
        assert parse_statuspage(body).outcome is Outcome.parse_error
        assert parse_meta(body).outcome is Outcome.parse_error
        assert parse_feed(b"<a>" * 50_000 + b"</a>" * 50_000).outcome is Outcome.parse_error
