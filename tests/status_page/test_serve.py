"""The status site's own listener, over real HTTP on 127.0.0.1: the page in the visitor's
language, every file with its type and caching headers, and nothing else."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import httpx
import pytest

from failover.service._status_http import (
    Listener,
    StatusPageListenError,
    StatusSiteApp,
    preferred_language,
    serve_site,
)
from failover.status_page import Site


@pytest.fixture
async def served(outage: Site) -> AsyncIterator[tuple[StatusSiteApp, httpx.AsyncClient]]:
    """The listener on a free loopback port, and a client for it; nothing served yet."""
    app = StatusSiteApp()
    listener: Listener = await serve_site(app, host="127.0.0.1", port=0)
    try:
        async with httpx.AsyncClient(base_url=f"http://{listener.address}", timeout=10) as client:
            yield app, client
    finally:
        await listener.close()


class TestLanguage:
    @pytest.mark.parametrize(
        ("header", "expected"),
        [
            ("fr-CA,fr;q=0.9,en;q=0.8", "fr"),
            ("en-GB,en;q=0.9,fr;q=0.8", "en"),
            ("de-DE,de;q=0.9,en;q=0.5,fr;q=0.4", "en"),
            ("de-DE,es", "fr"),
            ("", "fr"),
            ("fr;q=0.2,en;q=0.7", "en"),
            ("fr;q=nonsense,en", "en"),
            ("*", "fr"),
        ],
    )
    def test_the_first_language_the_visitor_prefers(self, header: str, expected: str) -> None:
        """The site's language the header prefers most (a regional tag counts for its
        language, weights are read), else the site's default."""
        assert preferred_language(header, ["fr", "en"], "fr") == expected


@pytest.mark.slow
class TestServing:
    async def test_nothing_before_the_first_build(
        self, served: tuple[StatusSiteApp, httpx.AsyncClient]
    ) -> None:
        """Before the first build: 503 with Retry-After, never an empty page."""
        _, client = served
        response = await client.get("/")
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"

    async def test_the_page_in_the_visitors_language(
        self, served: tuple[StatusSiteApp, httpx.AsyncClient], outage: Site
    ) -> None:
        """/ is the French page for a French visitor and the English one for an English
        visitor (``Vary: Accept-Language``); ``?lang=`` overrides the header; each
        language's own file is there too."""
        app, client = served
        app.swap(outage)
        french = await client.get("/", headers={"Accept-Language": "fr-FR,fr;q=0.9"})
        assert french.status_code == 200
        assert '<html lang="fr">' in french.text
        assert french.headers["vary"] == "accept-language"
        english = await client.get("/", headers={"Accept-Language": "en-US,en;q=0.9"})
        assert '<html lang="en">' in english.text
        chosen = await client.get("/?lang=en", headers={"Accept-Language": "fr"})
        assert '<html lang="en">' in chosen.text
        assert (await client.get("/index.en.html")).content == outage["index.en.html"].content

    async def test_every_file_with_its_type(
        self, served: tuple[StatusSiteApp, httpx.AsyncClient], outage: Site
    ) -> None:
        """Each file of the build is served as is, with its media type, an ETag, a short
        public cache life and nosniff; pages carry their CSP as a header, with framing
        forbidden."""
        app, client = served
        app.swap(outage)
        for path, media_type in (
            ("status.json", "application/json"),
            ("feed.atom", "application/atom+xml; charset=utf-8"),
            ("badges/whatsapp.svg", "image/svg+xml"),
            ("favicon.svg", "image/svg+xml"),
            ("status.schema.json", "application/json"),
        ):
            response = await client.get(f"/{path}")
            assert response.status_code == 200, path
            assert response.headers["content-type"] == media_type
            assert response.content == outage[path].content
            assert response.headers["cache-control"] == "public, max-age=15"
            assert response.headers["x-content-type-options"] == "nosniff"
        page = await client.get("/index.fr.html")
        policy = page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy
        assert "style-src 'sha256-" in policy
        assert "&#39;" not in policy

    async def test_not_modified_head_and_refusals(
        self, served: tuple[StatusSiteApp, httpx.AsyncClient], outage: Site
    ) -> None:
        """A known ETag gets 304 without a body; HEAD gets the headers only; another method
        405 with Allow; a path the site does not hold (or climbing out of it) 404."""
        app, client = served
        app.swap(outage)
        first = await client.get("/status.json")
        again = await client.get("/status.json", headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304
        assert again.content == b""
        head = await client.head("/status.json")
        assert head.status_code == 200
        assert head.content == b""
        assert head.headers["content-length"] == str(len(outage["status.json"].content))
        post = await client.post("/", content=b"x")
        assert post.status_code == 405
        assert post.headers["allow"] == "GET, HEAD"
        for path in ("/nothing.html", "/../../etc/passwd", "/badges/", "/.failover-site"):
            assert (await client.get(path)).status_code == 404, path

    async def test_a_new_build_replaces_the_old(
        self, served: tuple[StatusSiteApp, httpx.AsyncClient], outage: Site, recovered: Site
    ) -> None:
        """After a swap the next request gets the new build, and its ETag changes."""
        app, client = served
        app.swap(outage)
        before = await client.get("/status.json")
        app.swap(recovered)
        after = await client.get("/status.json")
        assert after.content == recovered["status.json"].content
        assert after.headers["etag"] != before.headers["etag"]

    async def test_an_address_in_use_is_an_error_naming_the_key(self) -> None:
        """A port another socket holds: StatusPageListenError naming status_page.listen."""
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", 0))
            holder.listen(1)
            port = holder.getsockname()[1]
            with pytest.raises(StatusPageListenError, match=r"status_page\.listen"):
                await serve_site(StatusSiteApp(), host="127.0.0.1", port=port)
