"""Temporary and permanent failures, told apart by each protocol over 127.0.0.1: SMTP
replies (aiosmtpd), connections refused and dropped, HTTP statuses (the fake
signal-cli-rest-api through apprise). A permanent failure is the server saying no for
good; every other failure may be retried."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from failover.domain import Channel, Visibility
from failover.notify import ApprisePlugins, RenderedNotice, SendResult
from tests.kit import FakeSignal, SmtpSink
from tests.outage import SmtpSinkOnPort

FROM = "failover@example.org"
NOTICE = RenderedNotice(subject="WhatsApp is down", body="Reach us by e-mail.\n", language="en")


def mail(port: int, to: str = "someone@example.org") -> Channel:
    return Channel(ref="contacts[0].channels[0]", url=f"mailto://127.0.0.1:{port}?from={FROM}&to={to}")


def signal(fake: FakeSignal) -> Channel:
    port = urlsplit(fake.url).port
    return Channel(ref="contacts[0].channels[1]", url=f"signal://127.0.0.1:{port}/+15551234567/+15557654321")


class TestSmtp:
    """An SMTP reply's first digit decides: 4xx later, 5xx never; a connection that
    fails is always worth another try."""

    @pytest.mark.parametrize(
        ("code", "stage", "error", "permanent"),
        [
            (451, "rcpt", "mail: recipient refused (SMTP 451)", False),
            (452, "data", "mail: rejected (SMTP 452)", False),
            (550, "rcpt", "mail: recipient refused (SMTP 550)", True),
            (554, "data", "mail: rejected (SMTP 554)", True),
        ],
    )
    async def test_the_reply_code_decides(
        self, smtp_sink: SmtpSink, code: int, stage: str, error: str, permanent: bool
    ) -> None:
        smtp_sink.fail_with(code, stage=stage)  # type: ignore[arg-type]
        async with ApprisePlugins(max_workers=1) as sender:
            result = await sender.send(mail(smtp_sink.port), NOTICE, visibility=Visibility.private)
        assert result == SendResult(ok=False, error=error, permanent=permanent)
        assert result.final is permanent

    async def test_a_temporary_refusal_keeps_the_connection_for_the_next_message(
        self, smtp_sink: SmtpSink
    ) -> None:
        smtp_sink.fail_with(451)
        async with ApprisePlugins(max_workers=1) as sender:
            first = await sender.send(mail(smtp_sink.port), NOTICE, visibility=Visibility.private)
            smtp_sink.fail_with(None)
            second = await sender.send(mail(smtp_sink.port), NOTICE, visibility=Visibility.private)
        assert (first.ok, first.permanent, second.ok) == (False, False, True)
        assert len(smtp_sink.messages) == 1

    async def test_nobody_listening_is_temporary(self, closed_port: int) -> None:
        async with ApprisePlugins(max_workers=1) as sender:
            result = await sender.send(mail(closed_port), NOTICE, visibility=Visibility.private)
        assert result == SendResult(ok=False, error="mail: connection refused")
        assert not result.final

    async def test_a_server_that_went_away_and_came_back(self) -> None:
        """The pooled connection dies with the server: that try fails (temporary), and the
        next one, once a server listens on the port again, opens a new connection."""
        first = SmtpSink()
        first.start()
        port = first.port
        try:
            async with ApprisePlugins(max_workers=1) as sender:
                assert (await sender.send(mail(port), NOTICE, visibility=Visibility.private)).ok
                first.stop()
                gone = await sender.send(mail(port), NOTICE, visibility=Visibility.private)
                assert not gone.ok
                assert not gone.final
                assert gone.error in {"mail: server disconnected", "mail: connection refused"}
                with SmtpSinkOnPort(port) as second:
                    back = await sender.send(mail(port), NOTICE, visibility=Visibility.private)
                    assert back.ok
                    assert len(second.messages) == 1
        finally:
            first.stop()
        assert len(first.messages) == 1


class TestHttp:
    """An HTTP status from apprise's log: 5xx, 408, 425 and 429 say later; any other 4xx
    says never; a failure without a status (a connection error) is temporary."""

    @pytest.mark.parametrize(
        ("status", "permanent"),
        [(500, False), (502, False), (503, False), (429, False), (408, False), (400, True), (401, True),
         (404, True)],
    )  # fmt: skip
    async def test_the_status_decides(self, fake_signal: FakeSignal, status: int, permanent: bool) -> None:
        fake_signal.set_status(status)
        async with ApprisePlugins(max_workers=1) as sender:
            result = await sender.send(signal(fake_signal), NOTICE, visibility=Visibility.private)
        assert not result.ok
        assert result.error == f"signal: failure (HTTP {status})"
        assert result.permanent is permanent

    async def test_a_refused_connection_is_temporary(self, closed_port: int) -> None:
        channel = Channel(
            ref="contacts[0].channels[1]", url=f"signal://127.0.0.1:{closed_port}/+15551234567/+15557654321"
        )
        async with ApprisePlugins(max_workers=1) as sender:
            result = await sender.send(channel, NOTICE, visibility=Visibility.private)
        assert not result.ok
        assert not result.final
