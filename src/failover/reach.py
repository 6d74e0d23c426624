"""What a channel URL reaches: whom its messages are read by, and how many recipients
it names, read from the URL alone the way apprise reads it.

One message per recipient is the rule (a private text greets its reader by name, and a
mail's ``To:`` shows every address), and a public audience only ever gets public texts.
Both rest on this reading, so a scheme is supported only where the reading is known:
:data:`SUPPORTED_SCHEMES`. Everything else is refused at load rather than guessed.

Pure and stdlib-only: the configuration uses it to validate channels (naming the key), and
the notifier to refuse a channel again at send time. Tests check each scheme's reading
against apprise's own ``parse_url``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote

__all__ = ["SUPPORTED_SCHEMES", "Audience", "ChannelReach", "channel_reach", "url_scheme"]


class Audience(enum.StrEnum):
    """Who reads what a channel sends, as far as its URL tells."""

    #: one person, named in the URL: an address, a number, a mention, a chat id
    person = "person"
    #: the public or a group: a tweet, a public post, a channel, a group chat
    public = "public"
    #: whoever the receiving end hands it to: a webhook, an ntfy or MQTT topic, a Gotify app
    unknown = "unknown"


@dataclass(frozen=True, kw_only=True, slots=True)
class ChannelReach:
    """What a channel URL reaches. ``kind`` names it for messages (``"a tweet"``);
    ``problem``, when set, is why the URL is refused whatever it is used for."""

    audience: Audience
    #: the recipients the URL names (people, chats, groups, topics); a webhook counts one
    recipients: int
    kind: str
    problem: str | None = None


_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_LIST = re.compile(r"[\s,;]+")
#: apprise's Slack splits ``to=`` on '#' and '/' too
_SLACK_LIST = re.compile(r"[\s,#\\/]+")
_SIGNAL_GROUP = re.compile(r"^\s*(@|%40|group\.)", re.IGNORECASE)
_MASTODON_USER = re.compile(r"^\s*@?[A-Z0-9_]+(?:@[A-Z0-9_.-]+)?$", re.IGNORECASE)
_MASTODON_VISIBILITIES = frozenset({"default", "direct", "private", "unlisted", "public"})
_TELEGRAM_PERSON = re.compile(r"^\d+$")
_SEVERAL = "reaches {n} recipients; one message per recipient: give each person their own channel"


@dataclass(frozen=True, slots=True)
class _Url:
    scheme: str
    user: str
    host: str
    #: the path's segments, unquoted, empty ones dropped
    path: tuple[str, ...]
    #: query parameters, lower-case names, each value as written (unquoted)
    query: Mapping[str, str]

    def values(self, name: str, split: re.Pattern[str] = _LIST) -> list[str]:
        return [part for part in split.split(self.query.get(name, "")) if part]


_Reader = Callable[[_Url], ChannelReach]


def url_scheme(url: str) -> str:
    """The URL's scheme, lower case, or ``""``."""
    match = _SCHEME.match(url.strip())
    return match.group(1).lower() if match else ""


def _parse(url: str) -> _Url:
    # not urllib's urlsplit: apprise URLs put ':' in hosts (tgram://123:token) and '#' in
    # paths (a Slack channel, a Mastodon hashtag), which it would read as a port and a fragment
    _, _, rest = url.strip().partition("://")
    rest, _, query_text = rest.partition("?")
    netloc, _, path = rest.partition("/")
    user, _, host = netloc.rpartition("@")
    query = {
        # '+' is a phone number's, never a space, in apprise's URLs
        name.lower(): values[-1]
        for name, values in parse_qs(query_text.replace("+", "%2B"), keep_blank_values=True).items()
    }
    segments = tuple(unquote(segment) for segment in path.split("/") if segment)
    return _Url(scheme=url_scheme(url), user=unquote(user), host=unquote(host), path=segments, query=query)


def _named(
    count: int, *, audience: Audience, kind: str, none: str | None = None, several: bool = True
) -> ChannelReach:
    problem = None
    if count == 0 and none is not None:
        problem = none
    elif count > 1 and several:
        problem = _SEVERAL.format(n=count)
    return ChannelReach(audience=audience, recipients=count, kind=kind, problem=problem)


def _mail(url: _Url) -> ChannelReach:
    recipients = [part for segment in url.path for part in _LIST.split(segment) if part] + url.values("to")
    if url.values("cc") or url.values("bcc"):
        return ChannelReach(
            audience=Audience.person,
            recipients=len(recipients) + len(url.values("cc")) + len(url.values("bcc")),
            kind="a mail",
            problem="a mail channel may not have cc or bcc recipients; one message per recipient",
        )
    return _named(
        len(recipients),
        audience=Audience.person,
        kind="a mail",
        none="names no recipient (apprise would send it to the sender): add ?to=ADDRESS",
    )


def _signal(url: _Url) -> ChannelReach:
    targets = list(url.path if url.query.get("from") else url.path[1:]) + url.values("to")
    groups = [target for target in targets if _SIGNAL_GROUP.match(target)]
    return _named(
        len(targets),
        audience=Audience.public if groups else Audience.person,
        kind="a Signal group" if groups else "a Signal message",
        none="names no recipient (apprise would send it to the sending number itself)",
    )


def _telegram(url: _Url) -> ChannelReach:
    # the bot token "123456:ABC" is the host; every path segment is a chat
    chats = list(url.path) + url.values("to")
    public = [chat for chat in chats if not _TELEGRAM_PERSON.match(chat.strip())]
    return _named(
        len(chats),
        audience=Audience.public if public else Audience.person,
        kind="a Telegram channel or group" if public else "a Telegram message",
        none="names no chat (apprise would guess one from the bot's updates): add the chat id",
    )


def _mastodon(url: _Url) -> ChannelReach:
    given = url.query.get("visibility", "").strip().lower()
    visibility = given or ("public" if url.scheme in ("toot", "toots") else "default")
    targets = list(url.path) + url.values("to") + url.values("ping")
    mentions = [t for t in targets if not t.startswith("#") and _MASTODON_USER.match(t)]
    if visibility not in _MASTODON_VISIBILITIES:
        return ChannelReach(
            audience=Audience.public,
            recipients=len(mentions),
            kind="a Mastodon post",
            problem="unknown Mastodon visibility (expected direct, public, unlisted, private or default)",
        )
    if visibility == "direct":
        return _named(
            len(mentions),
            audience=Audience.person,
            kind="a Mastodon direct message",
            none="a direct message names no one (apprise would send it to the account itself): add /@user",
        )
    problem = "a public post may not mention anyone: it would name them in public" if mentions else None
    # "default" posts with the account's own default, which we cannot see: assume the worst
    return ChannelReach(
        audience=Audience.public, recipients=len(mentions), kind="a Mastodon post", problem=problem
    )


def _twitter(url: _Url) -> ChannelReach:
    mode = url.query.get("mode", "").strip().lower() or ("tweet" if url.scheme == "tweet" else "dm")
    if mode == "tweet":
        return ChannelReach(audience=Audience.public, recipients=0, kind="a tweet")
    if mode != "dm":
        return ChannelReach(
            audience=Audience.public,
            recipients=0,
            kind="a tweet",
            problem="unknown X mode (expected dm or tweet)",
        )
    # the host and three path segments are the API keys; a user@ and what follows are targets
    targets = ([url.user] if url.user else []) + list(url.path[3:]) + url.values("to")
    return _named(
        len(targets),
        audience=Audience.person,
        kind="an X direct message",
        none="a direct message names no one (apprise would send it to the account itself): add /@user",
    )


def _slack(url: _Url) -> ChannelReach:
    mode = url.query.get("mode", "").strip().lower()
    if mode.startswith("work"):  # apprise's workflow modes post where the workflow says
        return ChannelReach(audience=Audience.public, recipients=1, kind="a Slack workflow")
    bot = url.host.startswith("xo")
    targets = list(url.path if bot else url.path[2:]) + url.values("to", _SLACK_LIST)
    if not targets:  # a webhook posts to the channel it was made for
        return ChannelReach(audience=Audience.public, recipients=1, kind="a Slack channel")
    people = all(target.startswith("@") for target in targets)
    return _named(
        len(targets),
        audience=Audience.person if people else Audience.public,
        kind="a Slack direct message" if people else "a Slack channel",
    )


def _whatsapp(url: _Url) -> ChannelReach:
    targets = list(url.path) + url.values("to")
    return _named(
        len(targets), audience=Audience.person, kind="a WhatsApp message", none="names no recipient"
    )


def _whapi(url: _Url) -> ChannelReach:
    targets = list(url.path) + url.values("to")
    public = [t for t in targets if t.lower().endswith(("@g.us", "@newsletter"))]
    return _named(
        len(targets),
        audience=Audience.public if public else Audience.person,
        kind="a WhatsApp group or channel" if public else "a WhatsApp message",
        none="names no recipient",
    )


def _ntfy(url: _Url) -> ChannelReach:
    topics = list(url.path) + url.values("to")
    # without a path, the host is the topic (on ntfy.sh, where anyone may subscribe)
    return _named(len(topics) or 1, audience=Audience.unknown, kind="an ntfy topic")


def _mqtt(url: _Url) -> ChannelReach:
    path = "/".join(url.path)
    topics = [topic for topic in _LIST.split(path) if topic] + url.values("to")
    return _named(len(topics), audience=Audience.unknown, kind="an MQTT topic", none="names no topic")


def _fixed(audience: Audience, kind: str) -> _Reader:
    """The reader of a scheme whose audience does not depend on the URL."""

    def read(_: _Url) -> ChannelReach:
        return ChannelReach(audience=audience, recipients=1, kind=kind)

    return read


_BY_SCHEMES: tuple[tuple[_Reader, tuple[str, ...]], ...] = (
    (_mail, ("mailto", "mailtos")),
    (_signal, ("signal", "signals")),
    (_telegram, ("tgram",)),
    (_mastodon, ("mastodon", "mastodons", "toot", "toots")),
    (_twitter, ("x", "twitter", "tweet")),
    (_fixed(Audience.public, "a Discord channel"), ("discord",)),
    (_slack, ("slack",)),
    (_whatsapp, ("whatsapp",)),
    (_whapi, ("whapi",)),
    (_fixed(Audience.unknown, "a webhook"), ("json", "jsons", "form", "forms", "xml", "xmls")),
    (_ntfy, ("ntfy", "ntfys")),
    (_mqtt, ("mqtt", "mqtts")),
    (_fixed(Audience.unknown, "a Gotify application"), ("gotify", "gotifys")),
)
_READERS: Mapping[str, _Reader] = {scheme: reader for reader, schemes in _BY_SCHEMES for scheme in schemes}

#: The apprise schemes whose audience and recipients we know how to read.
SUPPORTED_SCHEMES: frozenset[str] = frozenset(_READERS)
_SUPPORTED = ", ".join(sorted(SUPPORTED_SCHEMES))


def channel_reach(url: str) -> ChannelReach:
    """Whom ``url``'s messages reach. Never repeats the URL (it holds secrets and
    addresses) in ``kind`` or ``problem``."""
    scheme = url_scheme(url)
    reader = _READERS.get(scheme)
    if reader is None:
        return ChannelReach(
            audience=Audience.unknown,
            recipients=0,
            kind=f"a {scheme or 'scheme-less'} URL",
            problem=(
                f"failover cannot tell whom a '{scheme}://' URL reaches, so it does not use it "
                f"(supported: {', '.join(sorted(SUPPORTED_SCHEMES))})"
                if scheme
                else "expected an apprise URL such as 'mailtos://user:password@host?to=ADDRESS'"
            ),
        )
    return reader(_parse(url))
