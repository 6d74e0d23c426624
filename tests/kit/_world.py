"""A daemon's world on 127.0.0.1: one watched platform (whatsapp, of the meta family),
three TCP controls, the DNS server, the SMTP sink, and the configuration that points a
daemon at them. The end-to-end tests run that daemon as a process, the service tests run
it in-process; both read the same world."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from failover.testing import DnsServer, HttpTarget, SmtpSink, free_port
from tests.kit._config import come_back, go_dark, tcp_controls, whatsapp_platform

__all__ = ["API_TOKEN", "World"]

#: the operator's token in every world's configuration
API_TOKEN = "test-token-not-secret"


@dataclass
class World:
    """One watched platform (whatsapp) and three controls, DNS and SMTP, all on 127.0.0.1."""

    dns: DnsServer
    front_door: HttpTarget
    control: HttpTarget
    smtp: SmtpSink
    tmp_path: Path
    api_port: int = field(default_factory=free_port)

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def database(self) -> Path:
        return self.tmp_path / "failover.db"

    def go_dark(self) -> None:
        go_dark(self.dns, self.front_door)

    def come_back(self) -> None:
        come_back(self.dns, self.front_door)

    def config_text(
        self,
        *,
        contacts: int = 2,
        notify: str = "",
        daemon: str = "",
        database_url: str | None = None,
        extra: str = "",
    ) -> str:
        """The daemon's configuration: ``contacts`` people of group ``team`` (even ones in
        English, odd ones in French) mailed at the sink, what ``notify`` and ``daemon`` add
        to their tables, and ``extra`` tables (another platform, say)."""
        controls = tcp_controls(self.control.port, interval="1s")
        people = "".join(
            f"""
[[contacts]]
name = "Person {n}"
id = "p{n}"
language = "{"fr" if n % 2 else "en"}"
groups = ["team"]
[[contacts.channels]]
url = "mailto://127.0.0.1:{self.smtp.port}?from=failover@example.org&to=p{n}@example.org"
"""
            for n in range(contacts)
        )
        return f"""
[catalog]
builtin = false

[daemon]
database_url = "{database_url or f"sqlite:///{self.database}"}"
listen = "127.0.0.1:{self.api_port}"
api_token = "{API_TOKEN}"
{daemon}

[probes]
resolvers = ["{self.dns.endpoint}"]

[detection]
confirm_after = ["500ms", "1s"]
recover_after = 2

[notify]
backoff_base = "200ms"
{notify}

{whatsapp_platform(dns=self.dns.endpoint, front_door=self.front_door.url, interval="1s")}{controls}
{extra}
[groups.team]
description = "everyone"
{people}
[[routes]]
name = "team"
template = "outage"
events = ["confirmed", "resolved", "manual"]
groups = ["team"]
"""

    def write(self, text: str) -> Path:
        """``text`` as the world's configuration file."""
        path = self.tmp_path / "failover.toml"
        path.write_text(text)
        return path

    def write_config(self, **options: object) -> Path:
        return self.write(self.config_text(**options))  # type: ignore[arg-type]
