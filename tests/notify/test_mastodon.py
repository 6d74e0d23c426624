"""Mastodon statuses posted by failover itself, over HTTP on 127.0.0.1 to a fake Mastodon
API: the same JSON and headers apprise's plugin posts, the status's id kept, failures told
apart as apprise's were, and the status deleted by that id."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import apprise
import pytest

from failover.domain import Channel, Visibility
from failover.notify import ApprisePlugins, RenderedNotice, SendResult, delete_post, deletion_problem
from tests.kit import FakeMastodon

NOTICE = RenderedNotice(
    subject="  Our WhatsApp line is down ",
    body="Reach us by e-mail: contact@example.org\n\nOr call.\n\n",
    language="en",
)


def url_of(fake: FakeMastodon, rest: str = "") -> str:
    return f"mastodon://s3cr3t-token@127.0.0.1:{urlsplit(fake.url).port}/{rest}"


def send(channel: Channel, notice: RenderedNotice = NOTICE) -> SendResult:
    async def sending() -> SendResult:
        async with ApprisePlugins(max_workers=1) as sender:
            return await sender.send(channel, notice, visibility=channel.visibility)

    return asyncio.run(sending())


class TestAsAppriseDid:
    """What failover posts is what apprise 2.x posted for the same URL and text."""

    @pytest.mark.parametrize(
        ("rest", "visibility"),
        [
            ("?visibility=public", Visibility.public),
            ("?visibility=unlisted", Visibility.public),
            ("?visibility=public&spoiler=outage&language=fr&sensitive=yes&key=k-1", Visibility.public),
            ("%23outage?visibility=public", Visibility.public),
            ("?visibility=public&ping=%23status", Visibility.public),
            ("@bob?visibility=direct", Visibility.private),
        ],
    )
    def test_the_same_json_and_headers(
        self, fake_mastodon: FakeMastodon, rest: str, visibility: Visibility
    ) -> None:
        url = url_of(fake_mastodon, rest)
        ref = "channels.news" if visibility is Visibility.public else "contacts[bob].channels[0]"
        assert send(Channel(ref=ref, url=url, visibility=visibility)).ok
        theirs = apprise.Apprise(asset=apprise.AppriseAsset(app_id="failover", app_desc="failover"))
        assert theirs.add(url)
        assert theirs.notify(body=NOTICE.body, title=NOTICE.subject, body_format="text")
        ours, apprises = fake_mastodon.statuses
        assert ours == apprises
        sent = [r for r in fake_mastodon.received if r.method == "POST"]
        for header in ("authorization", "content-type", "user-agent"):
            assert sent[0].headers[header] == sent[1].headers[header]

    def test_a_public_channel_posts_publicly_whatever_the_accounts_default(
        self, fake_mastodon: FakeMastodon
    ) -> None:
        assert send(Channel(ref="channels.news", url=url_of(fake_mastodon), visibility=Visibility.public)).ok
        [status] = fake_mastodon.statuses
        assert status["visibility"] == "public"
        assert (
            status["status"]
            == "Our WhatsApp line is down\r\nReach us by e-mail: contact@example.org\n\nOr call."
        )

    def test_mentions_stay_inert(self, fake_mastodon: FakeMastodon) -> None:
        notice = RenderedNotice(subject="Ask @carol", body="or @alice@example.social\n", language="en")
        channel = Channel(
            ref="contacts[bob].channels[0]", url=url_of(fake_mastodon, "@bob?visibility=direct")
        )
        assert send(channel, notice).ok
        [status] = fake_mastodon.statuses
        assert status["status"] == "@bob Ask @\u2060carol\r\nor @\u2060alice@example.social"


class TestStatusId:
    """The answer's id comes back with the result, to be kept on the notice."""

    def test_the_id_is_kept(self, fake_mastodon: FakeMastodon) -> None:
        result = send(Channel(ref="channels.news", url=url_of(fake_mastodon), visibility=Visibility.public))
        assert result.ok
        assert result.public_ref is not None
        assert list(fake_mastodon.posted) == [result.public_ref]

    @pytest.mark.parametrize(
        ("code", "permanent"),
        [(503, False), (500, False), (429, False), (408, False), (422, True), (401, True), (404, True)],
    )
    def test_failures_are_told_apart_as_apprises_were(
        self, fake_mastodon: FakeMastodon, code: int, permanent: bool
    ) -> None:
        """An HTTP 4xx is final but 408, 425 and 429; a 5xx is temporary."""
        fake_mastodon.set_status(code)
        result = send(Channel(ref="channels.news", url=url_of(fake_mastodon), visibility=Visibility.public))
        assert result == SendResult(ok=False, error=f"mastodon: failure (HTTP {code})", permanent=permanent)
        assert "s3cr3t" not in result.error

    def test_no_answer_is_a_temporary_failure(self, closed_port: int) -> None:
        url = f"mastodon://s3cr3t-token@127.0.0.1:{closed_port}/?visibility=public"
        result = send(Channel(ref="channels.news", url=url, visibility=Visibility.public))
        assert result == SendResult(ok=False, error="mastodon: failure")


class TestDeletion:
    """A status is deleted by its id, with the channel's token; what cannot be is said."""

    def test_a_status_is_deleted(self) -> None:
        with FakeMastodon(token="s3cr3t-token") as fake:
            channel = Channel(ref="channels.news", url=url_of(fake), visibility=Visibility.public)
            posted = send(channel)
            assert posted.public_ref is not None
            assert delete_post(channel, posted.public_ref).deleted
            assert fake.deleted == [posted.public_ref]
            assert fake.posted == {}
            [deletion] = [r for r in fake.received if r.method == "DELETE"]
            assert deletion.path == f"/api/v1/statuses/{posted.public_ref}"
            assert deletion.headers["authorization"] == "Bearer s3cr3t-token"

    @pytest.mark.parametrize("code", [500, 404])
    def test_a_failed_deletion_says_why_without_the_token(
        self, fake_mastodon: FakeMastodon, code: int
    ) -> None:
        channel = Channel(ref="channels.news", url=url_of(fake_mastodon), visibility=Visibility.public)
        posted = send(channel)
        assert posted.public_ref is not None
        if code == 404:
            fake_mastodon.posted.clear()  # deleted by hand meanwhile
        else:
            fake_mastodon.fail_deletions(code)
        outcome = delete_post(channel, posted.public_ref)
        assert (outcome.deleted, outcome.reason) == (False, f"mastodon: HTTP {code}")

    def test_what_cannot_be_deleted(self) -> None:
        telegram = Channel(
            ref="channels.news", url="tgram://123456:abc/-100123", visibility=Visibility.public
        )
        assert deletion_problem(telegram, "1") == "tgram: failover cannot delete its posts"
        assert not delete_post(telegram, "1").deleted
        mastodon = Channel(ref="channels.news", url="mastodon://t@127.0.0.1:9/", visibility=Visibility.public)
        assert deletion_problem(mastodon, None) == "mastodon: the status's id was not kept"
        assert deletion_problem(mastodon, "110") is None

    def test_an_id_that_is_no_id_is_not_put_in_a_path(self, fake_mastodon: FakeMastodon) -> None:
        channel = Channel(ref="channels.news", url=url_of(fake_mastodon), visibility=Visibility.public)
        assert not delete_post(channel, "../accounts/1").deleted
        assert fake_mastodon.received == []
