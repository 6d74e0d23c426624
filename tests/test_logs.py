"""Logging: one structured line per event, secrets and personal data redacted everywhere."""

from __future__ import annotations

import asyncio
import datetime
import io
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import structlog
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from failover import logs
from failover.api import create_server
from failover.cli import main
from failover.config import check_email
from failover.logs import Redactor, configure_logging, get_logger, logging_configured
from failover.service._status_http import StatusSiteApp, serve_site
from tests.kit import LOOPBACK, SmtpSink, free_port

SECRET = "hunter2-0123456789"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Each test configures logging afresh; the process's set-up is put back afterwards."""
    root, own = logging.getLogger(), logging.getLogger("failover")
    handlers, level, own_level = root.handlers[:], root.level, own.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    own.setLevel(own_level)
    structlog.reset_defaults()


@pytest.fixture
def no_logging() -> None:
    """The process as it starts: no handler on the root logger."""
    logging.getLogger().handlers.clear()


def raise_with(message: str) -> None:
    raise RuntimeError(message)


class TestRedactor:
    """Redactor.redact replaces secrets, URL credentials, e-mail addresses and phone numbers."""

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            (f"token={SECRET} end", "token=*** end"),
            ("tgram://123456789:AAbbCC/-100123", "tgram://***"),
            ("signal://127.0.0.1:8080/+33600000001/+33612345678", "signal://***"),
            ("mailto://127.0.0.1:12525?from=a@example.org&to=b@example.org", "mailto://***"),
            ("mastodons://tok@mastodon.social.", "mastodons://***."),
            ("(see whatsapp://t@1/2)", "(see whatsapp://***)"),
            ("https://user:pw@example.org/p", "https://***@example.org/p"),
            ("https://example.org/api?access_token=abc&page=2", "https://example.org/api?***"),
            ("https://example.org/hook?apikey=abc#top", "https://example.org/hook?***#top"),
            ("postgresql+psycopg://fo:pw@db:5432/failover", "postgresql+psycopg://***@db:5432/failover"),
            ("write to alice.martin+ops@example.org.", "write to <email>."),
            ("<bob@mail.example.co.uk>", "<<email>>"),
            ("call +33612345678", "call <phone>"),
            ("call +33 6 12 34 56 78 now", "call <phone> now"),
            ("call +1 (555) 123-4567", "call <phone>"),
            ("tel 06 12 34 56 78", "tel <phone>"),
            ("tel 0612345678", "tel <phone>"),
            ("tel 06.12.34.56.78;", "tel <phone>;"),
            ("tel 06-12-34-56-78", "tel <phone>"),
            ("to alice+news@example.org,", "to <email>,"),
            ("à josé.garcía@exämple.fr;", "à <email>;"),
            ("用户@例子.广告 a écrit", "<email> a écrit"),
            ("for a@example.org.2 and x@xn--exmple-cua.fr", "for <email>.2 and <email>"),
            ("id alice@example.org_2", "id <email>"),
            (
                "https://example.org/unsubscribe?u=bob@example.org",
                "https://example.org/unsubscribe?u=<email>",
            ),
        ],
    )
    def test_redacts(self, text: str, expected: str) -> None:
        """Each kind of sensitive text is replaced by a marker."""
        assert Redactor([SECRET]).redact(text) == expected

    @pytest.mark.parametrize(
        "text",
        [
            "at 2024-03-05T15:40:00.123456+00:00",
            "on 2021-10-04 15:40:00 UTC",
            "date 05.03.2024 12:30",
            "latency=0.612345678s",
            "latency 0.0612345678",
            "listening on 127.0.0.1:9464 and [::1]:9464",
            "dns 129.134.30.12:53",
            "count=1234567890 rows=42 took 1234567 us",
            "offset +01:00 +0100 +5 retries",
            "https://example.org/status?page=2",
            "sqlite:////var/lib/failover/failover.db",
            "incident meta-2021-10-04T15:40Z opened",
            "fo@db:5432 and root@10.0.0.1",
        ],
    )
    def test_leaves_ordinary_data(self, text: str) -> None:
        """Timestamps, latencies, addresses, ports, counts and harmless URLs survive."""
        assert Redactor().redact(text) == text

    def test_secrets_added_later(self) -> None:
        """Secrets added after construction are redacted too, longest first."""
        redactor = Redactor(["abc"])
        redactor.add_secrets(["abcdef", ""])
        assert redactor.redact("abcdef abc") == "*** ***"

    def test_a_text_found_clean_is_redacted_under_secrets_added_later(self) -> None:
        """A redactor remembers the texts it found clean, but only under the secrets it had."""
        redactor = Redactor()
        assert redactor.redact("token-4711-abc") == "token-4711-abc"
        assert redactor.redact("token-4711-abc") == "token-4711-abc"
        redactor.add_secrets(["token-4711-abc"])
        assert redactor.redact("token-4711-abc") == "***"

    @settings(max_examples=400, deadline=None)
    @given(
        text=st.text(alphabet="aé0123456789 +-.,:;/@()[]=?&x_Z\x1b", max_size=40)
        | st.sampled_from(
            [
                "06 12 34 56 78",
                "0612345678",
                "+33 6 12 34 56 78",
                "tel 01.23.45.67.89 ok",
                "mailto://ops:pw@smtp.example.org",
                "https://u:p@h.example/x?token=1",
                f"pw {SECRET} end",
                "alice@example.org",
            ]
        ),
        secrets=st.lists(st.sampled_from([SECRET, "0612", "s3cret-token", "abc", "a@b.co"]), max_size=3),
    )
    def test_shortcuts_change_no_result(self, text: str, secrets: list[str]) -> None:
        """Every pattern applied unconditionally gives what redact gives with its shortcuts
        (patterns skipped on a text that cannot match, texts found clean remembered)."""
        redactor = Redactor(secrets)
        known = redactor._known
        expected = known.pattern.sub("***", text) if known.pattern is not None else text
        expected = logs._URL.sub(lambda match: logs._redact_url(match, known.urls), expected)
        expected = logs._EMAIL.sub(logs._redact_email, expected)
        expected = logs._INTERNATIONAL_PHONE.sub(logs._redact_international_phone, expected)
        expected = logs._FRENCH_PHONE.sub("<phone>", expected)
        assert redactor.redact(text) == expected
        assert redactor.redact(text) == expected  # again, remembered if it was clean

    def test_values_of_any_shape(self) -> None:
        """Nested containers and non-string objects are redacted as text."""
        redactor = Redactor([SECRET])
        value = {"a": [SECRET, 3, None, True], "b": ("alice@example.org",), "c": ValueError(SECRET)}
        assert redactor.redact_value(value) == {"a": ["***", 3, None, True], "b": ["<email>"], "c": "***"}


def contact_values(index: int) -> list[str]:
    """What ``Config.secrets`` holds for one contact: addresses, numbers and channel URLs,
    of every shape a configuration accepts (plus-addressed, internationalised, webhooks,
    shapes no pattern catches)."""
    shapes = [f"person{index}@example.org", f"p{index}+news@mail.example.co.uk", f"josé{index}@exämple.fr"]
    # shapes no pattern takes, as rare as in life: '*' (no character of the e-mail pattern),
    # a last label without a letter, a 7-digit number (Niue)
    rare = {0: f"a*b{index}@example.org", 1: f"x{index}@host.123"}
    email = rare.get(index % 1000, shapes[index % len(shapes)])
    phone = f"+683{index % 10000:04d}" if index % 1000 == 2 else f"+336{index:08d}"
    values = [
        email,
        phone,
        f"mailto://127.0.0.1:25?from=failover@example.org&to={email}",
        f"signal://127.0.0.1:8080/+15551234567/{phone}",
    ]
    if index % 11 == 0:
        values.append(f"https://hooks.example.org/services/T{index}/B{index}/XyZ{index}")
    return values


def lines_about(values: list[str]) -> list[str]:
    email, phone, mailto, signal, *webhook = values
    lines = [
        f"delivery to {email} failed",
        f"Sent Email to {email}.",
        f"signal-cli: Failed to send message to {phone}: Unregistered user",
        f"channel {mailto} refused (and {signal})",
        f"user={email},{phone};",
        f"header {SECRET}",
    ]
    lines.extend(f"POST {url}/send returned 404, see {url}" for url in webhook)
    return lines


def _accepted(address: str) -> bool:
    """Whether the configuration takes ``address`` for a contact's e-mail."""
    try:
        check_email(address)
    except ValueError:
        return False
    return True


@pytest.mark.slow
class TestRedactionAtScale:
    """The cost of a line does not grow with the address book, and neither does the result."""

    def test_fifty_thousand_contacts_redact_as_one(self) -> None:
        """With 50,000 contacts' values added, every line about a contact comes out exactly
        as it does from a redactor that knows only that contact, and nothing of it is left."""
        everyone = [value for index in range(50_000) for value in contact_values(index)]
        large = Redactor([SECRET])
        large.add_secrets(everyone)
        for index in (*range(0, 50_000, 997), 1000, 2001, 3002):
            values = contact_values(index)
            alone = Redactor([SECRET, *values])
            for line in lines_about(values):
                redacted = large.redact(line)
                assert redacted == alone.redact(line), line
                for value in (*values, SECRET):
                    assert value not in redacted, line
                    assert value.partition("@")[0] not in redacted or "@" not in value, line
        quiet = "round_judged platform=whatsapp health=down took 0.612345678s at 2021-10-04T15:40:00Z"
        assert large.redact(quiet) == quiet

    def test_a_configured_webhook_goes_whole(self) -> None:
        """A secret web URL is redacted whole, also with a path appended; others keep theirs."""
        hook = "https://hooks.example.org/services/T0/B0/XyZ"
        redactor = Redactor([hook])
        assert redactor.redact(f"POST {hook}/send: 404.") == "POST https://***: 404."
        assert redactor.redact("GET https://example.org/status") == "GET https://example.org/status"

    def test_a_secret_inside_an_address(self) -> None:
        """A short secret inside a contact's address does not break the address apart."""
        redactor = Redactor(["alice.martin@example.org", "martin"])
        out = redactor.redact("to alice.martin@example.org, pw martin")
        assert "alice" not in out
        assert "martin" not in out

    @settings(max_examples=300, deadline=None)
    @given(
        address=st.from_regex(
            r"[^@\s/?&#=,;:<>\"']{1,12}@[A-Za-z0-9éä例-]{1,8}(\.[A-Za-z0-9éä例-]{1,6}){1,3}", fullmatch=True
        ).filter(_accepted),
        before=st.sampled_from(["", " ", "to ", "(", "<", '"', "'", "=", ",", "x", ".", "+", "é"]),
        after=st.sampled_from(["", " ", ")", ">", '"', "'", ",", ".", ".5", "-", "x", "_2", ";"]),
    )
    def test_every_address_a_configuration_accepts(self, address: str, before: str, after: str) -> None:
        """Any address ``config`` accepts, configured, leaves no trace in any surrounding."""
        redacted = Redactor([address]).redact(f"{before}{address}{after}")
        assert address not in redacted


class TestConfigureLogging:
    """configure_logging sends structlog and stdlib loggers through one redacting pipeline."""

    def test_json_lines_when_not_a_terminal(self) -> None:
        """A non-TTY stream gets one JSON object per line, with level, logger and UTC timestamp."""
        stream = io.StringIO()
        configure_logging(stream=stream)
        get_logger("failover.test").info("probe_finished", platform="facebook", latency_s=0.123)
        (line,) = stream.getvalue().splitlines()
        event = json.loads(line)
        assert event["event"] == "probe_finished"
        assert event["platform"] == "facebook"
        assert event["latency_s"] == 0.123
        assert event["level"] == "info"
        assert event["logger"] == "failover.test"
        assert event["timestamp"].endswith("Z")

    def test_level_filters(self) -> None:
        """Events below the level are dropped, for structlog and stdlib loggers alike."""
        stream = io.StringIO()
        configure_logging(level="warning", stream=stream)
        get_logger("failover.test").info("hidden")
        logging.getLogger("apscheduler").info("hidden too")
        get_logger("failover.test").warning("shown")
        assert [json.loads(line)["event"] for line in stream.getvalue().splitlines()] == ["shown"]

    def test_libraries_may_have_a_level_of_their_own(self) -> None:
        """failover's events from ``level`` up, other libraries' from ``libraries`` up."""
        stream = io.StringIO()
        configure_logging(level="info", libraries="warning", stream=stream)
        get_logger("failover.notices").info("notice_delivery")
        get_logger("failover.notices").debug("hidden")
        logging.getLogger("alembic.runtime.migration").info("hidden too")
        logging.getLogger("alembic.runtime.migration").warning("shown")
        assert [json.loads(line)["event"] for line in stream.getvalue().splitlines()] == [
            "notice_delivery",
            "shown",
        ]

    def test_unknown_level(self) -> None:
        """A level that logging does not know is refused."""
        with pytest.raises(ValueError, match="unknown log level"):
            configure_logging(level="loud", stream=io.StringIO())

    def test_reconfiguring_replaces_the_handler(self) -> None:
        """A second call does not duplicate lines and writes to the new stream."""
        first, second = io.StringIO(), io.StringIO()
        configure_logging(stream=first)
        logger = get_logger("failover.test")
        configure_logging(stream=second)
        logger.info("once")
        assert first.getvalue() == ""
        assert len(second.getvalue().splitlines()) == 1

    @pytest.mark.parametrize("as_json", [True, False])
    def test_nothing_sensitive_reaches_the_stream(self, as_json: bool) -> None:
        """Secrets, channel URLs, e-mails and phones are absent from fields, messages and tracebacks."""
        stream = io.StringIO()
        redactor = configure_logging(level="debug", json=as_json, stream=stream)
        redactor.add_secrets([SECRET])
        log = get_logger("failover.notify")
        channel = f"mailtos://ops:{SECRET}@smtp.example.org?to=alice@example.org"
        log.info("notice_sent", channel=channel, contact="alice@example.org", phones=["+33612345678"])
        log.debug("rendered %s", "06 12 34 56 78")
        try:
            raise_with(f"delivery to {channel} failed for +1 (555) 123-4567 with {SECRET}")
        except RuntimeError:
            log.exception("delivery_failed")
            logging.getLogger("uvicorn.error").exception("foreign failure for bob@example.org")
        logging.getLogger("alembic").warning("connecting to postgresql://fo:%s@db/failover", SECRET)
        output = stream.getvalue()
        for needle in (
            SECRET,
            "alice@example.org",
            "bob@example.org",
            "+33612345678",
            "06 12 34 56 78",
            "555",
        ):
            assert needle not in output
        assert "RuntimeError" in output  # the traceback itself is kept
        assert "raise_with" in output
        assert "mailtos://***" in output
        assert "<email>" in output
        assert "<phone>" in output
        assert "postgresql://***@db/failover" in output

    def test_console_renderer_on_a_terminal(self) -> None:
        """A TTY stream gets readable console lines instead of JSON."""

        class Terminal(io.StringIO):
            def isatty(self) -> bool:
                return True

        stream = Terminal()
        configure_logging(stream=stream)
        get_logger("failover.test").info("started", listen="127.0.0.1:9464")
        output = stream.getvalue()
        assert "started" in output
        assert not output.startswith("{")


#: a terminal escape sequence, raw or as JSON writes it
ESCAPES = ("\x1b", "\\u001b")
#: debug 7, info 6, warning 4, error 3, critical 2 (RFC 5424; systemd's SyslogLevelPrefix)
PRIORITIES = {"debug": 7, "info": 6, "warning": 4, "error": 3, "critical": 2}
PREFIXED = re.compile(r"<(?P<priority>[0-7])>(?P<rest>.*)")


def journal_stream(path: Path) -> str:
    """``$JOURNAL_STREAM`` as systemd sets it for a service whose stderr is ``path``."""
    status = path.stat()
    return f"{status.st_dev}:{status.st_ino}"


def log_every_level() -> None:
    log = get_logger("failover.test")
    log.debug("at_debug")
    log.info("at_info")
    log.warning("at_warning")
    log.error("at_error")
    log.critical("at_critical")
    logging.getLogger("uvicorn.error").warning("foreign_warning")
    try:
        raise_with("boom")
    except RuntimeError:
        log.exception("at_exception")


class TestTerminalEscapes:
    """No log line carries a terminal escape, whoever logged it, whatever the renderer."""

    def test_uvicorns_coloured_copy_of_its_message_is_dropped(self) -> None:
        """uvicorn passes its message again with colours as an extra field: it never reaches the line."""
        stream = io.StringIO()
        configure_logging(stream=stream)
        logging.getLogger("uvicorn.error").info(
            "Started server process [%d]",
            42,
            extra={"color_message": "Started server process [\x1b[36m%d\x1b[0m]"},
        )
        (line,) = stream.getvalue().splitlines()
        assert json.loads(line)["event"] == "Started server process [42]"
        assert "color_message" not in line
        assert not any(escape in line for escape in ESCAPES)

    @pytest.mark.parametrize("as_json", [True, False])
    def test_escapes_are_removed_from_every_field(self, as_json: bool) -> None:
        """Colours, a window title and a lone ESC in a message, its arguments, an extra field
        and a nested value are removed; the text around them stays."""
        stream = io.StringIO()
        configure_logging(json=as_json, stream=stream)
        logging.getLogger("uvicorn.error").warning(
            "\x1b[1mbold\x1b[0m %s", "\x1b[31mred\x1b[0m", extra={"peer": "\x1b]0;title\x07host"}
        )
        get_logger("failover.test").info(
            "probe_finished", body="a\x1bb", nested={"k": ["\x1b[32mgreen\x1b[0m"]}
        )
        output = stream.getvalue()
        assert not any(escape in output for escape in ESCAPES)
        for text in ("bold red", "host", "ab", "green"):
            assert text in output
        if as_json:
            first, second = (json.loads(line) for line in output.splitlines())
            assert first["event"] == "bold red"
            assert first["peer"] == "host"
            assert second["nested"] == {"k": ["green"]}

    @pytest.mark.parametrize("server", ["api", "status_page"])
    async def test_the_http_servers_log_without_escapes(self, server: str) -> None:
        """Both uvicorn listeners, started on 127.0.0.1 and sent a malformed request, write
        JSON lines (their start and end, the request's warning) without any escape."""
        stream = io.StringIO()
        configure_logging(level="debug", stream=stream)
        if server == "api":
            sock = socket.create_server((LOOPBACK, 0))
            sock.setblocking(False)  # noqa: FBT003 - the socket API's own spelling
            uvicorn_server = create_server(Starlette(), host=LOOPBACK, port=sock.getsockname()[1])
            task = asyncio.create_task(uvicorn_server.serve(sockets=[sock]))
            async with asyncio.timeout(10):
                # uvicorn has no start-up event to wait on
                while not uvicorn_server.started:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            port = sock.getsockname()[1]
        else:
            listener = await serve_site(StatusSiteApp(), host=LOOPBACK, port=0)
            port = listener.sock.getsockname()[1]
        try:
            reader, writer = await asyncio.open_connection(LOOPBACK, port)
            writer.write(b"NOT HTTP AT ALL\r\n\r\n")
            await writer.drain()
            async with asyncio.timeout(10):
                await reader.read()  # uvicorn answers 400 and closes
            writer.close()
            await writer.wait_closed()
        finally:
            if server == "api":
                uvicorn_server.should_exit = True
                async with asyncio.timeout(10):
                    await task
                sock.close()
            else:
                await listener.close()
        events = [json.loads(line) for line in stream.getvalue().splitlines()]
        messages = " | ".join(event["event"] for event in events)
        assert "Started server process" in messages  # the line uvicorn also sends coloured
        assert "Invalid HTTP request received." in messages
        assert all(event["logger"].startswith("uvicorn") for event in events)
        assert not any(escape in stream.getvalue() for escape in ESCAPES)


class TestJournal:
    """When stderr is the journal, each line starts with its syslog priority; never otherwise."""

    @pytest.mark.parametrize("as_json", [True, False])
    def test_each_line_carries_the_priority_of_its_level(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, as_json: bool
    ) -> None:
        """With ``$JOURNAL_STREAM`` naming the stream: debug 7, info 6, warning 4, error 3,
        critical 2, foreign loggers alike; a multi-line record has its priority on each line."""
        path = tmp_path / "journal"
        with path.open("w") as stream:
            monkeypatch.setenv("JOURNAL_STREAM", journal_stream(path))
            configure_logging(level="debug", json=as_json, stream=stream)
            log_every_level()
        lines = path.read_text().splitlines()
        assert len(lines) >= 7
        matches = [PREFIXED.fullmatch(line) for line in lines]
        assert all(matches), lines
        found: dict[str, int] = {}
        for match in matches:
            assert match is not None
            rest, priority = match["rest"], int(match["priority"])
            if as_json:
                event = json.loads(rest)
                found[event["event"]] = priority
                assert priority == PRIORITIES[event["level"]]
            elif event_name := re.search(r"\b(at_\w+|foreign_warning)\b", rest):
                found[event_name[1]] = priority
            else:
                assert priority == PRIORITIES["error"], rest  # a line of the traceback
        assert found == {
            "at_debug": 7,
            "at_info": 6,
            "at_warning": 4,
            "at_error": 3,
            "at_critical": 2,
            "foreign_warning": 4,
            "at_exception": 3,
        }
        if not as_json:
            assert any("RuntimeError: boom" in line for line in lines)

    @pytest.mark.parametrize("journal", ["unset", "another stream", "garbled"])
    def test_no_prefix_unless_the_stream_is_the_journal(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, journal: str
    ) -> None:
        """Without ``$JOURNAL_STREAM``, with it naming another stream (a command started by a
        service, its stderr redirected to a file), or unreadable: the lines are plain JSON."""
        path, other = tmp_path / "log", tmp_path / "other"
        other.touch()
        variable = {"unset": None, "another stream": journal_stream(other), "garbled": "journal"}[journal]
        if variable is None:
            monkeypatch.delenv("JOURNAL_STREAM", raising=False)
        else:
            monkeypatch.setenv("JOURNAL_STREAM", variable)
        with path.open("w") as stream:
            configure_logging(level="debug", stream=stream)
            log_every_level()
        lines = path.read_text().splitlines()
        assert len(lines) == 7
        assert all(json.loads(line)["event"] for line in lines)

    def test_a_stream_without_a_descriptor_is_not_the_journal(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """An in-memory stream is never the journal, whatever the environment says."""
        monkeypatch.setenv("JOURNAL_STREAM", "0:0")
        stream = io.StringIO()
        configure_logging(stream=stream)
        get_logger("failover.test").warning("plain")
        assert stream.getvalue().startswith("{")


class Keep(logging.Handler):
    """A handler that keeps the records it is handed, and each one's message as it came."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class TestThePipeline:
    """What the formatter and the loggers keep while they take shortcuts."""

    def test_own_events_reach_the_standard_librarys_consumers_unchanged(self) -> None:
        """A handler after ours sees failover's event as structlog handed it over, from
        the line that logged it, and a library's record with its arguments and traceback."""
        stream = io.StringIO()
        configure_logging(stream=stream)
        keep = Keep()
        logging.getLogger().addHandler(keep)
        get_logger("failover.test").info("probe_finished", platform="facebook")
        try:
            raise_with("boom")
        except RuntimeError:
            logging.getLogger("uvicorn.error").exception("failed for %s", "bob")
        own, foreign = keep.records
        assert own.msg == {"event": "probe_finished", "platform": "facebook"}
        assert own.pathname == __file__
        assert own.funcName == "test_own_events_reach_the_standard_librarys_consumers_unchanged"
        assert foreign.getMessage() == "failed for bob"
        assert foreign.args == ("bob",)
        assert foreign.exc_info is not None
        assert "raise_with" in json.loads(stream.getvalue().splitlines()[1])["exception"]

    def test_level_logger_and_time_are_the_records_own(self) -> None:
        """Whatever a caller passes or a record carries under those names, the line holds
        the record's level, logger name and time (they are not redacted, so they must be)."""
        stream = io.StringIO()
        configure_logging(stream=stream)
        get_logger("failover.test").warning(
            "spoofed", level="alice@example.org", logger=SECRET, timestamp="+33612345678"
        )
        logging.getLogger("uvicorn.error").warning(
            "spoofed too", extra={"level": "alice@example.org", "logger": SECRET, "timestamp": "0612345678"}
        )
        output = stream.getvalue()
        for needle in ("alice@example.org", SECRET, "+33612345678", "0612345678"):
            assert needle not in output
        own, foreign = (json.loads(line) for line in output.splitlines())
        assert (own["level"], own["logger"]) == ("warning", "failover.test")
        assert (foreign["level"], foreign["logger"]) == ("warning", "uvicorn.error")
        assert own["timestamp"].endswith("Z")
        assert foreign["timestamp"].endswith("Z")

    @pytest.mark.parametrize(
        "created", [1_700_000_000.0, 1_700_000_000.25, 1_700_000_000.000001, 1_699_999_999.9999996]
    )
    def test_the_time_is_written_as_structlog_writes_it(self, created: float) -> None:
        """ISO 8601 in UTC with ``Z``, microseconds unless there are none."""
        stream = io.StringIO()
        configure_logging(stream=stream)
        record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, "hello", (), None)
        record.created = created
        logging.getLogger().handle(record)
        stamp = json.loads(stream.getvalue())["timestamp"]
        moment = datetime.datetime.fromtimestamp(created, datetime.UTC)
        assert stamp == moment.isoformat().replace("+00:00", "Z")

    def test_every_logging_method(self) -> None:
        """The logger's methods, each at its level."""
        stream = io.StringIO()
        configure_logging(level="debug", stream=stream)
        log = get_logger("failover.test", round=3)
        log.debug("d")
        log.info("i")
        log.warning("w")
        log.warn("w2")
        log.error("e")
        log.critical("c")
        log.fatal("f")
        log.log(logging.WARNING, "l")
        log.bind(extra_field=1).info("bound")
        try:
            raise_with("boom")
        except RuntimeError:
            log.exception("x")
        events = [json.loads(line) for line in stream.getvalue().splitlines()]
        assert [(event["event"], event["level"]) for event in events] == [
            ("d", "debug"),
            ("i", "info"),
            ("w", "warning"),
            ("w2", "warning"),
            ("e", "error"),
            ("c", "critical"),
            ("f", "critical"),
            ("l", "warning"),
            ("bound", "info"),
            ("x", "error"),
        ]
        assert all(event["round"] == 3 for event in events)
        assert events[-2]["extra_field"] == 1
        assert "raise_with" in events[-1]["exception"]

    def test_a_logger_follows_every_configuration(self, capsys: pytest.CaptureFixture[str]) -> None:
        """A logger that has logged keeps following structlog: a capture, a new stream,
        structlog's defaults (which print on the stdout of the moment)."""
        first, second = io.StringIO(), io.StringIO()
        log = get_logger("failover.test")
        configure_logging(stream=first)
        log.info("one")
        with structlog.testing.capture_logs() as captured:
            log.info("captured")
        log.info("two")
        configure_logging(stream=second)
        log.info("three")
        structlog.reset_defaults()
        log.info("printed")
        assert [json.loads(line)["event"] for line in first.getvalue().splitlines()] == ["one", "two"]
        assert [entry["event"] for entry in captured] == ["captured"]
        assert [json.loads(line)["event"] for line in second.getvalue().splitlines()] == ["three"]
        assert "printed" in capsys.readouterr().out


def failover_command() -> list[str]:
    """The installed ``failover`` script next to this interpreter, else the module."""
    script = Path(sys.executable).with_name("failover")
    return [str(script)] if script.exists() else [sys.executable, "-m", "failover"]


def loopback_config(tmp_path: Path, smtp_port: int, *, listen: int | None = None) -> Path:
    """One platform checked on 127.0.0.1 only (a closed port: down), two contacts reached
    through an SMTP server on 127.0.0.1, the HTTP surface on 127.0.0.1:``listen``."""
    people = "".join(
        f"""
[[contacts]]
name = "Person {n}"
id = "p{n}"
groups = ["team"]
[[contacts.channels]]
url = "mailto://127.0.0.1:{smtp_port}?from=failover@example.org&to=p{n}@example.org"
"""
        for n in range(2)
    )
    path = tmp_path / "failover.toml"
    path.write_text(
        f"""
[catalog]
builtin = false

[daemon]
database_url = "sqlite:///{tmp_path}/failover.db"
listen = "127.0.0.1:{listen or free_port()}"

[detection]
control_quorum = 0

[platforms.whatsapp]
[[platforms.whatsapp.checks]]
kind = "tcp"
name = "tcp"
host = "127.0.0.1"
port = 9

[groups.team]
{people}
[[routes]]
name = "team"
template = "outage"
events = ["confirmed", "resolved", "manual"]
groups = ["team"]
"""
    )
    return path


def run_failover(
    *arguments: str, cwd: Path, stderr: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``failover ARGUMENTS`` as a process, stdout captured; stderr captured too, or into a file."""
    environment = {key: value for key, value in os.environ.items() if key != "JOURNAL_STREAM"}
    with (stderr or Path(os.devnull)).open("w") as err:
        return subprocess.run(
            [*failover_command(), *arguments],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if stderr is None else err,
            text=True,
            cwd=cwd,
            env={**environment, **(env or {})},
            timeout=60,
            check=False,
        )


def log_events(text: str) -> list[dict[str, object]]:
    """The log events of ``text``, in which every line must be one."""
    events = [json.loads(line) for line in text.splitlines()]
    assert all({"event", "level", "logger", "timestamp"} <= event.keys() for event in events), text
    return events


def holds_a_log_line(text: str) -> bool:
    """Whether any line of ``text`` is a log line: a JSON event, or a console one."""
    for line in text.splitlines():
        try:
            event = json.loads(line.strip())
        except ValueError:
            event = None
        if isinstance(event, dict) and "event" in event:
            return True
        if re.search(r"\[(debug|info|warning|error|critical)\s*\]", line):
            return True
    return False


def deliver_from_the_command_line(
    tmp_path: Path, smtp_port: int, *, stderr: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``failover trigger whatsapp --yes`` with no daemon running: the command delivers to
    both contacts by itself, through the SMTP server on 127.0.0.1:``smtp_port``."""
    config = loopback_config(tmp_path, smtp_port)
    upgraded = run_failover("db", "upgrade", "--config", str(config), cwd=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    done = run_failover(
        "trigger", "whatsapp", "-m", "Write to us by e-mail", "--yes", "--config", str(config),
        cwd=tmp_path, stderr=stderr, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr if stderr is None else stderr.read_text()
    assert "delivering from here" in done.stdout
    assert "notices: 2 sent" in done.stdout
    return done


@pytest.mark.slow
class TestCommandLine:
    """A command's stdout holds its output only; its log lines go to stderr."""

    def test_delivering_logs_on_stderr_and_draws_on_stdout(self, tmp_path: Path, smtp_sink: SmtpSink) -> None:
        """``failover trigger`` with no daemon delivers by itself: one ``notice_delivery``
        line per contact on stderr, and on stdout the preview, the progress and the summary
        with no log line among them."""
        done = deliver_from_the_command_line(tmp_path, smtp_sink.port)
        smtp_sink.wait_for(2)
        assert not holds_a_log_line(done.stdout), done.stdout
        assert "notice_delivery" not in done.stdout
        deliveries = [event for event in log_events(done.stderr) if event["event"] == "notice_delivery"]
        assert sorted(str(event["contact"]) for event in deliveries) == ["p0", "p1"]
        assert all(event["outcome"] == "sent" and event["level"] == "info" for event in deliveries)
        assert not done.stderr.startswith("<")

    def test_libraries_speak_only_when_something_goes_wrong(self, tmp_path: Path) -> None:
        """``failover db upgrade`` says on stdout that the schema is current; the migration
        library's own info lines (each step) are not written."""
        config = loopback_config(tmp_path, 2525)
        done = run_failover("db", "upgrade", "--config", str(config), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("database is up to date")
        assert not holds_a_log_line(done.stdout), done.stdout
        assert done.stderr == ""

    def test_under_systemd_each_line_starts_with_its_priority(
        self, tmp_path: Path, smtp_sink: SmtpSink
    ) -> None:
        """With stderr the stream ``$JOURNAL_STREAM`` names, every line of the command is
        ``<6>`` and its JSON event at level info; stdout is untouched."""
        journal = tmp_path / "journal"
        journal.touch()
        done = deliver_from_the_command_line(
            tmp_path, smtp_sink.port, stderr=journal, env={"JOURNAL_STREAM": journal_stream(journal)}
        )
        assert not holds_a_log_line(done.stdout), done.stdout
        lines = journal.read_text().splitlines()
        assert len(lines) >= 2
        for line in lines:
            match = PREFIXED.fullmatch(line)
            assert match is not None, line
            event = json.loads(match["rest"])
            assert int(match["priority"]) == PRIORITIES[event["level"]] == 6

    def test_a_command_whose_stderr_left_the_journal_writes_plain_lines(
        self, tmp_path: Path, smtp_sink: SmtpSink
    ) -> None:
        """A command started by a service but with stderr redirected to a file inherits
        ``$JOURNAL_STREAM``; its lines are not prefixed."""
        journal, log = tmp_path / "journal", tmp_path / "log"
        journal.touch()
        deliver_from_the_command_line(
            tmp_path, smtp_sink.port, stderr=log, env={"JOURNAL_STREAM": journal_stream(journal)}
        )
        events = log_events(log.read_text())
        assert [event["event"] for event in events].count("notice_delivery") == 2

    def test_an_embedding_program_keeps_its_logging(self, tmp_path: Path) -> None:
        """Invoked from a program that set up logging itself, the command line leaves it."""
        stream = io.StringIO()
        configure_logging(stream=stream)
        config = loopback_config(tmp_path, 2525)
        result = CliRunner().invoke(main, ["db", "upgrade", "--config", str(config)])
        assert result.exit_code == 0, result.output
        assert any(
            str(event["event"]).startswith("Running upgrade") for event in log_events(stream.getvalue())
        )

    @pytest.mark.usefixtures("no_logging")
    def test_the_command_line_sets_up_logging_on_stderr(self, tmp_path: Path, smtp_sink: SmtpSink) -> None:
        """Without a set-up, a command installs one on the stderr of the moment (here the
        runner's), failover's events from info, the libraries' from warning."""
        assert not logging_configured()
        config = loopback_config(tmp_path, smtp_sink.port)
        runner = CliRunner()
        upgraded = runner.invoke(main, ["db", "upgrade", "--config", str(config)])
        assert upgraded.exit_code == 0, upgraded.output
        assert logging_configured()
        assert upgraded.stderr == ""  # the migration's steps are the library's info lines
        result = runner.invoke(
            main, ["trigger", "whatsapp", "-m", "Write to us", "--yes", "--config", str(config)]
        )
        assert result.exit_code == 0, result.output
        assert "notices: 2 sent" in result.stdout
        assert not holds_a_log_line(result.stdout), result.stdout
        events = log_events(result.stderr)
        assert [event["event"] for event in events].count("notice_delivery") == 2
        assert all(
            str(event["logger"]).startswith("failover.") or event["level"] != "info" for event in events
        ), events

    def test_structlog_configured_back_to_its_defaults_is_set_up_again(
        self, tmp_path: Path, smtp_sink: SmtpSink
    ) -> None:
        """structlog "configured" with its own defaults, as ``structlog.testing.capture_logs``
        leaves it when it restores them: it still prints every event on stdout, so a command
        sets logging up again, and its output stays free of log lines."""
        configure_logging(stream=io.StringIO())
        structlog.reset_defaults()
        with structlog.testing.capture_logs():
            pass
        assert structlog.is_configured()
        assert not logging_configured()
        config = loopback_config(tmp_path, smtp_sink.port)
        runner = CliRunner()
        assert runner.invoke(main, ["db", "upgrade", "--config", str(config)]).exit_code == 0
        result = runner.invoke(
            main, ["trigger", "whatsapp", "-m", "Write to us", "--yes", "--config", str(config)]
        )
        assert result.exit_code == 0, result.output
        assert not holds_a_log_line(result.stdout), result.stdout

    def test_structlog_at_its_defaults_is_set_up_again(self, tmp_path: Path, smtp_sink: SmtpSink) -> None:
        """Root logging set up but structlog back at its defaults (which print every event
        on stdout), as a program that embeds the command line may leave them: a command sets
        logging up again, and its output stays free of log lines."""
        configure_logging(stream=io.StringIO())
        structlog.reset_defaults()
        assert not logging_configured()
        config = loopback_config(tmp_path, smtp_sink.port)
        runner = CliRunner()
        assert runner.invoke(main, ["db", "upgrade", "--config", str(config)]).exit_code == 0
        result = runner.invoke(
            main, ["trigger", "whatsapp", "-m", "Write to us", "--yes", "--config", str(config)]
        )
        assert result.exit_code == 0, result.output
        assert not holds_a_log_line(result.stdout), result.stdout
        assert [event["event"] for event in log_events(result.stderr)].count("notice_delivery") == 2


class TestDaemonUnderSystemd:
    """``failover run`` with stderr the journal, as systemd starts the unit."""

    @pytest.mark.slow
    def test_every_line_carries_its_priority_and_no_escape(self, tmp_path: Path, smtp_sink: SmtpSink) -> None:
        """From start to SIGTERM, every line the daemon writes (its own, uvicorn's, at info
        and, for a malformed request, at warning) is ``<N>`` and a JSON event whose level N
        is; none holds a terminal escape; stdout stays empty."""
        port = free_port()
        config = loopback_config(tmp_path, smtp_sink.port, listen=port)
        journal = tmp_path / "journal"
        journal.touch()
        environment = {key: value for key, value in os.environ.items() if key not in ("NO_COLOR", "TERM")}
        with journal.open("w") as err:
            daemon = subprocess.Popen(
                [*failover_command(), "run", "--config", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                cwd=tmp_path,
                env={**environment, "JOURNAL_STREAM": journal_stream(journal), "FORCE_COLOR": "1"},
            )
            try:
                deadline = time.monotonic() + 30
                while "round_judged" not in journal.read_text():
                    assert daemon.poll() is None, journal.read_text()
                    assert time.monotonic() < deadline, journal.read_text()
                    time.sleep(0.1)
                assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
                with socket.create_connection((LOOPBACK, port), timeout=5) as malformed:
                    malformed.sendall(b"NOT HTTP AT ALL\r\n\r\n")
                    malformed.recv(4096)  # uvicorn answers 400
                daemon.send_signal(signal.SIGTERM)
                stdout, _ = daemon.communicate(timeout=30)
            finally:
                if daemon.poll() is None:
                    daemon.kill()
                    daemon.wait(timeout=10)
        assert daemon.returncode == 0, journal.read_text()
        assert stdout == b""
        text = journal.read_text()
        assert not any(escape in text for escape in ESCAPES)
        events: dict[str, int] = {}
        for line in text.splitlines():
            match = PREFIXED.fullmatch(line)
            assert match is not None, line
            event = json.loads(match["rest"])
            assert int(match["priority"]) == PRIORITIES[event["level"]], line
            events[event["event"]] = int(match["priority"])
        assert events["daemon_starting"] == events["round_judged"] == 6
        assert events["Invalid HTTP request received."] == 4
        assert any(name.startswith("Started server process") for name in events)
