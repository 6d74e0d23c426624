"""Delivery over real protocols on 127.0.0.1: SMTP (aiosmtpd), the fake
signal-cli-rest-api and Mastodon APIs, Mosquitto, and a fake Telegram Bot API."""

from __future__ import annotations

import asyncio
import email
import itertools
import os
import queue
import random
import re
import socket
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from email.charset import QP, Charset
from email.header import Header
from email.mime.nonmultipart import MIMENonMultipart
from email.policy import compat32
from email.utils import formataddr, parsedate_to_datetime
from urllib.parse import urlsplit

import apprise.plugins.telegram
import pytest

from failover.domain import Channel, IncidentEvent, NoticeState, Visibility
from failover.notify import (
    ApprisePlugins,
    Dispatcher,
    MemoryOutbox,
    RateLimits,
    RenderedNotice,
    SendResult,
    _mail,
    builtin_template,
    inert_mentions,
)
from failover.notify._mail import MailRoute, SmtpServer, mail_message
from failover.notify._render import render_notice
from tests.kit import FakeMastodon, FakeSignal, HttpTarget, SmtpSink

FROM = "failover@example.org"
NOTICE = RenderedNotice(
    subject="Notre ligne WhatsApp est indisponible", body="Joignez-nous par e-mail.\n", language="fr"
)
PUBLIC_NOTICE = RenderedNotice(
    subject="Our WhatsApp line is down", body="Reach us by e-mail.\n", language="en"
)


def mail_channel(sink: SmtpSink, index: int) -> Channel:
    return Channel(
        ref=f"contacts[{index}].channels[0]",
        url=f"mailto://{sink.host}:{sink.port}?from={FROM}&to=contact{index}@example.org",
    )


def queue_private(
    outbox: MemoryOutbox, index: int, channel: Channel, notice: RenderedNotice, now: datetime
) -> None:
    """Contact ``index``'s notice of incident ``i``, bound for ``channel``."""
    outbox.enqueue(
        key=f"i:{index}",
        incident_key="i",
        event=IncidentEvent.confirmed,
        contact_ref=f"contacts[{index}]",
        channel_refs=(channel.ref,),
        visibility=Visibility.private,
        notice=notice,
        now=now,
    )


def dispatcher_for(outbox: MemoryOutbox, sender: ApprisePlugins, channels: dict[str, Channel]) -> Dispatcher:
    return Dispatcher(
        outbox,
        sender,
        RateLimits(),
        channels=channels,
        concurrency=8,
        max_attempts=2,
        backoff_base_s=0.0,
        jitter=random.random,
        clock=lambda: datetime.now(UTC),
    )


class TestEmail:
    """Every recipient gets one message of their own, in their language."""

    async def test_routes_kept_are_bounded_and_every_recipient_is_told(
        self, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A fan-out to more addresses than routes are kept (an address book of 100,000)
        tells everyone once, while the sender keeps only the most recently used routes."""
        import failover.notify._send as send_module

        monkeypatch.setattr(send_module, "ROUTES_KEPT", 5)
        outbox, channels = MemoryOutbox(), {}
        now = datetime.now(UTC)
        for index in range(30):
            channel = mail_channel(smtp_sink, index)
            channels[channel.ref] = channel
            queue_private(outbox, index, channel, NOTICE, now)
        async with ApprisePlugins(max_workers=4) as sender:
            summary = await dispatcher_for(outbox, sender, channels).dispatch_due()
            assert sender.cached == 5
        assert summary.sent == 30
        received = await smtp_sink.wait_for_async(30)
        assert sorted(r.rcpt_tos[0] for r in received) == sorted(f"contact{i}@example.org" for i in range(30))

    async def test_an_address_book_shares_one_reading_of_its_server(
        self, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Recipients on one server and sender: apprise reads the URL of the first only, and
        each of the others gets exactly the address apprise would have read in its URL
        (plus-addresses, internationalised domains); a URL of another shape is read whole."""
        import failover.notify._send as send_module

        built: list[str] = []
        build = send_module.build_plugin

        def counting(url: str, **kwargs: object) -> object:
            built.append(url)
            return build(url, **kwargs)

        base = f"mailto://{smtp_sink.host}:{smtp_sink.port}?from={FROM}"
        addresses = [
            "ann@example.org",
            "bob%2Bnews@example.org",
            "chloe@xn--exmple-cua.fr",
            "d.o'n@example.org",
        ]
        channels = [
            Channel(ref=f"contacts[{i}].channels[0]", url=f"{base}&to={a}") for i, a in enumerate(addresses)
        ]
        other = Channel(
            ref="contacts[9].channels[0]",
            url=f"mailto://{smtp_sink.host}:{smtp_sink.port}/eve@example.org?from={FROM}",
        )
        alone = ApprisePlugins(max_workers=1)
        expected = [alone._new_mail_route(channel) for channel in [*channels, other]]
        monkeypatch.setattr(send_module, "build_plugin", counting)
        async with ApprisePlugins(max_workers=1) as sender:
            routes = [sender._mail_route(channel) for channel in [*channels, other]]
        assert routes == expected
        assert [r.to_addr for r in routes[:3]] == [
            "ann@example.org",
            "bob+news@example.org",
            "chloe@xn--exmple-cua.fr",
        ]
        # the first of the server, the one apprise alone may read (a quote), the one in the path
        assert built == [channels[0].url, channels[3].url, other.url]

    async def test_one_message_per_recipient_in_their_language(self, smtp_sink: SmtpSink) -> None:
        outbox, channels = MemoryOutbox(), {}
        languages = {}
        now = datetime.now(UTC)
        for index in range(12):
            channel = mail_channel(smtp_sink, index)
            channels[channel.ref] = channel
            language = "fr" if index % 2 else "en"
            languages[f"contact{index}@example.org"] = language
            notice = RenderedNotice(
                subject="Ligne indisponible" if language == "fr" else "Line unavailable",
                body=f"Bonjour n°{index} — é\n" if language == "fr" else f"Hello number {index}\n",
                language=language,
            )
            queue_private(outbox, index, channel, notice, now)
        async with ApprisePlugins(max_workers=4) as sender:
            summary = await dispatcher_for(outbox, sender, channels).dispatch_due()
            assert sender.cached == 12, [(r.state, r.reason, r.deliveries) for r in outbox][:2]
        assert summary.sent == 12
        received = await smtp_sink.wait_for_async(12)
        assert len(received) == 12
        assert sorted(r.rcpt_tos[0] for r in received) == sorted(languages)
        for message in received:
            (recipient,) = message.rcpt_tos
            assert message.mail_from == FROM
            assert message.message["To"] == recipient
            assert message.message["Cc"] is None
            assert message.message["Bcc"] is None
            assert message.message["Content-Language"] == languages[recipient]
            body = message.message.get_content().replace("\r\n", "\n")  # CRLF on the wire
            number = recipient.removeprefix("contact").removesuffix("@example.org")
            if languages[recipient] == "fr":
                assert message.message["Subject"] == "Ligne indisponible"
                assert body == f"Bonjour n°{number} — é\n"
            else:
                assert body == f"Hello number {number}\n"

    async def test_connections_are_reused(self, smtp_sink: SmtpSink) -> None:
        async with ApprisePlugins(max_workers=1) as sender:
            for index in range(3):
                result = await sender.send(
                    mail_channel(smtp_sink, index), NOTICE, visibility=Visibility.private
                )
                assert result.ok
        assert len(await smtp_sink.wait_for_async(3)) == 3

    async def test_a_rendered_builtin_notice_arrives_intact(self, smtp_sink: SmtpSink) -> None:
        from tests.notify.test_render import ALICE, INCIDENT, NAMES, NOW

        notice = render_notice(
            template=builtin_template(IncidentEvent.confirmed, Visibility.private),
            language=ALICE.language,
            incident=INCIDENT,
            event=IncidentEvent.confirmed,
            contact=ALICE,
            now=NOW,
            alternatives=("Signal : +33 6 00 00 00 00",),
            platform_names=NAMES,
        )
        async with ApprisePlugins(max_workers=1) as sender:
            assert (await sender.send(mail_channel(smtp_sink, 1), notice, visibility=Visibility.private)).ok
        (message,) = await smtp_sink.wait_for_async(1)
        assert message.message["Subject"] == "WhatsApp indisponible : comment nous joindre"
        assert message.message.get_content().replace("\r\n", "\n") == notice.body

    @pytest.mark.parametrize(
        "subject",
        [
            "Facebook, Instagram, Messenger et WhatsApp fonctionnent à nouveau",
            "Mise à jour : nos lignes Facebook, Instagram, Messenger et WhatsApp sont indisponibles",
            "Ünïcödé " * 12,
            "An ASCII subject long enough to be folded by the generator, as family incidents are",
        ],
    )
    async def test_a_long_subject_arrives_as_written(self, smtp_sink: SmtpSink, subject: str) -> None:
        """A subject longer than a header line is folded on the wire and read back whole by
        the receiving client: no leading space, nothing lost at the fold."""
        notice = RenderedNotice(subject=subject, body="Joignez-nous par e-mail.\n", language="fr")
        async with ApprisePlugins(max_workers=1) as sender:
            assert (await sender.send(mail_channel(smtp_sink, 1), notice, visibility=Visibility.private)).ok
        (message,) = await smtp_sink.wait_for_async(1)
        assert str(message.message["Subject"]) == subject

    async def test_a_refusing_server_is_a_short_secret_free_error(self, smtp_sink: SmtpSink) -> None:
        smtp_sink.fail_with(550)
        channel = Channel(
            ref="contacts[0].channels[0]",
            url=f"mailto://{smtp_sink.host}:{smtp_sink.port}?from={FROM}&to=secret.person@example.org",
        )
        async with ApprisePlugins(max_workers=1) as sender:
            result = await sender.send(channel, NOTICE, visibility=Visibility.private)
        assert result == SendResult(ok=False, error="mail: recipient refused (SMTP 550)", permanent=True)

    async def test_several_recipients_are_refused_without_an_attempt(self, smtp_sink: SmtpSink) -> None:
        channel = Channel(
            ref="contacts[0].channels[0]",
            url=f"mailto://{smtp_sink.host}:{smtp_sink.port}?from={FROM}&to=a@example.org&cc=b@example.org",
        )
        async with ApprisePlugins(max_workers=1) as sender:
            result = await sender.send(channel, NOTICE, visibility=Visibility.private)
        assert result.refused
        assert "example.org" not in result.error
        assert smtp_sink.messages == []

    async def test_nobody_listening(self, closed_port: int) -> None:
        channel = Channel(ref="c", url=f"mailto://127.0.0.1:{closed_port}?from={FROM}&to=x@example.org")
        async with ApprisePlugins(max_workers=1) as sender:
            result = await sender.send(channel, NOTICE, visibility=Visibility.private)
        assert result == SendResult(ok=False, error="mail: connection refused")


def whole_message(route: MailRoute, notice: RenderedNotice, *, date: str, message_id: str) -> bytes:
    """The message as the email package builds and generates it whole for each recipient,
    which :func:`mail_message` did before it kept the parts shared by all."""
    charset = Charset("utf-8")
    charset.body_encoding = QP
    message = MIMENonMultipart("text", "plain")
    message.set_payload(notice.body, charset)

    def address(name: str | None, addr: str) -> str:
        return formataddr((name, addr), charset="utf-8") if name else addr

    message["From"] = address(route.from_name, route.from_addr)
    message["To"] = address(route.to_name, route.to_addr)
    if notice.subject.isascii():
        message["Subject"] = notice.subject
    else:
        message["Subject"] = Header(notice.subject, "utf-8", header_name="Subject")  # type: ignore[assignment]
    message["Date"] = date
    message["Message-ID"] = message_id
    message["Content-Language"] = notice.language
    message["X-Application"] = "failover"
    for name, value in route.headers:
        message[name] = value
    return message.as_bytes(policy=compat32.clone(linesep="\r\n"))


MAIL_SERVER = SmtpServer(
    host="127.0.0.1", port=25, mode="insecure", user=None, password=None, verify=True, timeout_s=10.0
)
SUBJECTS = [
    "Line unavailable",
    "An ASCII subject long enough to be folded by the generator, as family incidents are, twice over",
    "Ligne indisponible : écrivez-nous",
    "Mise à jour : nos lignes Facebook, Instagram, Messenger et WhatsApp sont indisponibles",
    "Ünïcödé " * 12,
    "WhatsApp 暂时无法使用, 请通过电子邮件联系我们 📮 — 我们会尽快回复您的每一条消息, 谢谢您的耐心",
]
BODIES = [
    "Reach us by e-mail.\n",
    "",
    (
        "Bonjour Zoé,\n\nNotre ligne WhatsApp est indisponible depuis 14 h 05 ; joignez-nous par e-mail à "
        "support@example.org ou par Signal au +33 6 00 00 00 00, nous répondons sous une heure.\n"
        "From here on, a line that starts like an mbox separator.\n.\nTrailing spaces   \n= sign = ok\n"
    ),
    "Olá — a linha está indisponível.\r\nEscreva-nos: " + "ação " * 40 + "\nsem fim de linha",
]
SENDERS = [
    # from_name, to_name, headers
    (None, None, ()),
    ("Failover", "Ann Example", (("X-Campaign", "outage"),)),
    (
        "Équipe Failover — Support",
        "Zoé Ürün-Lefèvre, avec un nom assez long pour que la ligne To soit pliée",
        (
            ("Reply-To", "help@example.org"),
            ("X-Note", "a custom header value long enough that the generator folds it, " * 2),
            ("Subject", "a route's own header, kept after ours as before"),
        ),
    ),
]
LANGUAGES = ["en", "fr", "pt-BR", "zh-Hans"]


def mail_route(from_name: str | None, to_name: str | None, headers: tuple[tuple[str, str], ...]) -> MailRoute:
    return MailRoute(
        server=MAIL_SERVER,
        from_name=from_name,
        from_addr="failover@alerts.example.org",
        to_name=to_name,
        to_addr="contact0@example.org",
        headers=headers,
    )


class TestMailMessage:
    """A message's shared parts are encoded once per text, and every recipient's message
    is byte for byte the one the email package builds whole, Date and Message-ID apart."""

    def test_the_same_bytes_as_the_email_package(self, monkeypatch: pytest.MonkeyPatch) -> None:
        ids = itertools.count()
        monkeypatch.setattr(_mail, "formatdate", lambda usegmt: "Mon, 02 Jun 2025 14:05:00 GMT")
        monkeypatch.setattr(_mail, "make_msgid", lambda domain: f"<{next(ids)}.failover@{domain}>")
        _mail._shared_parts.cache_clear()
        cases = itertools.product(SUBJECTS, BODIES, SENDERS)
        for index, (subject, body, (from_name, to_name, headers)) in enumerate(cases):
            notice = RenderedNotice(subject=subject, body=body, language=LANGUAGES[index % len(LANGUAGES)])
            route = mail_route(from_name, to_name, headers)
            # the first recipient builds the shared parts, the others reuse them
            for to_addr in ("contact0@example.org", "zoe.2@xn--exmple-cua.fr", "c@example.org"):
                route = replace(route, to_addr=to_addr)
                sent = mail_message(route, notice)
                message_id = f"<{next(ids) - 1}.failover@alerts.example.org>"
                expected = whole_message(
                    route, notice, date="Mon, 02 Jun 2025 14:05:00 GMT", message_id=message_id
                )
                assert sent == expected, (subject, body, from_name, to_name, to_addr, headers)
        assert _mail._shared_parts.cache_info().hits >= 2 * len(SUBJECTS) * len(BODIES) * len(SENDERS)

    def test_each_recipient_has_a_date_and_a_message_id_of_their_own(self) -> None:
        notice = RenderedNotice(subject=SUBJECTS[3], body=BODIES[2], language="fr")
        route = mail_route(*SENDERS[2])
        ids = set()
        for index in range(3):
            recipient = replace(route, to_addr=f"contact{index}@example.org")
            sent = mail_message(recipient, notice)
            parsed = email.message_from_bytes(sent)
            date, message_id = str(parsed["Date"]), str(parsed["Message-ID"])
            assert abs((parsedate_to_datetime(date) - datetime.now(UTC)).total_seconds()) < 60
            assert message_id.endswith("@alerts.example.org>")
            ids.add(message_id)
            assert sent == whole_message(recipient, notice, date=date, message_id=message_id)
        assert len(ids) == 3

    def test_the_texts_kept_are_bounded(self) -> None:
        """A text written for each contact is encoded for each: only the most recently used
        texts are kept, and a fan-out of one text encodes it once."""
        _mail._shared_parts.cache_clear()
        route = mail_route(*SENDERS[1])
        for index in range(3 * _mail.TEXTS_KEPT):
            notice = RenderedNotice(subject=f"Line {index} unavailable", body=BODIES[2], language="fr")
            mail_message(route, notice)
        assert _mail._shared_parts.cache_info().currsize == _mail.TEXTS_KEPT
        _mail._shared_parts.cache_clear()
        notice = RenderedNotice(subject=SUBJECTS[4], body=BODIES[3], language="pt-BR")
        for index in range(200):
            mail_message(replace(route, to_addr=f"contact{index}@example.org"), notice)
        info = _mail._shared_parts.cache_info()
        assert (info.misses, info.hits, info.currsize) == (1, 199, 1)

    def test_worker_threads_share_the_parts(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Many worker threads building one fan-out at once each get their recipient's
        message, whole."""
        monkeypatch.setattr(_mail, "formatdate", lambda usegmt: "Mon, 02 Jun 2025 14:05:00 GMT")
        monkeypatch.setattr(_mail, "make_msgid", lambda domain: f"<id@{domain}>")
        _mail._shared_parts.cache_clear()
        notice = RenderedNotice(subject=SUBJECTS[5], body=BODIES[2], language="zh-Hans")
        routes = [replace(mail_route(*SENDERS[2]), to_addr=f"contact{i}@example.org") for i in range(400)]
        with ThreadPoolExecutor(max_workers=16) as pool:
            sent = list(pool.map(lambda route: mail_message(route, notice), routes))
        for route, message in zip(routes, sent, strict=True):
            expected = whole_message(
                route, notice, date="Mon, 02 Jun 2025 14:05:00 GMT", message_id="<id@alerts.example.org>"
            )
            assert message == expected


def signal_channel(fake: FakeSignal, ref: str = "contacts[0].channels[0]") -> Channel:
    port = urlsplit(fake.url).port
    return Channel(ref=ref, url=f"signal://127.0.0.1:{port}/+15551234567/+15557654321")


class TestSignal:
    """signal-cli-rest-api through apprise's ``signal://``."""

    async def test_delivered(self, fake_signal: FakeSignal) -> None:
        async with ApprisePlugins(max_workers=1) as sender:
            result = await sender.send(signal_channel(fake_signal), NOTICE, visibility=Visibility.private)
        assert result == SendResult(ok=True)
        (request,) = fake_signal.requests
        assert request["recipients"] == ["+15557654321"]
        assert "Joignez-nous par e-mail." in request["message"]

    async def test_a_500_retries_then_falls_over_to_email(
        self, fake_signal: FakeSignal, smtp_sink: SmtpSink
    ) -> None:
        fake_signal.set_status(500)
        signal, email = signal_channel(fake_signal), mail_channel(smtp_sink, 0)
        email = Channel(ref="contacts[0].channels[1]", url=email.url)
        outbox = MemoryOutbox()
        notice_id = outbox.enqueue(
            key="k",
            incident_key="i",
            event=IncidentEvent.confirmed,
            contact_ref="contacts[0]",
            channel_refs=(signal.ref, email.ref),
            visibility=Visibility.private,
            notice=NOTICE,
            now=datetime.now(UTC),
        )
        async with ApprisePlugins(max_workers=2) as sender:
            await dispatcher_for(outbox, sender, {signal.ref: signal, email.ref: email}).dispatch_due()
        record = outbox.get(notice_id)
        assert record.state is NoticeState.sent
        assert record.channel_ref == email.ref
        assert [(d.channel_ref, d.ok, d.error) for d in record.deliveries] == [
            (signal.ref, False, "signal: failure (HTTP 500)"),
            (signal.ref, False, "signal: failure (HTTP 500)"),
            (email.ref, True, ""),
        ]
        assert len(fake_signal.requests) == 2
        assert len(await smtp_sink.wait_for_async(1)) == 1
        for delivery in record.deliveries:
            assert "+1555" not in delivery.error
            assert "127.0.0.1" not in delivery.error


def mastodon_url(fake: FakeMastodon, query: str = "") -> str:
    port = urlsplit(fake.url).port
    return f"mastodon://s3cr3t-token@127.0.0.1:{port}/{query}"


#: The mentions a Mastodon server finds in a status's text, and delivers a direct message
#: to or notifies (its ``Account::MENTION_RE``, with ``[[:word:]]`` written ``\w``).
SERVER_MENTION = re.compile(r"(?<![=/\w])@([a-z0-9_]+(?:[.-]+[a-z0-9_]+)*(?:@\w+(?:[.-]+\w+)*)?)", re.I)
#: An operator's words naming other accounts in every way a server reads a mention,
#: beside an e-mail address and a profile's URL, which are none.
MENTIONING = RenderedNotice(
    subject="Ask @carol for the new number",
    body=(
        "Write to @alice@example.social or (@dave.smith), cc:@erin; "
        "mail contact@example.org, see https://example.social/@frank\n"
    ),
    language="en",
)


class TestMastodon:
    """Public notices post publicly; private ones are direct messages or refused."""

    async def test_a_public_notice_posts_with_public_visibility(self, fake_mastodon: FakeMastodon) -> None:
        channel = Channel(
            ref="channels.announce", url=mastodon_url(fake_mastodon), visibility=Visibility.public
        )
        async with ApprisePlugins(max_workers=1) as sender:
            result = await sender.send(channel, PUBLIC_NOTICE, visibility=Visibility.public)
        assert result.ok
        (status,) = fake_mastodon.statuses
        assert status["visibility"] == "public"
        assert "Reach us by e-mail." in status["status"]

    async def test_a_private_notice_is_a_direct_message(self, fake_mastodon: FakeMastodon) -> None:
        channel = Channel(
            ref="contacts[0].channels[0]", url=mastodon_url(fake_mastodon, "@bob?visibility=direct")
        )
        async with ApprisePlugins(max_workers=1) as sender:
            result = await sender.send(channel, NOTICE, visibility=Visibility.private)
        assert result.ok
        (status,) = fake_mastodon.statuses
        assert status["visibility"] == "direct"
        assert status["status"].startswith("@bob")

    async def test_a_direct_message_mentions_its_recipient_alone(self, fake_mastodon: FakeMastodon) -> None:
        """A direct message reaches every account its text mentions: the words keep every
        name, and the one mention the server reads is the recipient's."""
        channel = Channel(
            ref="contacts[0].channels[0]", url=mastodon_url(fake_mastodon, "@bob?visibility=direct")
        )
        async with ApprisePlugins(max_workers=1) as sender:
            result = await sender.send(channel, MENTIONING, visibility=Visibility.private)
        assert result.ok
        (status,) = fake_mastodon.statuses
        assert status["visibility"] == "direct"
        assert SERVER_MENTION.findall(status["status"]) == ["bob"]
        assert status["status"].startswith("@bob ")
        shown = status["status"].replace("\u2060", "")
        for words in ("@carol", "@alice@example.social", "(@dave.smith)", "cc:@erin", "contact@example.org"):
            assert words in shown

    async def test_a_public_post_mentions_nobody(self, fake_mastodon: FakeMastodon) -> None:
        channel = Channel(
            ref="channels.announce", url=mastodon_url(fake_mastodon), visibility=Visibility.public
        )
        async with ApprisePlugins(max_workers=1) as sender:
            result = await sender.send(channel, MENTIONING, visibility=Visibility.public)
        assert result.ok
        (status,) = fake_mastodon.statuses
        assert status["visibility"] == "public"
        assert SERVER_MENTION.findall(status["status"]) == []
        assert "https://example.social/@frank" in status["status"]

    def test_a_mention_made_inert_reads_the_same(self) -> None:
        """Only a word joiner is added, after each '@' that starts a mention; applying it
        twice changes nothing more."""
        text = "@a, x@b.org, =@c, /@d, @@e, (@f@g.h)"
        inert = inert_mentions(text)
        assert inert.replace("\u2060", "") == text
        assert inert == "@\u2060a, x@b.org, =@c, /@d, @@\u2060e, (@\u2060f@g.h)"
        assert inert_mentions(inert) == inert
        assert SERVER_MENTION.findall(inert) == []

    async def test_a_private_channel_without_direct_visibility_is_refused(
        self, fake_mastodon: FakeMastodon
    ) -> None:
        channel = Channel(ref="contacts[0].channels[0]", url=mastodon_url(fake_mastodon))
        async with ApprisePlugins(max_workers=1) as sender:
            result = await sender.send(channel, NOTICE, visibility=Visibility.private)
        assert result.refused
        assert "direct" in result.error
        assert fake_mastodon.statuses == []

    async def test_a_private_notice_to_a_public_channel_is_refused(self, fake_mastodon: FakeMastodon) -> None:
        channel = Channel(
            ref="channels.announce", url=mastodon_url(fake_mastodon), visibility=Visibility.public
        )
        async with ApprisePlugins(max_workers=1) as sender:
            result = await sender.send(channel, NOTICE, visibility=Visibility.private)
        assert result.refused
        assert fake_mastodon.statuses == []
        assert fake_mastodon.received == []

    async def test_a_failure_names_no_token(self, fake_mastodon: FakeMastodon) -> None:
        fake_mastodon.set_status(503)
        channel = Channel(
            ref="channels.announce", url=mastodon_url(fake_mastodon), visibility=Visibility.public
        )
        async with ApprisePlugins(max_workers=1) as sender:
            result = await sender.send(channel, PUBLIC_NOTICE, visibility=Visibility.public)
        assert result == SendResult(ok=False, error="mastodon: failure (HTTP 503)")


#: more sends in flight than apprise's shared pool has workers on a 2-core host
#: (``min(32, cpu + 4)`` = 6), which capped every scheme but e-mail before
CONCURRENCY = 12


def paced_channel(fake: FakeSignal | FakeMastodon, index: int) -> Channel:
    """Contact ``index``'s channel on ``fake``; a read timeout generous enough for answers
    held back while the test counts the requests in flight."""
    port = urlsplit(fake.url).port
    if isinstance(fake, FakeSignal):
        url = f"signal://127.0.0.1:{port}/+15551234567/+1555{index:07d}?rto=60"
    else:
        url = f"mastodon://s3cr3t-token@127.0.0.1:{port}/@contact{index}?visibility=direct&rto=60"
    return Channel(ref=f"contacts[{index}].channels[0]", url=url)


async def until(condition: Callable[[], bool], *, cap_s: float = 60.0) -> bool:
    """Wait for ``condition`` (checked every 10 ms) for at most ``cap_s``; say if it came."""
    waited = 0.0
    while not condition():
        if waited >= cap_s:
            return False
        await asyncio.sleep(0.01)
        waited += 0.01
    return True


class TestConcurrency:
    """Every scheme keeps ``[notify] concurrency`` sends in flight, and no more: apprise's
    blocking calls run in the sender's own threads, never in apprise's shared pool."""

    @pytest.mark.parametrize("api", [FakeSignal, FakeMastodon])
    async def test_the_sends_in_flight_reach_the_concurrency_and_no_more(
        self, api: type[FakeSignal | FakeMastodon]
    ) -> None:
        with api() as fake:
            fake.hold()
            outbox, channels = MemoryOutbox(), {}
            count = 3 * CONCURRENCY
            for index in range(count):
                channel = paced_channel(fake, index)
                channels[channel.ref] = channel
                outbox.enqueue(
                    key=f"i:{index}",
                    incident_key="i",
                    event=IncidentEvent.confirmed,
                    contact_ref=f"contacts[{index}]",
                    channel_refs=(channel.ref,),
                    visibility=Visibility.private,
                    notice=NOTICE,
                    now=datetime.now(UTC),
                )
            async with ApprisePlugins(max_workers=CONCURRENCY) as sender:
                dispatcher = Dispatcher(
                    outbox,
                    sender,
                    RateLimits(),
                    channels=channels,
                    concurrency=CONCURRENCY,
                    max_attempts=1,
                    jitter=random.random,
                    clock=lambda: datetime.now(UTC),
                )
                delivering = asyncio.create_task(dispatcher.dispatch_due())
                reached = await until(lambda: fake.in_flight >= CONCURRENCY)
                fake.release()
                summary = await delivering
            assert reached, f"only {fake.max_in_flight} requests in flight at the {api.__name__}"
            assert fake.max_in_flight == CONCURRENCY
            assert summary.sent == count
            assert fake.in_flight == 0


class TestTimeout:
    """A send that outlasts ``timeout_s`` is a temporary failure; its thread ends later."""

    async def test_an_answer_held_past_the_timeout(self, fake_signal: FakeSignal) -> None:
        fake_signal.hold()
        async with ApprisePlugins(max_workers=1, timeout_s=0.2) as sender:
            result = await sender.send(signal_channel(fake_signal), NOTICE, visibility=Visibility.private)
            fake_signal.release()  # the abandoned request ends before the sender closes
        assert result == SendResult(ok=False, error="signal: timeout")
        assert not result.final


class TestTelegram:
    """apprise's Telegram plugin, pointed at a local fake Bot API."""

    async def test_delivered(self, http_target: HttpTarget, monkeypatch: pytest.MonkeyPatch) -> None:
        token = "123456789:AAHfakeTokenForTests_abcdefghijklmnop"
        http_target.route(f"/bot{token}/sendMessage", body='{"ok": true, "result": {"message_id": 1}}')
        monkeypatch.setattr(apprise.plugins.telegram.NotifyTelegram, "notify_url", f"{http_target.url}/bot")
        channel = Channel(ref="contacts[0].channels[0]", url=f"tgram://{token}/987654321")
        async with ApprisePlugins(max_workers=1) as sender:
            result = await sender.send(channel, NOTICE, visibility=Visibility.private)
        assert result == SendResult(ok=True)
        (request,) = http_target.requests
        assert request.path == f"/bot{token}/sendMessage"
        assert b"987654321" in request.body
        assert "Joignez-nous" in request.body.decode()

    async def test_a_failure_names_no_token(
        self, http_target: HttpTarget, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        token = "123456789:AAHfakeTokenForTests_abcdefghijklmnop"
        http_target.set("status", status=500, body='{"ok": false}')
        monkeypatch.setattr(apprise.plugins.telegram.NotifyTelegram, "notify_url", f"{http_target.url}/bot")
        channel = Channel(ref="contacts[0].channels[0]", url=f"tgram://{token}/987654321")
        async with ApprisePlugins(max_workers=1) as sender:
            result = await sender.send(channel, NOTICE, visibility=Visibility.private)
        assert not result.ok
        assert result.error.startswith("tgram: failure")
        assert token not in result.error
        assert "987654321" not in result.error


def _broker_listening() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 1883), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def mqtt_messages() -> Iterator[tuple[str, queue.Queue[bytes]]]:
    """A paho subscriber on a fresh topic of the local Mosquitto."""
    if not _broker_listening():
        if os.environ.get("CI") == "true":
            pytest.fail("Mosquitto is not listening on 127.0.0.1:1883")
        pytest.skip("Mosquitto is not listening on 127.0.0.1:1883")
    import paho.mqtt.client as mqtt

    topic = f"failover/test/{uuid.uuid4().hex}"
    received: queue.Queue[bytes] = queue.Queue()
    subscribed: queue.Queue[str] = queue.Queue()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_message = lambda _client, _userdata, message: received.put(message.payload)
    client.on_subscribe = lambda *_: subscribed.put("subscribed")
    client.on_connect = lambda cl, *_: cl.subscribe(topic, qos=1)
    client.connect("127.0.0.1", 1883)
    client.loop_start()
    try:
        subscribed.get(timeout=5)
        yield topic, received
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.mark.mqtt
class TestMqtt:
    """apprise's ``mqtt://`` through the machine's Mosquitto."""

    async def test_delivered(self, mqtt_messages: tuple[str, queue.Queue[bytes]]) -> None:
        topic, received = mqtt_messages
        channel = Channel(ref="channels.mqtt", url=f"mqtt://127.0.0.1:1883/{topic}")
        async with ApprisePlugins(max_workers=1) as sender:
            result = await sender.send(channel, NOTICE, visibility=Visibility.private)
        assert result == SendResult(ok=True)
        assert "Joignez-nous par e-mail." in received.get(timeout=5).decode()
