"""apprise plugins built one scheme at a time: the scheme table agrees with apprise, a
plugin built from it is the plugin apprise would build, and a daemon that sends mail (or
JSON) through apprise never loads the other plugin modules."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import apprise
import apprise.plugins
import pytest

from failover.notify._plugins import PLUGIN_CLASSES, build_plugin, plugin_class
from tests.kit import HttpTarget, SmtpSink

ASSET = apprise.AppriseAsset(app_id="failover", async_mode=False, storage_mode="memory")

#: one URL per module of the table, with its options, each as apprise documents it
SAMPLE_URLS = [
    "mailto://127.0.0.1:2525?from=failover@example.org&to=alice@example.org",
    "mailtos://user:pass@mail.example.org?to=alice@example.org&mode=ssl&name=Failover",
    "signal://127.0.0.1:8080/+15551234567/+15557654321",
    "signals://user:pass@signal.example.org/+15551234567/+15557654321?batch=no",
    "tgram://123456789:AAHfakeTokenForTests_abcdefghijklmnop/987654321",
    "mastodon://s3cr3t-token@127.0.0.1:3000/?visibility=direct",
    "toots://s3cr3t-token@social.example.org/@alice",
    "discord://1234567890/abcdefghijklmnopqrstuvwxyz",
    "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#general",
    "whatsapp://abcdefghijklmnop@1234567890/+15557654321",
    "whapi://abcdefghijklmnopqrstuvwxyz123456/+15557654321",
    "x://ckey/csecret/akey/asecret/@alice?mode=dm",
    "mqtt://127.0.0.1:1883/failover/notices",
    "jsons://user:pass@hooks.example.org/path?:X-Header=value",
    "ntfy://127.0.0.1:8081/failover",
    "gotifys://gotify.example.org/abcdefghijklmno",
    "matrixs://user:pass@matrix.example.org/#failover:example.org",
]


class TestPluginTable:
    """Every scheme of the table names the class apprise itself uses for it."""

    @pytest.mark.parametrize("scheme", sorted(PLUGIN_CLASSES))
    def test_the_class_declares_the_scheme(self, scheme: str) -> None:
        plugin_type = plugin_class(scheme)
        assert scheme in plugin_type.schemas(plugin_type)

    @pytest.mark.parametrize("scheme", sorted(PLUGIN_CLASSES))
    def test_apprise_maps_the_scheme_to_the_same_class(self, scheme: str) -> None:
        assert apprise.plugins.N_MGR[scheme] is plugin_class(scheme)

    def test_a_scheme_outside_the_table_has_no_class(self) -> None:
        assert plugin_class("pover") is None
        assert plugin_class("") is None


class TestBuildPlugin:
    """``build_plugin`` builds what ``Apprise.instantiate`` builds, or nothing when it would."""

    @pytest.mark.parametrize("url", SAMPLE_URLS)
    def test_the_same_plugin_as_apprise(self, url: str) -> None:
        ours = build_plugin(url, asset=ASSET)
        theirs = apprise.Apprise.instantiate(url, asset=ASSET)
        assert ours is not None
        assert theirs is not None
        assert type(ours) is type(theirs)
        assert ours.url(privacy=False) == theirs.url(privacy=False)
        assert ours.asset is ASSET

    @pytest.mark.parametrize(
        "url",
        [
            "tgram://not-a-bot-token/987654321",
            "discord://",
            "mailto://",
            "mastodon://127.0.0.1:3000/",  # no access token
        ],
    )
    def test_nothing_where_apprise_builds_nothing(self, url: str) -> None:
        assert apprise.Apprise.instantiate(url, asset=ASSET) is None
        assert build_plugin(url, asset=ASSET) is None

    def test_a_scheme_outside_the_table_goes_through_apprise(self) -> None:
        url = "pover://uQiRzpo4DXghDmr9QzzfQu27cmVRsG@azGDORePK8gMaC0QOYAMyEEuzJnyUi"
        plugin = build_plugin(url, asset=ASSET)
        assert type(plugin).__name__ == "NotifyPushover"
        assert plugin.url(privacy=False) == apprise.Apprise.instantiate(url, asset=ASSET).url(privacy=False)

    def test_a_disabled_plugin_is_not_built(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(plugin_class("ntfy"), "enabled", False)
        assert build_plugin("ntfy://127.0.0.1:8081/failover", asset=ASSET) is None


_SEND_AND_LIST_MODULES = textwrap.dedent(
    """
    import asyncio, json, sys

    from failover.domain import Channel, Visibility
    from failover.notify import ApprisePlugins, RenderedNotice, check_channel

    async def main(urls):
        notice = RenderedNotice(subject="Test", body="Body\\n", language="en")
        async with ApprisePlugins(max_workers=1) as sender:
            before_send = "apprise" in sys.modules
            results = []
            for index, url in enumerate(urls):
                channel = Channel(ref=f"channels.c{index}", url=url)
                check_channel(channel)
                results.append((await sender.send(channel, notice, visibility=Visibility.private)).ok)
        import apprise.plugins

        print(json.dumps({
            "apprise_before_send": before_send,
            "sent": results,
            "all_plugins_loaded": bool(apprise.plugins.N_MGR),
            "plugin_modules": sorted(m for m in sys.modules if m.startswith("apprise.plugins.")),
        }))

    asyncio.run(main(sys.argv[1:]))
    """
)


def send_in_fresh_process(*urls: str) -> dict[str, object]:
    """Send one notice through each URL in a new interpreter and report what it imported."""
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", _SEND_AND_LIST_MODULES, *urls],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, object] = json.loads(done.stdout)
    return report


@pytest.mark.slow
class TestPluginsOnDemand:
    """A fresh process imports apprise at its first send, and then only the plugin module
    of each scheme it sends through; apprise's load-every-plugin step never runs."""

    def test_mail_loads_the_email_plugin_alone(self, smtp_sink: SmtpSink) -> None:
        url = f"mailto://{smtp_sink.host}:{smtp_sink.port}?from=failover@example.org&to=alice@example.org"
        report = send_in_fresh_process(url)
        assert report["apprise_before_send"] is False
        assert report["sent"] == [True]
        assert report["all_plugins_loaded"] is False
        modules = report["plugin_modules"]
        assert isinstance(modules, list)
        assert "apprise.plugins.email" in modules
        assert [m for m in modules if not m.startswith("apprise.plugins.email")] == ["apprise.plugins.base"]
        assert len(smtp_sink.messages) == 1

    def test_a_send_through_apprise_loads_its_plugin_alone(self, http_target: HttpTarget) -> None:
        http_target.route("/hook", body="{}")
        report = send_in_fresh_process(f"json://{http_target.host}:{http_target.port}/hook")
        assert report["sent"] == [True]
        assert report["all_plugins_loaded"] is False
        assert report["plugin_modules"] == ["apprise.plugins.base", "apprise.plugins.custom_json"]
        assert [request.path for request in http_target.requests] == ["/hook"]

    def test_a_scheme_outside_the_table_still_works(self, http_target: HttpTarget) -> None:
        http_target.route("/form", body="{}")
        report = send_in_fresh_process(f"form://{http_target.host}:{http_target.port}/form")
        assert report["sent"] == [True]
        assert report["all_plugins_loaded"] is True
        assert [request.path for request in http_target.requests] == ["/form"]
