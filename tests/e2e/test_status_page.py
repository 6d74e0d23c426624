"""The public status page in a real browser: ``failover run`` publishes it while WhatsApp
goes dark and comes back, and a headless Chromium (Debian's ``chromium`` and
``chromium-driver``, through Selenium, JavaScript off) reads it at desktop and phone widths,
from the daemon's own listener and, once the daemon is stopped, from the directory it wrote.

Screenshots of every look are kept under the test's temporary directory (``screenshots/``).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

from failover.service._status_page import write_site
from tests.e2e.conftest import WAIT_S, Daemon, run_cli, wait_until
from tests.kit import World, free_port
from tests.status_page.conftest import META, build, scene, site_config

pytestmark = pytest.mark.slow

StartDaemon = Callable[[Path], Daemon]

DESKTOP = (1280, 900)
PHONE = (390, 844)  # a phone held upright, in CSS pixels

ALTERNATIVES = """
alternatives = { fr = ["Courriel : contact@example.org", "Téléphone : 01 23 45 67 89"], \
en = ["E-mail: contact@example.org", "Phone: +33 1 23 45 67 89"] }
"""


def debian_program(name: str) -> str:
    """The program's path; missing, the test fails under CI=true and is skipped elsewhere."""
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if path is None:
        message = f"{name} is not installed (Debian: apt-get install chromium chromium-driver)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


class Browser:
    """A headless Chromium driven by Selenium through Debian's chromedriver (never one
    Selenium Manager would download), JavaScript disabled, a fresh profile, the visitor's
    languages given; console messages and full-page screenshots at hand."""

    def __init__(self, *, languages: str, shots: Path) -> None:
        chromium = debian_program("chromium")
        chromedriver = debian_program("chromedriver")
        self.shots = shots
        self._profile = tempfile.mkdtemp(prefix="failover-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for argument in (
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-default-apps",
            f"--user-data-dir={self._profile}",
            f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
        ):
            options.add_argument(argument)
        options.add_experimental_option(
            "prefs",
            {
                "profile.managed_default_content_settings.javascript": 2,
                "intl.accept_languages": languages,
            },
        )
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
        self.driver.set_page_load_timeout(WAIT_S)

    def close(self) -> None:
        self.driver.quit()
        shutil.rmtree(self._profile, ignore_errors=True)

    def open(self, url: str, *, size: tuple[int, int] = DESKTOP) -> None:
        self.driver.get_log("browser")  # forget what earlier pages said
        self.driver.set_window_size(*size)
        self.driver.get(url)

    def console_errors(self) -> list[dict[str, Any]]:
        return [entry for entry in self.driver.get_log("browser") if entry["level"] == "SEVERE"]

    def one(self, selector: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def all(self, selector: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def text(self) -> str:
        return self.one("body").text

    def layout(self) -> dict[str, Any]:
        """The page's size and the viewport's, from the DevTools protocol (no page script)."""
        metrics: dict[str, Any] = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
        return metrics

    def screenshot(self, name: str) -> Path:
        """The whole page, not only what the window shows, as a PNG under ``shots``."""
        content = self.layout()["cssContentSize"]
        shot = self.driver.execute_cdp_cmd(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": content["width"], "height": content["height"], "scale": 1},
            },
        )
        path = self.shots / f"{name}.png"
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


class StaticHost:
    """Any static web server: Python's, serving a directory on 127.0.0.1 (what a copy of
    the published directory looks like on someone else's host)."""

    def __init__(self, directory: Path) -> None:
        handler = partial(_QuietHandler, directory=str(directory))
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="static-host", daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


class _QuietHandler(SimpleHTTPRequestHandler):
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".atom": "application/atom+xml"}  # noqa: RUF012

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    path = tmp_path / "screenshots"
    path.mkdir()
    return path


@pytest.fixture
def browser_factory(shots: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], Browser]]:
    """Chromium for a visitor of the given Accept-Language; every one started is closed."""
    # Selenium must not go looking for drivers or browsers on the internet
    monkeypatch.setenv("SE_OFFLINE", "true")
    monkeypatch.setenv("SE_AVOID_STATS", "true")
    started: list[Browser] = []

    def start(languages: str) -> Browser:
        browser = Browser(languages=languages, shots=shots)
        started.append(browser)
        return browser

    try:
        yield start
    finally:
        for browser in started:
            browser.close()


@pytest.fixture
def controls(tmp_path: Path) -> Iterator[StaticHost]:
    """Pages that prove the browser's settings: one with a script, one with a broken image."""
    directory = tmp_path / "controls"
    directory.mkdir()
    (directory / "script.html").write_text(
        "<!doctype html><title>script did not run</title><script>document.title = 'script ran'</script>"
    )
    (directory / "broken.html").write_text(
        '<!doctype html><title>broken</title><img src="missing.png" alt="">'
    )
    host = StaticHost(directory)
    try:
        yield host
    finally:
        host.close()


def status_json(url: str) -> dict[str, Any]:
    try:
        document: dict[str, Any] = httpx.get(f"{url}/status.json", timeout=2).json()
    except (httpx.HTTPError, json.JSONDecodeError):
        return {}
    return document


def platform_state(document: dict[str, Any], name: str) -> str | None:
    for platform in document.get("platforms", ()):
        if platform["name"] == name:
            state: str = platform["state"]
            return state
    return None


class TestBrowserSetup:
    def test_javascript_is_off_and_console_errors_are_seen(
        self, browser_factory: Callable[[str], Browser], controls: StaticHost
    ) -> None:
        """The browser the other tests use runs no page script, and a resource that fails
        to load shows in its console: "no console error" below can fail."""
        browser = browser_factory("en")
        browser.open(f"{controls.url}/script.html")
        assert browser.driver.title == "script did not run"
        browser.open(f"{controls.url}/broken.html")
        wait_until("the broken image's console error", lambda: bool(browser.console_errors()), timeout=WAIT_S)


class TestStatusPageInABrowser:
    def test_outage_recovery_and_the_daemon_gone(
        self,
        world: World,
        start_daemon: StartDaemon,
        browser_factory: Callable[[str], Browser],
        shots: Path,
    ) -> None:
        """WhatsApp goes dark: a French visitor of the daemon's listener sees it unavailable,
        the incident's public text, how to reach the organisation, and the red bar of today,
        at desktop and phone widths, without a console error; the English page says the same
        in English. It comes back: the page says so, the outage is history. The daemon
        stops: the directory it wrote, served by any web server, still shows all of it."""
        page_port = free_port()
        directory = world.tmp_path / "public-status"
        text = ALTERNATIVES + world.config_text(daemon='timezone = "Europe/Paris"')
        text += f"""
[status_page]
listen = "127.0.0.1:{page_port}"
directory = "{directory}"
languages = ["fr", "en"]
title = "Mairie de Sainte-Exemple"
publish_every = "10s"
"""
        config = world.tmp_path / "failover.toml"
        config.write_text(text)
        daemon = start_daemon(config)
        daemon.wait_ready(world.api)
        page = f"http://127.0.0.1:{page_port}"
        wait_until(
            "the status page to show WhatsApp up",
            lambda: platform_state(status_json(page), "whatsapp") == "up",
            log=daemon.log,
        )

        # ---------------------------------------------------------------- the outage
        world.go_dark()
        wait_until(
            "the status page to show the outage",
            lambda: (
                (doc := status_json(page)) and platform_state(doc, "whatsapp") == "down" and doc["incidents"]
            ),
            log=daemon.log,
        )
        french = browser_factory("fr-FR,fr")
        for size, name in ((DESKTOP, "outage-fr-desktop"), (PHONE, "outage-fr-phone")):
            french.open(f"{page}/", size=size)
            assert french.one("html").get_attribute("lang") == "fr"
            assert french.driver.title == "Mairie de Sainte-Exemple"
            assert (
                french.one(".banner").text
                == "Certaines de nos lignes sont touchées : voici comment nous joindre."
            )
            incident = french.one("article.incident")
            assert incident.find_element(By.TAG_NAME, "h3").text == "Notre ligne WhatsApp est indisponible"
            assert "Notre ligne WhatsApp est indisponible depuis le" in incident.text
            reach = [li.text for li in french.all(".reach li")]
            assert reach == ["Courriel : contact@example.org", "Téléphone : 01 23 45 67 89"]
            whatsapp = french.one("#p-whatsapp")
            assert whatsapp.find_element(By.CSS_SELECTOR, ".state strong").text == "Indisponible"
            bars = whatsapp.find_elements(By.CSS_SELECTOR, ".bars li")
            assert len(bars) == 90
            assert bars[-1].get_attribute("class") == "d"
            assert "indisponible" in (bars[-1].get_attribute("title") or "")
            assert bars[-1].size["height"] > 10
            assert bars[-1].size["width"] >= 1
            for element in (french.one("h1"), incident, french.one(".reach"), whatsapp):
                assert element.is_displayed()
            layout = french.layout()
            # nothing wider than the window: no sideways scrolling on a phone
            assert layout["cssContentSize"]["width"] <= layout["cssLayoutViewport"]["clientWidth"]
            french.screenshot(name)
            assert french.console_errors() == []

        french.open(f"{page}/", size=DESKTOP)
        french.one('nav a[hreflang="en"]').click()
        assert french.one("html").get_attribute("lang") == "en"
        assert french.one("article.incident h3").text == "Our WhatsApp line is unavailable"
        assert [li.text for li in french.all(".reach li")] == [
            "E-mail: contact@example.org",
            "Phone: +33 1 23 45 67 89",
        ]
        assert french.one("#p-whatsapp .state strong").text == "Unavailable"
        french.screenshot("outage-en-desktop")
        assert french.console_errors() == []

        english = browser_factory("en-GB,en")
        english.open(f"{page}/", size=PHONE)
        assert english.one("html").get_attribute("lang") == "en"
        assert "Our WhatsApp line has been unavailable since" in english.one("article.incident").text
        english.screenshot("outage-en-phone")
        assert english.console_errors() == []

        # ---------------------------------------------------------------- the recovery
        world.come_back()
        wait_until(
            "the status page to show the recovery",
            lambda: (
                (doc := status_json(page))
                and platform_state(doc, "whatsapp") == "up"
                and doc["incidents"]
                and not doc["incidents"][0]["open"]
            ),
            log=daemon.log,
        )
        for size, name in ((DESKTOP, "recovered-fr-desktop"), (PHONE, "recovered-fr-phone")):
            french.open(f"{page}/index.fr.html", size=size)
            assert french.one(".banner").text == "Toutes nos lignes fonctionnent normalement."
            assert not french.all("article.incident")
            assert french.one("#p-whatsapp .state strong").text == "Fonctionne"
            assert french.one("#p-whatsapp .bars li:last-child").get_attribute("class") == "d"
            rows = french.all("#h-history ~ table tbody tr")
            assert len(rows) == 1
            assert "Panne : WhatsApp" in rows[0].text
            assert "en cours" not in rows[0].text
            french.screenshot(name)
            assert french.console_errors() == []

        # ---------------------------------------------------------------- the daemon gone
        assert daemon.stop() == 0
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{page}/", timeout=2)
        host = StaticHost(directory)
        try:
            for path, size, name in (
                ("/", DESKTOP, "static-fr-desktop"),
                ("/index.en.html", PHONE, "static-en-phone"),
            ):
                french.open(f"{host.url}{path}", size=size)
                text = french.text()
                assert french.one("#p-whatsapp .bars li:last-child").get_attribute("class") == "d"
                assert ("Fonctionne" in text) or ("Working" in text)
                assert ("Panne : WhatsApp" in text) or ("Outage: WhatsApp" in text)
                french.screenshot(name)
                assert french.console_errors() == []
            feed = httpx.get(f"{host.url}/feed.atom", timeout=5)
            assert feed.status_code == 200
            assert "Notre ligne WhatsApp fonctionne à nouveau" in feed.text
        finally:
            host.close()
        assert sorted(p.name for p in shots.iterdir()) == sorted(
            [
                "outage-fr-desktop.png",
                "outage-fr-phone.png",
                "outage-en-desktop.png",
                "outage-en-phone.png",
                "recovered-fr-desktop.png",
                "recovered-fr-phone.png",
                "static-fr-desktop.png",
                "static-en-phone.png",
            ]
        )

    def test_the_catalog_during_the_2021_outage(
        self, browser_factory: Callable[[str], Browser], tmp_path: Path
    ) -> None:
        """The built-in catalog's ten platforms on 4 October 2021 at 20:00 in Paris, with
        three months of history, published to a directory and read from a static host: the
        four Meta platforms unavailable, the others working, a red bar today for each Meta
        platform and the orange day of an older Telegram disruption, with their minutes."""
        config = site_config(tmp_path, status_page='title = "Example — our lines"')
        directory = tmp_path / "site"
        write_site(build(config, scene(config)), directory)
        host = StaticHost(directory)
        try:
            browser = browser_factory("en-GB,en")
            for size, name in ((DESKTOP, "catalog-outage-en-desktop"), (PHONE, "catalog-outage-en-phone")):
                browser.open(f"{host.url}/index.en.html", size=size)
                states = {
                    element.get_attribute("id"): element.find_element(By.CSS_SELECTOR, ".state strong").text
                    for element in browser.all("li.platform")
                }
                assert len(states) == 10
                assert {states[f"p-{name}"] for name in META} == {"Unavailable"}
                assert {state for key, state in states.items() if key[2:] not in META} == {"Working"}
                assert browser.one("#p-facebook .bars li:last-child").get_attribute("title") == (
                    "4 Oct 2021: unavailable 2 h 19 min"
                )
                disrupted = browser.all('#p-telegram .bars li[class="g"]')
                assert [bar.get_attribute("title") for bar in disrupted] == [
                    "20 Sep 2021: not working properly 2 h 32 min"
                ]
                assert len(browser.all("#h-history ~ table tbody tr")) == 3
                layout = browser.layout()
                assert layout["cssContentSize"]["width"] <= layout["cssLayoutViewport"]["clientWidth"]
                browser.screenshot(name)
                assert browser.console_errors() == []
        finally:
            host.close()

    def test_a_build_by_hand_from_the_journal(
        self, world: World, start_daemon: StartDaemon, tmp_path: Path
    ) -> None:
        """``failover status-page build --to DIR`` after the daemon recorded an outage and
        stopped: the site shows the outage's history, from the database alone."""
        config = world.write_config()
        daemon = start_daemon(config)
        daemon.wait_ready(world.api)
        world.go_dark()
        world.smtp.wait_for(2, timeout=WAIT_S)
        assert daemon.stop() == 0
        result = run_cli("status-page", "build", "--to", str(tmp_path / "by-hand"), config=config)
        assert result.returncode == 0, result.stderr
        assert "1 incident(s) open" in result.stdout
        document = json.loads((tmp_path / "by-hand" / "status.json").read_text())
        assert platform_state(document, "whatsapp") == "down"
        assert document["incidents"][0]["open"] is True
