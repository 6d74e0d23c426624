"""Logging: one structured line per event, secrets and personal data redacted everywhere."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from failover.logs import Redactor, configure_logging, get_logger

SECRET = "hunter2-0123456789"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Each test configures logging afresh; the process's set-up is put back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


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

    def test_values_of_any_shape(self) -> None:
        """Nested containers and non-string objects are redacted as text."""
        redactor = Redactor([SECRET])
        value = {"a": [SECRET, 3, None, True], "b": ("alice@example.org",), "c": ValueError(SECRET)}
        assert redactor.redact_value(value) == {"a": ["***", 3, None, True], "b": ["<email>"], "c": "***"}


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
