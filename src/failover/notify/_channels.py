"""Facts about channel URLs: their scheme, a secret-free form, what they depend on,
and whether a channel may carry a notice (what its URL reaches is read by
:mod:`failover.reach`). Pure: no I/O, no apprise."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from urllib.parse import parse_qs, urlsplit

from failover.domain import Channel, Visibility
from failover.errors import NotifyError
from failover.reach import Audience, channel_reach

__all__ = [
    "ChannelRefusedError",
    "channel_platforms",
    "channel_scheme",
    "check_channel",
    "eligible_channels",
    "ensure_may_carry",
    "ineligibility",
    "mastodon_visibility",
    "redact_channel",
]

#: apprise's own default for ``toot://`` is public; ``mastodon://`` posts with the
#: account's default visibility, which we cannot know, so we never rely on it.
_MASTODON_PUBLIC_BY_DEFAULT = frozenset({"toot", "toots"})
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")


class ChannelRefusedError(NotifyError):
    """A channel may not carry this notice (a private notice to a public channel) or
    is configured in a way we refuse to use (a mail channel with several recipients)."""


def channel_scheme(url: str) -> str:
    """The URL's scheme, lower case (``mailtos``, ``signal``, ``tgram``), or ``""``."""
    match = _SCHEME.match(url.strip())
    return match.group(1).lower() if match else ""


def redact_channel(url: str) -> str:
    """A form safe for logs and the database: the scheme and nothing else, since
    tokens, addresses and phone numbers hide in every other part of an apprise URL."""
    scheme = channel_scheme(url)
    return f"{scheme}://***" if scheme else "***"


def channel_platforms(channel: Channel) -> frozenset[str]:
    """The platforms a channel depends on: its ``depends_on``, which the configuration
    filled in (as written, else from :data:`failover.domain.CHANNEL_PLATFORMS`)."""
    return frozenset(channel.depends_on)


def _query(url: str) -> dict[str, list[str]]:
    return {key.lower(): values for key, values in parse_qs(urlsplit(url).query).items()}


def mastodon_visibility(url: str) -> str:
    """The visibility a Mastodon URL asks for: ``public``, ``direct``, … or ``default``."""
    values = _query(url).get("visibility", [])
    if values and values[-1].strip():
        return values[-1].strip().lower()
    return "public" if channel_scheme(url) in _MASTODON_PUBLIC_BY_DEFAULT else "default"


def check_channel(channel: Channel) -> None:
    """Refuse a channel that would break one-message-per-recipient or leak a private
    notice; the configuration refuses these at load (naming the key), the sender again
    before each use, so a channel built any other way is held to the same rules.

    Raises :class:`ChannelRefusedError` naming the channel by its ``ref`` only.
    """
    if not channel_scheme(channel.url):
        raise ChannelRefusedError(f"{channel.ref}: not a URL with a scheme")
    reach = channel_reach(channel.url)
    if reach.problem is not None:
        raise ChannelRefusedError(f"{channel.ref}: {reach.problem}")
    if channel.visibility is Visibility.private and reach.audience is Audience.public:
        hint = " (visibility=direct sends direct messages)" if reach.kind == "a Mastodon post" else ""
        raise ChannelRefusedError(
            f"{channel.ref}: a private channel may not be {reach.kind}, a public audience{hint}"
        )


def ensure_may_carry(channel: Channel, visibility: Visibility) -> None:
    """Refuse a private notice on a public channel: the DM fail, prevented at send time."""
    if visibility is Visibility.private and channel.visibility is Visibility.public:
        raise ChannelRefusedError(f"{channel.ref}: a private notice may not go to a public channel")


def ineligibility(
    channel: Channel, *, down_platforms: Collection[str], visibility_needed: Visibility
) -> str | None:
    """Why this channel may not be tried now, or ``None`` when it may."""
    down = sorted(channel_platforms(channel).intersection(down_platforms))
    if down:
        return f"{channel.ref} depends on {', '.join(down)} (down)"
    if visibility_needed is Visibility.private and channel.visibility is Visibility.public:
        return f"{channel.ref} is public and the notice is private"
    return None


def eligible_channels(
    channels: Iterable[Channel], *, down_platforms: Collection[str], visibility_needed: Visibility
) -> list[Channel]:
    """The channels, in order of preference, that may be tried for a notice now:
    none that depends on a platform that is down, no public one for a private notice."""
    return [
        channel
        for channel in channels
        if ineligibility(channel, down_platforms=down_platforms, visibility_needed=visibility_needed) is None
    ]
