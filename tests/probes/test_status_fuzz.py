"""Status sources under fuzzing: whatever a status page serves, in whatever encoding and
however compressed, the probe gives a reading (ok, minor, major), a parse_error or
status_unreachable, with a detail of one printable line, and never raises.

The bulk goes straight through the parsers; a representative set is served over real HTTP
on 127.0.0.1 and fetched by the Prober: gzip and deflate bombs (gzip within gzip too), a
coding failover does not read, bodies over the size cap, entity bombs and external
entities in UTF-8 and UTF-16, declared charsets and byte order marks.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import json
import re
import threading
import tracemalloc
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

import pytest
from hypothesis import given
from hypothesis import strategies as st

from failover.domain import HttpCheck, Observation, Outcome, StatusCheck, StatusFormat
from failover.probes import MAX_STATUS_BYTES, Prober, StatusReading, parse_feed, parse_meta, parse_statuspage
from tests.fuzzing import ODD_TEXT, fuzz_settings
from tests.kit import HttpServer, Request, Response
from tests.probes.conftest import USER_AGENT, utc_now

NOW = datetime(2024, 3, 5, 16, tzinfo=UTC)
READINGS = {Outcome.ok, Outcome.status_minor, Outcome.status_major, Outcome.parse_error}
#: what a status check may observe: a reading, or the source could not be fetched
STATUS_OUTCOMES = READINGS | {Outcome.status_unreachable}
#: what no detail may carry: control characters (NUL included), line and paragraph
#: separators, bidirectional overrides, lone surrogates
UNPRINTABLE = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]"
)
MIB = 2**20


def assert_clean(detail: str) -> None:
    """A detail is one line of printable text that a database and a log line take as is."""
    assert not UNPRINTABLE.search(detail), repr(detail)
    detail.encode("utf-8")  # raises on a lone surrogate
    assert len(detail) <= 500


def assert_reading(reading: StatusReading) -> None:
    assert reading.outcome in READINGS
    assert_clean(reading.detail)


def meaning(reading: StatusReading) -> tuple[Outcome, str]:
    """What a reading says; a parse error's position depends on the bytes, not the words."""
    return reading.outcome, "" if reading.outcome is Outcome.parse_error else reading.detail


# ------------------------------------------------------------------------------- documents

#: encodings expat reads (natively, or byte by byte through Python's codecs), with the name
#: a declaration gives them
DECLARABLE = {
    "utf-8": "UTF-8",
    "utf-16": "UTF-16",  # with a byte order mark
    "utf-16-le": "UTF-16LE",
    "utf-16-be": "UTF-16BE",
    "latin-1": "ISO-8859-1",
    "cp1252": "windows-1252",
    "iso-8859-15": "ISO-8859-15",
    "koi8-r": "KOI8-R",
    "ascii": "US-ASCII",
}
#: what the JSON formats may be sent in (RFC 8259 and json.loads: UTF-8, -16 or -32, with
#: or without a byte order mark)
JSON_ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le"]
#: any encoding a server might use and not say
ANY_ENCODING = [*DECLARABLE, "utf-8-sig", "utf-32", "shift_jis", "gb18030", "big5", "cp437"]

words = st.sampled_from(
    ["Resolved", "Investigating", "Monitoring", "major outage", "unavailable", "Messaging", "Login", "- "]
)
texts = st.lists(words | ODD_TEXT, max_size=5).map(" ".join)
dates = st.sampled_from(
    [
        "Tue, 05 Mar 2024 15:42:11 +0000", "2024-03-05T15:42:11Z", "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-14:00", "Mon, 01 Jan 0001 00:00:00 +2359", "Fri, 31 Dec 9999 23:59:59 -2359",
        "", "1e300", "not a date",
    ]
)  # fmt: skip


@st.composite
def feed_texts(draw: st.DrawFn) -> str:
    """An RSS 2.0 or Atom document (as text, no XML declaration) with a few entries."""
    entries = draw(st.lists(st.tuples(texts, texts, dates), max_size=4))
    if draw(st.booleans()):
        items = "".join(
            f"<item><title>{escape(title)}</title><description>{escape(text)}</description>"
            f"<pubDate>{when}</pubDate></item>"
            for title, text, when in entries
        )
        return f"<rss version='2.0'><channel><title>Status</title>{items}</channel></rss>"
    items = "".join(
        f"<entry><title>{escape(title)}</title><content type='html'>{escape(text)}</content>"
        f"<updated>{when}</updated></entry>"
        for title, text, when in entries
    )
    return f"<feed xmlns='http://www.w3.org/2005/Atom'><title>Status</title>{items}</feed>"


def declared(text: str, encoding: str) -> bytes:
    """``text`` in ``encoding`` with a declaration saying so; characters the encoding lacks
    become character references, so the document means the same in every encoding."""
    document = f'<?xml version="1.0" encoding="{DECLARABLE[encoding]}"?>{text}'
    return document.encode(encoding, errors="xmlcharrefreplace")


def laughs(levels: int) -> str:
    """The "billion laughs" DTD: each entity ten of the one before."""
    entities = ['<!ENTITY l0 "lol">'] + [
        f'<!ENTITY l{n} "{f"&l{n - 1};" * 10}">' for n in range(1, levels + 1)
    ]
    return f"<!DOCTYPE rss [{''.join(entities)}]>"


statuspage_documents = st.fixed_dictionaries(
    {
        "status": st.fixed_dictionaries(
            {"indicator": st.sampled_from(["none", "minor", "major", "critical", "maintenance"]),
             "description": texts},
        ),
        "components": st.lists(
            st.fixed_dictionaries(
                {"name": st.sampled_from(["Messaging", "Login"]) | texts,
                 "status": st.sampled_from(["operational", "partial_outage", "major_outage"]) | texts},
            ),
            max_size=4,
        ),
    }
)  # fmt: skip
meta_documents = st.lists(
    st.fixed_dictionaries(
        {
            "id": st.sampled_from(["whatsapp-business-api", "fbs"]) | texts,
            "name": texts,
            "services": st.lists(
                st.fixed_dictionaries(
                    {
                        "name": texts,
                        "status": st.sampled_from(["No known issues", "High disruptions"]) | texts,
                    }
                ),
                min_size=1,
                max_size=3,
            ),
        }
    ),
    min_size=1,
    max_size=3,
)
#: JSON escapes let a source write any code point, lone surrogates and controls included
json_strings_with_anything = st.text(
    alphabet=st.characters(categories=["Cs", "Cc", "Cf", "Zl", "Zp"]) | st.characters(), max_size=20
)
components = st.lists(st.sampled_from(["Messaging", "Login", "fbs", "Graph API"]) | texts, max_size=2)


@pytest.mark.slow
class TestFeedsInAnyEncoding:
    """RSS and Atom are read the same in every encoding a document can declare."""

    @fuzz_settings(200)
    @given(text=feed_texts(), encoding=st.sampled_from(sorted(DECLARABLE)), watched=components)
    def test_a_declared_encoding_does_not_change_the_reading(
        self, text: str, encoding: str, watched: list[str]
    ) -> None:
        """The same feed declared in another encoding reads as in UTF-8 (the same words)."""
        reference = parse_feed(declared(text, "utf-8"), watched, now=NOW)
        reading = parse_feed(declared(text, encoding), watched, now=NOW)
        assert meaning(reading) == meaning(reference)
        assert_reading(reading)

    @fuzz_settings(100)
    @given(text=feed_texts(), bom=st.sampled_from(["utf-8-sig", "utf-16", "utf-32"]))
    def test_a_byte_order_mark_is_enough(self, text: str, bom: str) -> None:
        """Without a declaration, a byte order mark says the encoding (expat reads no UTF-32:
        a parse_error, never a wrong reading)."""
        reading = parse_feed(text.encode(bom, errors="xmlcharrefreplace"), now=NOW)
        if bom == "utf-32":
            assert reading.outcome is Outcome.parse_error
        else:
            assert meaning(reading) == meaning(parse_feed(declared(text, "utf-8"), now=NOW))

    @fuzz_settings(200)
    @given(
        text=feed_texts(),
        encoding=st.sampled_from(ANY_ENCODING),
        declaration=st.sampled_from(["", *DECLARABLE.values(), "no-such-codec", "UTF-7", "Shift_JIS"]),
        cut=st.none() | st.integers(min_value=0),
    )
    def test_misdeclared_undeclared_and_truncated(
        self, text: str, encoding: str, declaration: str, cut: int | None
    ) -> None:
        """An encoding the document does not declare, or declares wrongly, or a document cut
        anywhere: a reading or a parse_error, with a clean detail."""
        head = f'<?xml version="1.0" encoding="{declaration}"?>' if declaration else ""
        body = (head + text).encode(encoding, errors="replace")
        if cut is not None:
            body = body[: cut % (len(body) + 1)]
        assert_reading(parse_feed(body, now=NOW))
        assert_reading(parse_feed(body))


class TestFeedEntities:
    """Entity declarations are refused in every encoding; a plain DOCTYPE is not."""

    @fuzz_settings(60)
    @given(
        encoding=st.sampled_from(["utf-8", "utf-16", "utf-16-le", "utf-16-be", "cp1252"]),
        doctype=st.sampled_from(
            [
                laughs(9),
                '<!DOCTYPE rss [<!ENTITY e "major outage">]>',
                '<!DOCTYPE rss [<!ENTITY e SYSTEM "file:///etc/hostname">]>',
                '<!DOCTYPE rss [<!ENTITY % p SYSTEM "http://127.0.0.1:9/p.dtd"> %p;]>',
                '<!DOCTYPE rss [<!ENTITY e "x"><!ATTLIST rss version CDATA "2.0">]>',
            ]
        ),
        reference=st.sampled_from(["&l9;", "&e;", ""]),
    )
    def test_declared_entities_are_refused(self, encoding: str, doctype: str, reference: str) -> None:
        """A billion laughs, an internal or external entity, a parameter entity: refused,
        declared in UTF-8 or in UTF-16, used or not."""
        text = f"{doctype}<rss version='2.0'><channel><item><title>{reference}</title></item></channel></rss>"
        reading = parse_feed(declared(text, encoding), now=NOW)
        assert reading.outcome is Outcome.parse_error
        assert reading.detail == "feed declares entities; refused"

    def test_a_billion_laughs_is_refused_at_once(self) -> None:
        """The refusal comes before any expansion: no time, no memory."""
        body = declared(
            laughs(30) + "<rss><channel><item><title>&l30;</title></item></channel></rss>", "utf-16"
        )
        tracemalloc.start()
        try:
            reading = parse_feed(body)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert reading.outcome is Outcome.parse_error
        assert peak < 4 * MIB

    def test_a_plain_doctype_is_read(self) -> None:
        """An RSS 0.91 DOCTYPE naming its DTD is allowed; the DTD is never fetched."""
        body = (
            b'<?xml version="1.0"?><!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" '
            b'"http://127.0.0.1:9/rss-0.91.dtd"><rss version="0.91"><channel><item>'
            b"<title>Major outage</title></item></channel></rss>"
        )
        assert parse_feed(body) == StatusReading(outcome=Outcome.status_major, detail="open: Major outage")

    def test_html_in_cdata_is_text(self) -> None:
        """A DOCTYPE inside a CDATA section (an HTML description) is text, not a declaration."""
        body = (
            b"<rss version='2.0'><channel><item><title>Login</title><description><![CDATA["
            b"<!DOCTYPE html><p><strong>Resolved</strong> - fixed</p>]]></description></item></channel></rss>"
        )
        assert parse_feed(body).outcome is Outcome.ok


class TestJsonInAnyEncoding:
    """Statuspage and Meta JSON read the same in UTF-8, -16 and -32, with or without a BOM."""

    @fuzz_settings(200)
    @given(
        document=statuspage_documents | meta_documents,
        encoding=st.sampled_from(JSON_ENCODINGS),
        watched=components,
    )
    @pytest.mark.slow
    def test_the_encoding_does_not_change_the_reading(
        self, document: Any, encoding: str, watched: list[str]
    ) -> None:
        """The same document in another encoding reads as in UTF-8 (the same words)."""
        text = json.dumps(document, ensure_ascii=False)
        for parse in (parse_statuspage, parse_meta):
            reading = parse(text.encode(encoding), watched)
            assert meaning(reading) == meaning(parse(text.encode("utf-8"), watched))
            assert_reading(reading)

    @fuzz_settings(200)
    @given(
        value=json_strings_with_anything,
        where=st.sampled_from(["description", "component", "status", "org", "service"]),
        ascii_only=st.booleans(),
    )
    def test_any_string_in_the_detail_is_cleaned(self, value: str, where: str, ascii_only: bool) -> None:
        """NUL, line breaks, bidirectional overrides and lone surrogates written by the
        source (JSON escapes them all) never reach the detail as such."""
        page = {
            "status": {"indicator": "minor", "description": value if where == "description" else "x"},
            "components": [{"name": value if where == "component" else "Login",
                            "status": value if where == "status" else "major_outage"}],
        }  # fmt: skip
        services = [
            {"name": value if where == "service" else "Shops", "status": "High disruptions"},
            {"name": "Checkout", "status": value if where == "status" else "Low disruptions"},
        ]
        orgs = [{"id": value if where == "org" else "fbs", "name": "Shops", "services": services}]
        for body, parse, watched in (
            (page, parse_statuspage, ()),
            (page, parse_statuspage, ("Login", value)),
            (orgs, parse_meta, ()),
        ):
            raw = json.dumps(body, ensure_ascii=ascii_only).encode("utf-8", errors="surrogatepass")
            assert_reading(parse(raw, watched))

    @fuzz_settings(150)
    @given(
        document=statuspage_documents | meta_documents,
        encoding=st.sampled_from(ANY_ENCODING),
        cut=st.none() | st.integers(min_value=0),
    )
    def test_other_encodings_and_truncation(self, document: Any, encoding: str, cut: int | None) -> None:
        """cp1252, Shift_JIS, … or a body cut anywhere: a reading or a parse_error."""
        body = json.dumps(document, ensure_ascii=False).encode(encoding, errors="replace")
        if cut is not None:
            body = body[: cut % (len(body) + 1)]
        assert_reading(parse_statuspage(body, ("Login",)))
        assert_reading(parse_meta(body))


@pytest.mark.slow
class TestHugeBodies:
    """Bodies over the cap are refused unread; deep nesting is a parse_error."""

    @pytest.mark.parametrize(
        "body",
        [
            pytest.param(b"[" * 1_000_000 + b"]" * 1_000_000, id="json-array-2M-deep"),
            pytest.param(b'{"a":' * 300_000 + b"1" + b"}" * 300_000, id="json-object-300k-deep"),
            pytest.param(b"<a>" * 600_000 + b"</a>" * 10, id="xml-600k-deep"),
            pytest.param(b" " * (MAX_STATUS_BYTES + 1), id="blank-over-the-cap"),
            pytest.param(b"9" * 100_000, id="100k-digit-number"),
        ],
    )
    def test_every_parser_answers(self, body: bytes) -> None:
        """Too deep, too big or too long a number: a parse_error from every parser."""
        for parse in (parse_statuspage, parse_meta, parse_feed):
            reading = parse(body, ())
            assert reading.outcome is Outcome.parse_error
            assert_clean(reading.detail)


# ------------------------------------------------------------------------- over real HTTP


class StatusSource(HttpServer):
    """Serves whatever response ``serve`` sets, and counts the requests for each path."""

    def __init__(self) -> None:
        super().__init__()
        self._answer = Response(404)
        self._answer_lock = threading.Lock()

    def serve(self, body: bytes, content_type: str = "application/json", **headers: str) -> None:
        with self._answer_lock:
            self._answer = Response(
                200, body, content_type, {k.replace("_", "-"): v for k, v in headers.items()}
            )

    def paths(self) -> list[str]:
        return [request.path for request in self.received]

    async def respond(self, request: Request) -> Response:
        if request.path != "/status":
            return Response(404, b"")
        with self._answer_lock:
            return self._answer


@pytest.fixture
def source() -> Iterator[StatusSource]:
    with StatusSource() as server:
        yield server


async def fetch(
    prober: Prober, source: StatusSource, fmt: StatusFormat = StatusFormat.statuspage
) -> Observation:
    check = StatusCheck(name="status", url=f"{source.url}/status", format=fmt, timeout_s=10.0)
    observation = await prober.probe(target="example", check=check)
    assert observation.outcome in STATUS_OUTCOMES
    assert_clean(observation.detail)
    return observation


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9, mtime=0)


@functools.cache
def bomb(coding: str) -> bytes:
    """64 MiB of zeros in ``coding`` (``gzip``, ``deflate`` or ``gzip, gzip``), compressed
    without being held: about 64 KiB, a thousandth (``gzip, gzip``: a few hundred bytes).
    Whoever inflates one network read of it at once holds 64 MiB."""
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | (0 if coding == "deflate" else 16))
    block = bytes(MIB)
    packed = b"".join(packer.compress(block) for _ in range(64)) + packer.flush()
    return gzipped(packed) if coding == "gzip, gzip" else packed


GOOD_PAGE = json.dumps({"status": {"indicator": "major", "description": "Partial outage"}}).encode()


class TestOverHttp:
    """A representative set, served over HTTP on 127.0.0.1 and fetched by the Prober."""

    @pytest.mark.parametrize(
        ("encoding", "body"),
        [
            ("gzip", gzipped(GOOD_PAGE)),
            ("x-gzip", gzipped(GOOD_PAGE)),
            ("deflate", zlib.compress(GOOD_PAGE)),
            ("deflate", zlib.compress(GOOD_PAGE)[2:-4]),  # raw deflate, as some servers send it
            ("gzip, gzip", gzipped(gzipped(GOOD_PAGE))),
            ("identity", GOOD_PAGE),
        ],
    )
    async def test_compressed_pages_are_read(
        self, prober: Prober, source: StatusSource, encoding: str, body: bytes
    ) -> None:
        """gzip, deflate (with or without its zlib header) and gzip within gzip are read."""
        source.serve(body, content_encoding=encoding)
        observation = await fetch(prober, source)
        assert (observation.outcome, observation.detail) == (
            Outcome.status_major,
            "indicator=major Partial outage",
        )

    @pytest.mark.parametrize("encoding", ["gzip", "deflate", "gzip, gzip"])
    async def test_bombs_stop_at_the_cap(self, prober: Prober, source: StatusSource, encoding: str) -> None:
        """A small body that inflates to 64 MiB is read up to the cap and no further: a
        parse_error saying so, and a few MiB of memory at most, never the whole."""
        source.serve(bomb(encoding), content_encoding=encoding)
        tracemalloc.start()
        try:
            observation = await fetch(prober, source)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 24 * MIB
        assert observation.outcome is Outcome.parse_error
        assert observation.detail == f"body over 2 MiB once decoded from {encoding}: not read further"

    async def test_a_front_door_is_capped_the_same_way(self, prober: Prober, source: StatusSource) -> None:
        """An HTTP check reads a bomb up to its own cap (1 MiB) and matches its pattern there."""
        source.serve(bomb("gzip"), content_type="text/html", content_encoding="gzip")
        check = HttpCheck(name="home", url=f"{source.url}/status", body_pattern="^\x00+$", timeout_s=10.0)
        tracemalloc.start()
        try:
            observation = await prober.probe(target="example", check=check)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert observation.outcome is Outcome.ok
        assert peak < 24 * MIB

    async def test_a_plain_body_over_the_cap(self, prober: Prober, source: StatusSource) -> None:
        """Over 2 MiB sent as is: a parse_error saying the cap."""
        source.serve(b" " * (3 * MIB) + GOOD_PAGE)
        observation = await fetch(prober, source)
        assert (observation.outcome, observation.detail) == (
            Outcome.parse_error,
            "body over 2 MiB: not read further",
        )

    @pytest.mark.parametrize("encoding", ["br", "zstd", "compress", "gzip, br"])
    async def test_a_coding_failover_does_not_read(
        self, prober: Prober, source: StatusSource, encoding: str
    ) -> None:
        """A body in brotli, zstd, … is never taken for JSON: a parse_error naming the coding."""
        source.serve(b"\x1b\x00\x00\x00 not really", content_encoding=encoding)
        observation = await fetch(prober, source)
        assert observation.outcome is Outcome.parse_error
        assert observation.detail.startswith("body in a content-encoding failover does not read: ")

    @pytest.mark.parametrize("body", [b"\x1f\x8b\x08\x00garbage", gzipped(GOOD_PAGE)[:-12] + b"\xff" * 12])
    async def test_corrupt_gzip(self, prober: Prober, source: StatusSource, body: bytes) -> None:
        """A body that is not the gzip it claims: the source cannot be read."""
        source.serve(body, content_encoding="gzip")
        observation = await fetch(prober, source)
        assert observation.outcome in {Outcome.status_unreachable, Outcome.parse_error}

    @pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
    async def test_entities_over_http(self, prober: Prober, source: StatusSource, encoding: str) -> None:
        """A feed with a billion laughs and an external entity on this very server: refused,
        and the entity's URL is never asked for."""
        text = (
            f'{laughs(9)[:-2]}<!ENTITY x SYSTEM "{source.url}/entity">]>'
            "<rss version='2.0'><channel><item><title>&l9;&x;</title></item></channel></rss>"
        )
        source.serve(declared(text, encoding), content_type="application/rss+xml")
        observation = await fetch(prober, source, StatusFormat.feed)
        assert (observation.outcome, observation.detail) == (
            Outcome.parse_error,
            "feed declares entities; refused",
        )
        assert source.paths() == ["/status"]

    async def test_an_external_dtd_is_not_fetched(self, prober: Prober, source: StatusSource) -> None:
        """A DOCTYPE naming a DTD on this very server: the feed is read, the DTD never asked for."""
        body = (
            f'<?xml version="1.0"?><!DOCTYPE rss SYSTEM "{source.url}/rss.dtd"><rss version="2.0">'
            "<channel><item><title>Messages delayed</title><description>Investigating</description></item>"
            "</channel></rss>"
        ).encode()
        source.serve(body, content_type="application/rss+xml")
        observation = await fetch(prober, source, StatusFormat.feed)
        assert observation.outcome is Outcome.status_minor
        assert source.paths() == ["/status"]

    @pytest.mark.parametrize(
        ("encoding", "content_type"),
        [
            ("cp1252", "application/rss+xml; charset=windows-1252"),
            ("utf-16", "application/rss+xml"),
            ("utf-8-sig", "application/rss+xml; charset=utf-8"),
            ("latin-1", "text/xml; charset=utf-8"),  # a wrong charset: the declaration decides
        ],
    )
    async def test_feeds_in_their_encodings(
        self, prober: Prober, source: StatusSource, encoding: str, content_type: str
    ) -> None:
        """Declared cp1252, UTF-16 with its BOM, a UTF-8 BOM: the feed is read."""
        text = (
            "<rss version='2.0'><channel><item><title>Messagerie unavailable \u2013 « café »</title>"
            "<description>Investigating</description></item></channel></rss>"
        )
        body = declared(text, encoding) if encoding in DECLARABLE else text.encode(encoding)
        source.serve(body, content_type=content_type)
        observation = await fetch(prober, source, StatusFormat.feed)
        assert observation.outcome is Outcome.status_major
        assert observation.detail == "open: Messagerie unavailable \u2013 « café »"

    async def test_an_undeclared_cp1252_feed_is_a_parse_error(
        self, prober: Prober, source: StatusSource
    ) -> None:
        """cp1252 bytes read as the UTF-8 they are not: a parse_error saying where."""
        text = "<rss version='2.0'><channel><item><title>Panne \u2013 café</title></item></channel></rss>"
        body = text.encode("cp1252")
        source.serve(body, content_type="application/rss+xml")
        observation = await fetch(prober, source, StatusFormat.feed)
        assert observation.outcome is Outcome.parse_error
        assert observation.detail.startswith("not XML: not well-formed (invalid token): line 1")

    @pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-32"])
    async def test_json_with_a_byte_order_mark(
        self, prober: Prober, source: StatusSource, encoding: str
    ) -> None:
        """A Statuspage summary with a byte order mark is read."""
        source.serve(GOOD_PAGE.decode().encode(encoding))
        assert (await fetch(prober, source)).outcome is Outcome.status_major


class TestFuzzedOverHttp:
    """Random bodies and headers over HTTP: the probe answers, whatever comes."""

    def test_any_body_any_header(self, source: StatusSource) -> None:
        """Bodies of any format, encoding and coding, possibly cut or corrupted."""
        with asyncio.Runner() as runner:
            prober = Prober(user_agent=USER_AGENT, clock=utc_now)
            try:

                @fuzz_settings(40, slow_examples=True)
                @given(
                    text=feed_texts() | statuspage_documents.map(json.dumps) | meta_documents.map(json.dumps),
                    encoding=st.sampled_from(ANY_ENCODING),
                    coding=st.sampled_from(["", "gzip", "deflate", "gzip, gzip", "br", "identity"]),
                    cut=st.none() | st.integers(min_value=0),
                    fmt=st.sampled_from(list(StatusFormat)),
                    content_type=st.sampled_from(
                        ["application/json", "application/rss+xml; charset=windows-1252", "text/html", ""]
                    ),
                )
                def one(  # noqa: PLR0917 - one argument per fuzzed dimension
                    text: str,
                    encoding: str,
                    coding: str,
                    cut: int | None,
                    fmt: StatusFormat,
                    content_type: str,
                ) -> None:
                    body = text.encode(encoding, errors="replace")
                    for layer in [c.strip() for c in coding.split(",") if c.strip()]:
                        body = {"gzip": gzipped, "deflate": zlib.compress}.get(layer, lambda b: b)(body)
                    if cut is not None:
                        body = body[: cut % (len(body) + 1)]
                    source.serve(body, content_type=content_type, content_encoding=coding or "identity")
                    runner.run(fetch(prober, source, fmt))

                one()
            finally:
                runner.run(prober.aclose())
