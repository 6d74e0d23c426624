"""Logging: one structured line per event, secrets and personal data redacted everywhere."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from failover.config import check_email
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
