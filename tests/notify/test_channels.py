"""Channel facts: scheme, redaction, dependencies, eligibility and refusals."""

from __future__ import annotations

import pytest

from failover.domain import Channel, Visibility
from failover.notify import (
    ChannelRefusedError,
    channel_platforms,
    channel_scheme,
    check_channel,
    eligible_channels,
    ensure_may_carry,
    redact_channel,
)

SECRET_URLS = [
    "mailtos://alice:s3cr3t-pw@mail.example.org?to=bob@example.org",
    "signal://127.0.0.1:8080/+15551234567/+15557654321",
    "tgram://123456789:AAHsecrettoken/987654321",
    "mastodon://tok3n-s3cr3t@127.0.0.1:9999/@bob?visibility=direct",
    "mqtt://user:pw@127.0.0.1:1883/failover/alerts",
]


class TestRedaction:
    """A redacted channel keeps its scheme and nothing else."""

    @pytest.mark.parametrize("url", SECRET_URLS)
    def test_nothing_but_the_scheme_survives(self, url: str) -> None:
        redacted = redact_channel(url)
        assert redacted == f"{channel_scheme(url)}://***"
        for secret in ("s3cr3t", "bob", "5551234567", "AAHsecrettoken", "127.0.0.1", "user", "alerts"):
            assert secret not in redacted

    def test_a_url_without_scheme(self) -> None:
        assert redact_channel("bob@example.org") == "***"
        assert channel_scheme("bob@example.org") == ""
        assert channel_scheme("MailTos://x") == "mailtos"


class TestChecks:
    """One message per recipient, and no private notice in public."""

    @pytest.mark.parametrize(
        "url",
        [
            "mailto://127.0.0.1:25?from=a@example.org&to=b@example.org,c@example.org",
            "mailto://127.0.0.1:25/b@example.org/c@example.org?from=a@example.org",
            "mailto://127.0.0.1:25?from=a@example.org&to=b@example.org&cc=c@example.org",
            "mailto://127.0.0.1:25?from=a@example.org&to=b@example.org&bcc=c@example.org",
            "mailto://127.0.0.1:25?from=a@example.org",
        ],
    )
    def test_a_mail_channel_names_exactly_one_recipient(self, url: str) -> None:
        with pytest.raises(ChannelRefusedError, match=r"^contacts\[1\]\.channels\[0\]: ") as caught:
            check_channel(Channel(ref="contacts[1].channels[0]", url=url))
        assert "example.org" not in str(caught.value)

    def test_a_mail_channel_with_one_recipient_passes(self) -> None:
        check_channel(Channel(ref="c", url="mailto://127.0.0.1:25?from=a@example.org&to=b@example.org"))

    def test_a_private_mastodon_channel_must_send_direct_messages(self) -> None:
        check_channel(Channel(ref="m", url="mastodon://t@127.0.0.1:1/@bob?visibility=direct"))
        for url in (
            "mastodon://t@127.0.0.1:1",
            "toot://t@127.0.0.1:1",
            "mastodon://t@127.0.0.1:1?visibility=unlisted",
            "mastodon://t@127.0.0.1:1?visibility=private",  # Mastodon's "private": every follower
        ):
            with pytest.raises(ChannelRefusedError, match=r"public audience .*visibility=direct"):
                check_channel(Channel(ref="m", url=url))

    def test_a_public_mastodon_channel_posts_to_an_audience(self) -> None:
        """Public, unlisted or followers-only: a public text for many readers; never a
        public post that names someone."""
        for visibility in ("", "?visibility=public", "?visibility=unlisted", "?visibility=private"):
            check_channel(
                Channel(ref="m", url=f"mastodon://t@127.0.0.1:1{visibility}", visibility=Visibility.public)
            )
        with pytest.raises(ChannelRefusedError, match="may not mention anyone"):
            check_channel(Channel(ref="m", url="toot://t@127.0.0.1:1/@bob", visibility=Visibility.public))

    @pytest.mark.parametrize(
        "url",
        [
            "signal://127.0.0.1:8080/+15551234567/+15557654321/+15550000000",
            "mastodon://t@127.0.0.1:1/@bob/@carol?visibility=direct",
            "tgram://123456789:AAHsecrettoken/987654321/123456789",
            "x://ckey/csecret/akey/asecret/@alice/@bob",
        ],
    )
    def test_several_recipients_are_refused_whatever_the_scheme(self, url: str) -> None:
        with pytest.raises(ChannelRefusedError, match=r"^c: reaches 2 recipients"):
            check_channel(Channel(ref="c", url=url))

    def test_a_scheme_whose_reach_is_unknown_is_refused(self) -> None:
        with pytest.raises(ChannelRefusedError, match="cannot tell whom a 'pover://' URL reaches"):
            check_channel(Channel(ref="c", url="pover://user@token"))

    def test_a_private_notice_may_not_go_to_a_public_channel(self) -> None:
        public = Channel(ref="channels.announce", url="toot://t@127.0.0.1:1", visibility=Visibility.public)
        with pytest.raises(ChannelRefusedError, match="private notice"):
            ensure_may_carry(public, Visibility.private)
        ensure_may_carry(public, Visibility.public)

    def test_not_a_url(self) -> None:
        with pytest.raises(ChannelRefusedError, match="scheme"):
            check_channel(Channel(ref="c", url="nothing"))


class TestEligibility:
    """Channels through a platform that is down are skipped; order is kept."""

    email = Channel(ref="c.email", url="mailto://127.0.0.1:25?from=a@example.org&to=b@example.org")
    signal = Channel(
        ref="c.signal", url="signal://127.0.0.1:8080/+15551234567/+15557654321", depends_on=("signal",)
    )
    whatsapp_bridge = Channel(ref="c.bridge", url="json://127.0.0.1:9/", depends_on=("whatsapp",))
    announce = Channel(ref="c.announce", url="toot://t@127.0.0.1:1", visibility=Visibility.public)

    def test_dependencies_are_the_channels_own(self) -> None:
        """What a channel depends on is its depends_on, which the configuration filled in
        (tests/config/test_config.py): nothing is added from the scheme here, so an explicit
        depends_on = [] stays empty."""
        assert channel_platforms(self.whatsapp_bridge) == {"whatsapp"}
        assert channel_platforms(self.signal) == {"signal"}
        assert channel_platforms(self.email) == frozenset()
        bare_signal = Channel(ref="c.signal", url=self.signal.url)
        assert channel_platforms(bare_signal) == frozenset()

    def test_a_channel_through_a_down_platform_is_skipped(self) -> None:
        channels = [self.whatsapp_bridge, self.signal, self.email]
        assert eligible_channels(
            channels, down_platforms={"whatsapp"}, visibility_needed=Visibility.private
        ) == [
            self.signal,
            self.email,
        ]
        assert eligible_channels(
            channels, down_platforms={"whatsapp", "signal"}, visibility_needed=Visibility.private
        ) == [self.email]

    def test_public_channels_only_carry_public_notices(self) -> None:
        channels = [self.announce, self.email]
        assert eligible_channels(channels, down_platforms=(), visibility_needed=Visibility.private) == [
            self.email
        ]
        assert eligible_channels(channels, down_platforms=(), visibility_needed=Visibility.public) == channels
