"""One build of the status site: its files, the page's content and accessibility, a
status.json that matches its schema, an Atom feed that parses, badges that are SVG, and
every link inside the site."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import feedparser
import jsonschema
import pytest
from defusedxml import ElementTree

from failover.config import Config
from failover.domain import Health, IncidentKind, Transition
from failover.status_page import SCHEMA_PATH, Site, status_schema
from tests.status_page.conftest import META, TELEGRAM, build, scene, site_config

SVG = "{http://www.w3.org/2000/svg}"


class Page(HTMLParser):
    """The tags of a page with their attributes, and its text (script and style aside)."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text_parts: list[str] = []
        self.style = ""
        self._in: str | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        if tag in ("style", "script"):
            self._in = tag

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "style":
            self.style += data
        elif self._in is None:
            self.text_parts.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.text_parts).split())

    def all(self, tag: str) -> list[dict[str, str]]:
        return [attrs for name, attrs in self.tags if name == tag]

    def links(self) -> Iterator[str]:
        for _tag, attrs in self.tags:
            for name in ("href", "src"):
                if name in attrs:
                    yield attrs[name]


def page(site: Site, path: str) -> Page:
    return Page(site[path].content.decode("utf-8"))


class TestFiles:
    def test_every_file_of_every_language(self, outage: Site) -> None:
        """A page and a feed per language, the default language's also at the root names,
        status.json and its schema, a badge per platform and language, and the icon."""
        files = set(outage.files)
        assert {"index.html", "index.fr.html", "index.en.html"} <= files
        assert {"feed.atom", "feed.fr.atom", "feed.en.atom"} <= files
        assert {"status.json", SCHEMA_PATH, "favicon.svg"} <= files
        assert {"badges/whatsapp.svg", "badges/whatsapp.fr.svg", "badges/whatsapp.en.svg"} <= files
        assert outage["index.html"].content == outage["index.fr.html"].content
        assert outage["index.html"].media_type == "text/html; charset=utf-8"

    def test_every_link_stays_inside_the_site(self, outage: Site) -> None:
        """Every href and src of every page is relative and names a file of the site (or
        an anchor of the page): a copy of the directory works anywhere, with the daemon gone."""
        for path in ("index.fr.html", "index.en.html"):
            parsed = page(outage, path)
            ids = {attrs["id"] for _tag, attrs in parsed.tags if "id" in attrs}
            links = list(parsed.links())
            assert links
            for link in links:
                assert not urlsplit(link).scheme, link
                assert not link.startswith("//"), link
                target, _, anchor = urljoin(path, link).partition("#")
                if target in ("", path):
                    assert not anchor or anchor in ids, link
                else:
                    assert target in outage.files, link


class TestPage:
    """What a visitor reads, and what makes it readable by anyone."""

    def test_the_outage_in_french(self, outage: Site) -> None:
        """During the outage: the banner, the family's public text, the alternatives, each
        Meta platform unavailable since 17:41 Paris time, the history with durations."""
        text = page(outage, "index.fr.html").text
        assert "Certaines de nos lignes sont touchées : voici comment nous joindre." in text
        assert (
            "Nos lignes Facebook, Messenger, Instagram et WhatsApp sont indisponibles depuis le "
            "4 octobre 2021 à 17:40 CEST." in text
        )
        assert "Courriel : contact@example.org" in text
        assert "Téléphone : 01 23 45 67 89" in text
        assert "Indisponible depuis le 4 octobre 2021 à 17:41 CEST" in text
        assert "Perturbations : Telegram" in text
        assert "2 h 32 min" in text
        assert "Annonce : Website" in text
        assert "Panne : Facebook, Messenger, Instagram et WhatsApp" in text
        assert "2 h 20 min (en cours)" in text

    def test_the_outage_in_english(self, outage: Site) -> None:
        """The English page says the same in English, with the English alternatives."""
        text = page(outage, "index.en.html").text
        assert "Our Facebook, Messenger, Instagram and WhatsApp lines are unavailable" in text
        assert "E-mail: contact@example.org" in text
        assert "Courriel" not in text
        assert "Unavailable since 4 October 2021 at 17:41 CEST" in text

    def test_after_recovery(self, recovered: Site) -> None:
        """Recovered (just after midnight in Paris): no current incident, every line works,
        the outage is history (six hours), and yesterday's bar of each Meta platform is red
        with its minutes (from the confirmation to the recovery)."""
        parsed = page(recovered, "index.en.html")
        assert "All our lines work normally." in parsed.text
        assert "Current incidents" not in parsed.text
        assert "Outage: Facebook, Messenger, Instagram and WhatsApp" in parsed.text
        assert "6 h" in parsed.text
        bars = _bars(recovered, "index.en.html", "whatsapp")
        assert "class" not in bars[-1]
        assert bars[-2]["class"] == "d"
        assert bars[-2]["title"] == "4 Oct 2021: unavailable 5 h 59 min"

    def test_ninety_daily_bars_per_platform(self, outage: Site, config: Config) -> None:
        """Every platform has 90 bars: today's red for the Meta platforms, the day of the
        Telegram disruption orange with its minutes, the rest green."""
        for platform in config.platforms:
            bars = _bars(outage, "index.fr.html", platform.name)
            assert len(bars) == 90, platform.name
            expected_today = "d" if platform.name in META else ""
            assert bars[-1].get("class", "") == expected_today, platform.name
        telegram = _bars(outage, "index.fr.html", "telegram")
        disrupted = [bar for bar in telegram if bar.get("class") == "g"]
        assert [bar["title"] for bar in disrupted] == ["20 sept. 2021 : fonctionne mal 2 h 32 min"]

    def test_landmarks_language_and_headings(self, outage: Site) -> None:
        """lang on the root, one h1, header, a labelled language nav, main, footer; every
        section is labelled by its heading; no script at all."""
        for language in ("fr", "en"):
            parsed = page(outage, f"index.{language}.html")
            assert parsed.all("html") == [{"lang": language}]
            assert len(parsed.all("h1")) == 1
            for landmark in ("header", "main", "footer"):
                assert len(parsed.all(landmark)) == 1, landmark
            assert parsed.all("nav")[0]["aria-label"]
            ids = {attrs["id"] for _tag, attrs in parsed.tags if "id" in attrs}
            for section in parsed.all("section"):
                assert section["aria-labelledby"] in ids
            assert not parsed.all("script")
            current = [a for a in parsed.all("a") if a.get("aria-current") == "page"]
            assert [a["hreflang"] for a in current] == [language]

    def test_the_style_is_the_only_thing_the_policy_allows(self, outage: Site) -> None:
        """The page's Content-Security-Policy allows its inline style by hash (so the
        browser applies it) and nothing else: no script, no other origin."""
        parsed = page(outage, "index.en.html")
        meta = parsed.all("meta")
        policy = next(m["content"] for m in meta if m.get("http-equiv") == "Content-Security-Policy")
        digest = base64.b64encode(hashlib.sha256(parsed.style.encode("utf-8")).digest()).decode()
        assert f"style-src 'sha256-{digest}'" in policy
        assert "default-src 'none'" in policy
        assert "script" not in policy

    def test_colours_have_enough_contrast(self, outage: Site) -> None:
        """White text on each state's colour reaches 4.5:1 (WCAG AA); the grey of a day
        not watched reaches 3:1 against the page (a graphic, not text)."""
        style = page(outage, "index.en.html").style
        colours = dict(re.findall(r"--([a-z]+):(#[0-9a-f]{6})", style))
        for state in ("up", "degraded", "down", "unknown", "link"):
            assert _contrast(colours[state], "#ffffff") >= 4.5, state
        assert _contrast(colours["none"], "#ffffff") >= 3.0

    def test_a_busy_page_stays_light(self, tmp_path: Path) -> None:
        """The built-in catalog with an incident every half-day for 90 days, spread over
        every platform (each a red bar with its minutes): the page stays under 60 KB."""
        config = site_config(tmp_path)
        snapshot = scene(config)
        names = [p.name for p in config.platforms]
        incidents, transitions = [], []
        for n in range(180):
            start = snapshot.now - timedelta(hours=12 * n + 3)
            name = names[n % len(names)]
            end = start + timedelta(minutes=30)
            incidents.append(
                replace(
                    TELEGRAM,
                    key=f"k{n}",
                    kind=IncidentKind.unreachable,
                    name=name,
                    platforms=(name,),
                    opened_at=start,
                    resolved_at=end,
                )
            )
            transitions += [
                Transition(platform=name, previous=Health.up, current=Health.down, at=start, reason=""),
                Transition(platform=name, previous=Health.down, current=Health.up, at=end, reason=""),
            ]
        transitions.sort(key=lambda t: t.at)
        site = build(config, replace(snapshot, incidents=incidents, transitions=transitions))
        assert page(site, "index.fr.html").text.count("Panne") > 90
        assert len(site["index.fr.html"].content) < 60_000


def _bars(site: Site, path: str, platform: str) -> list[dict[str, str]]:
    """The <li> of the platform's bars, in order."""
    text = site[path].content.decode("utf-8")
    pattern = rf'<li class="platform" id="p-{re.escape(platform)}">.*?<ol class="bars"[^>]*>(.*?)</ol>'
    match = re.search(pattern, text, re.S)
    assert match, platform
    return Page(match[1]).all("li")


def _luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


class TestStatusJson:
    def _validator(self) -> jsonschema.protocols.Validator:
        schema = json.loads(status_schema())
        validator_class = jsonschema.validators.validator_for(schema)
        validator_class.check_schema(schema)
        return validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)

    @pytest.mark.parametrize("when", ["outage", "recovered"])
    def test_matches_its_schema(self, when: str, request: pytest.FixtureRequest) -> None:
        """status.json validates against the schema shipped beside it, during the outage and
        after; the schema in the site is the one in the package."""
        site: Site = request.getfixturevalue(when)
        document = json.loads(site["status.json"].content)
        self._validator().validate(document)
        assert site[SCHEMA_PATH].content == status_schema()

    def test_the_schema_refuses_what_it_does_not_describe(self, outage: Site) -> None:
        """The same document with a field too many, or a state the schema does not know,
        is refused: the schema really constrains the document."""
        document = json.loads(outage["status.json"].content)
        validator = self._validator()
        document["platforms"][0]["state"] = "sideways"
        assert not validator.is_valid(document)
        document = json.loads(outage["status.json"].content)
        document["incidents"][0]["evidence"] = ["a.ns.facebook.com"]
        assert not validator.is_valid(document)

    def test_says_the_state_and_the_history(self, outage: Site) -> None:
        """The Meta platforms are down since their confirmation; the open incident carries
        its public text in both languages; each platform has 90 days of minutes."""
        document = json.loads(outage["status.json"].content)
        assert document["state"] == "down"
        whatsapp = next(p for p in document["platforms"] if p["name"] == "whatsapp")
        assert (whatsapp["state"], whatsapp["since"]) == ("down", "2021-10-04T15:41:00Z")
        assert whatsapp["history"]["down_minutes"][-1] == 139
        assert len(whatsapp["history"]["watched"]) == 90
        family = document["incidents"][0]
        assert family["open"] is True
        assert family["platforms"] == list(META)
        assert "indisponibles" in family["text"]["fr"]["subject"]
        assert "unavailable" in family["text"]["en"]["subject"]
        assert document["alternatives"]["en"] == ["E-mail: contact@example.org", "Phone: +33 1 23 45 67 89"]


class TestFeed:
    @pytest.mark.parametrize("language", ["fr", "en"])
    def test_parses_as_atom_with_one_entry_per_event(self, outage: Site, language: str) -> None:
        """feedparser reads the feed without complaint: Atom 1.0, one entry per incident
        start and end (the open outage, the Telegram disruption's two, the announcement's
        two), the newest first, in the feed's language."""
        feed = feedparser.parse(outage[f"feed.{language}.atom"].content)
        assert not feed.bozo, feed.get("bozo_exception")
        assert feed.version == "atom10"
        assert feed.feed.language == language
        assert len(feed.entries) == 5
        first = feed.entries[0]
        expected = "sont indisponibles" if language == "fr" else "are unavailable"
        assert expected in first.title
        assert first.id.startswith("urn:uuid:")
        assert first.published_parsed[:5] == (2021, 10, 4, 15, 41)
        assert len({entry.id for entry in feed.entries}) == 5

    def test_entries_keep_their_ids_from_build_to_build(self, outage: Site, recovered: Site) -> None:
        """The outage's entry has the same id before and after the recovery; the recovery
        is one entry more, with the public recovery text and the alternatives."""
        before = feedparser.parse(outage["feed.en.atom"].content)
        after = feedparser.parse(recovered["feed.en.atom"].content)
        assert after.entries[1].id == before.entries[0].id
        recovery = after.entries[0]
        assert "work again" in recovery.title
        assert len(after.entries) == len(before.entries) + 1
        assert "E-mail: contact@example.org" in before.entries[0].summary


class TestBadges:
    def test_every_badge_is_svg_saying_the_state(self, outage: Site, config: Config) -> None:
        """Each badge parses as XML (defusedxml), is an SVG whose title says the platform
        and its state in the badge's language."""
        for platform in config.platforms:
            for path, state in (
                (f"badges/{platform.name}.en.svg", "down" if platform.name in META else "up"),
                (f"badges/{platform.name}.fr.svg", "en panne" if platform.name in META else "en service"),
            ):
                root = ElementTree.fromstring(outage[path].content)
                assert root.tag == f"{SVG}svg", path
                assert root.get("role") == "img"
                title = root.find(f"{SVG}title")
                assert title is not None, path
                assert title.text == f"{platform.display_name}: {state}", path
                assert int(root.get("width", "0")) > 0
