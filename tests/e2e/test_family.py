"""A family falling together is told once: ``failover run`` as a subprocess watches the four
Meta platforms (each its own DNS names and front door on 127.0.0.1, rounds at their own
moments), they all go dark, and each contact gets one outage notice naming all four, then
one recovery notice."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import WAIT_S, Daemon, run_cli, wait_until
from tests.kit import DnsServer, HttpTarget, SmtpSink, free_port, name_platform, tcp_controls

pytestmark = pytest.mark.slow

StartDaemon = Callable[[Path], Daemon]
META = {"facebook": "Facebook", "instagram": "Instagram", "messenger": "Messenger", "whatsapp": "WhatsApp"}


@dataclass
class Meta:
    dns: DnsServer
    doors: dict[str, HttpTarget]
    control: HttpTarget
    smtp: SmtpSink
    tmp_path: Path

    def names(self, platform: str) -> tuple[str, str]:
        return f"{platform}.test", f"www.{platform}.test"

    def heal(self) -> None:
        for platform, door in self.doors.items():
            for name in self.names(platform):
                self.dns.set(name, "noerror")
            door.set("ok")

    def go_dark(self) -> None:
        for platform, door in self.doors.items():
            for name in self.names(platform):
                self.dns.set(name, "servfail")
            door.set("reset")

    def config(self) -> Path:
        platforms = ""
        for platform, display in META.items():
            platforms += name_platform(
                platform,
                display_name=display,
                dns=self.dns.endpoint,
                door=f"{self.doors[platform].url}/",
                family="meta",
                interval="3s",
            )
        contacts = "".join(
            f"""
[[contacts]]
name = "Person {n}"
id = "p{n}"
language = "en"
groups = ["team"]
[[contacts.channels]]
url = "mailto://127.0.0.1:{self.smtp.port}?from=failover@example.org&to=p{n}@example.org"
"""
            for n in range(2)
        )
        path = self.tmp_path / "failover.toml"
        path.write_text(
            f"""
[catalog]
builtin = false

[daemon]
database_url = "sqlite:///{self.tmp_path}/failover.db"
listen = "127.0.0.1:{free_port()}"

[probes]
resolvers = ["{self.dns.endpoint}"]

[detection]
confirm_after = ["1s", "2s"]
recover_after = 2

[notify]
backoff_base = "200ms"
{platforms}{tcp_controls(self.control.port, interval="1s")}
[groups.team]
description = "everyone"
{contacts}
[[routes]]
name = "team"
template = "outage"
events = ["confirmed", "resolved"]
groups = ["team"]
"""
        )
        return path


@pytest.fixture
def meta(tmp_path: Path, dns_server: DnsServer, smtp_sink: SmtpSink) -> Iterator[Meta]:
    with (
        HttpTarget() as facebook,
        HttpTarget() as instagram,
        HttpTarget() as messenger,
        HttpTarget() as whatsapp,
        HttpTarget() as control,
    ):
        world = Meta(
            dns=dns_server,
            doors={
                "facebook": facebook,
                "instagram": instagram,
                "messenger": messenger,
                "whatsapp": whatsapp,
            },
            control=control,
            smtp=smtp_sink,
            tmp_path=tmp_path,
        )
        world.heal()
        yield world


def _incidents(config: Path) -> list[dict[str, object]]:
    result = run_cli("incidents", "--export", "json", config=config)
    assert result.returncode == 0, result.stderr
    loaded: list[dict[str, object]] = json.loads(result.stdout)["incidents"]
    return loaded


def _per_contact(smtp: SmtpSink) -> Counter[str]:
    return Counter(rcpt for message in smtp.messages for rcpt in message.rcpt_tos)


def test_the_meta_family_falling_together_is_one_notice_per_contact_naming_all_four(
    meta: Meta, start_daemon: StartDaemon
) -> None:
    config = meta.config()
    daemon = start_daemon(config)
    wait_until("the first rounds", lambda: "round_judged" in daemon.text(), log=daemon.log)
    time.sleep(4)  # every platform looked at healthy at least once, at its own moment
    meta.go_dark()

    outage = meta.smtp.wait_for(2, timeout=WAIT_S * 2)
    # the family incident covers all four, and the outbox has nothing more to send
    wait_until(
        "one family incident covering the four Meta platforms",
        lambda: any(
            i.get("scope") == "family" and sorted(i.get("platforms", [])) == sorted(META)  # type: ignore[arg-type]
            for i in _incidents(config)
        ),
        timeout=WAIT_S * 2,
        log=daemon.log,
    )
    daemon.wait_for_log(r"notice_delivery")
    time.sleep(3)  # a few more rounds: a late member would show as a second notice now
    assert _per_contact(meta.smtp) == {"p0@example.org": 1, "p1@example.org": 1}, [
        str(m.message["Subject"]) for m in meta.smtp.messages
    ]
    for message in outage:
        subject = str(message.message["Subject"])
        assert all(display in subject for display in META.values()), subject
    incidents = _incidents(config)
    assert [i["scope"] for i in incidents if i.get("resolved_at") is None] == ["family"]

    meta.heal()
    meta.smtp.wait_for(4, timeout=WAIT_S * 2)
    wait_until(
        "the family incident to be resolved",
        lambda: all(i.get("resolved_at") is not None for i in _incidents(config)),
        timeout=WAIT_S * 2,
        log=daemon.log,
    )
    time.sleep(2)
    assert _per_contact(meta.smtp) == {"p0@example.org": 2, "p1@example.org": 2}
    assert daemon.stop() == 0
