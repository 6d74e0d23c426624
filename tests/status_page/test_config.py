"""``[status_page]``: its defaults, its keys, and the mistakes it refuses by key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from failover.config import StatusPageSettings, load_config, parse_config
from failover.domain import Endpoint
from failover.errors import ConfigError

EXAMPLE = Path(__file__).parents[2] / "config" / "failover.example.toml"


def parse(text: str) -> StatusPageSettings:
    return parse_config(text, source="test.toml", env={}).status_page


class TestStatusPageSection:
    def test_off_by_default(self) -> None:
        """Without the section: no listener, no directory; English first, every 5 min."""
        settings = parse("")
        assert settings == StatusPageSettings()
        assert settings.listen is None
        assert settings.directory is None
        assert settings.languages == ("en", "fr")
        assert settings.publish_every_s == 300.0

    def test_every_key(self) -> None:
        """Each key lands where the site reads it; the base URL gains its final slash."""
        settings = parse(
            """
[status_page]
listen = "[::1]:8443"
directory = "/srv/status"
languages = ["fr", "en", "fr"]
title = "Mairie : nos lignes"
publish_every = "2m"
base_url = "https://status.example.org/mairie"
history_days = 30
"""
        )
        assert settings.listen == Endpoint(host="::1", port=8443)
        assert settings.directory == "/srv/status"
        assert settings.languages == ("fr", "en")
        assert settings.title == "Mairie : nos lignes"
        assert settings.publish_every_s == 120.0
        assert settings.base_url == "https://status.example.org/mairie/"
        assert settings.history_days == 30

    @pytest.mark.parametrize(
        ("section", "key", "message"),
        [
            ('listen = "127.0.0.1:9464"', "status_page.listen", "a listener of its own"),
            ('listen = "0.0.0.0:9464"', "status_page.listen", "a listener of its own"),
            ('languages = ["de"]', "status_page.languages[0]", ""),
            ("languages = []", "status_page.languages", ""),
            ('publish_every = "5s"', "status_page.publish_every", ""),
            ('base_url = "ftp://example.org/"', "status_page.base_url", "http"),
            ("history_days = 1000", "status_page.history_days", ""),
            ('colour = "red"', "status_page", "unknown key 'colour'"),
        ],
    )
    def test_mistakes_name_their_key(self, section: str, key: str, message: str) -> None:
        """A wrong value is an error naming the key: the admin API's own address, a
        language the site is not written in, too frequent builds, a base URL that is not
        http(s), an unknown key."""
        with pytest.raises(ConfigError) as caught:
            parse(f"[status_page]\n{section}\n")
        assert caught.value.key == key
        assert message in caught.value.message

    def test_the_example_documents_it(self) -> None:
        """config/failover.example.toml sets every key of the section, and is valid."""
        settings = load_config(EXAMPLE, env={}).status_page
        text = EXAMPLE.read_text()
        for key in ("listen", "directory", "languages", "title", "publish_every", "base_url", "history_days"):
            assert f"\n{key} = " in text.split("[status_page]", 1)[1].split("\n[", 1)[0], key
        assert settings.listen == Endpoint(host="127.0.0.1", port=8080)
