"""Channels: the apprise URL of a contact's channel (as written, or an ``email`` or
``signal`` entry built on a ``[notify]`` base), whom it reaches (public or private, from
``failover.reach`` and what the file declares), and the platforms it depends on."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from urllib.parse import quote, urlsplit

from failover.config._problems import _Problems
from failover.config._shape import _ContactChannelModel, _NotifyModel, _SharedChannelModel
from failover.config._values import _SCHEME, _mail_address
from failover.domain import CHANNEL_PLATFORMS, Channel, HttpCheck, Platform, TcpCheck, TlsCheck, Visibility
from failover.reach import Audience, channel_reach

_MASTODON_SCHEMES = frozenset({"mastodon", "mastodons", "toot", "toots"})


def _front_door_hosts(platform: Platform) -> set[str]:
    hosts = set()
    for check in platform.checks:
        if isinstance(check, TcpCheck | TlsCheck):
            hosts.add(check.host.lower())
        elif isinstance(check, HttpCheck) and (host := urlsplit(check.url).hostname):
            hosts.add(host.lower())
    return hosts


def infer_depends_on(url: str, platforms: Iterable[Platform]) -> tuple[str, ...]:
    """The platforms a channel stops working without, implied by its URL scheme.

    ``whatsapp://`` → whatsapp, ``tgram://`` → telegram, ``mastodons://…@mastodon.social``
    → the platform whose front door is that instance, ``mailto://`` → none. Only names
    among ``platforms`` are returned.
    """
    match = _SCHEME.match(url)
    if not match:
        return ()
    scheme = match[1].lower()
    known = {p.name: p for p in platforms}
    if scheme in _MASTODON_SCHEMES:
        try:
            host = urlsplit(url).hostname
        except ValueError:
            return ()
        if not host:
            return ()
        return tuple(name for name, p in known.items() if host.lower() in _front_door_hosts(p))
    name = CHANNEL_PLATFORMS.get(scheme)
    return (name,) if name in known else ()


def _with_query(url: str, name: str, value: str) -> str:
    base, hash_mark, fragment = url.partition("#")
    joiner = "&" if "?" in base else "?"
    # '+' quoted: a query's '+' is a space to most URL parsers (alice+news@ would be lost)
    return f"{base}{joiner}{name}={quote(value, safe='@')}{hash_mark}{fragment}"


def _with_path_segment(url: str, segment: str) -> str:
    base, question, query = url.partition("?")
    return f"{base.rstrip('/')}/{quote(segment, safe='+')}{question}{query}"


def _contact_channel_url(
    model: _ContactChannelModel, *, key: str, notify: _NotifyModel, problems: _Problems
) -> str:
    """The apprise URL of a contact's channel: as written, or built on the ``[notify]``
    base URL for an ``email`` or ``signal`` entry."""
    if model.email is not None:
        if notify.smtp_url is None:
            problems.add(f"{key}.email", "needs [notify] smtp_url, the mail server to send through")
            return "mailto://unset"
        return _with_query(notify.smtp_url, "to", _mail_address(model.email))
    if model.signal is not None:
        if notify.signal_url is None:
            problems.add(f"{key}.signal", "needs [notify] signal_url, the Signal API to send through")
            return "signal://unset"
        return _with_path_segment(notify.signal_url, model.signal)
    assert model.url is not None  # the model's validator asks for exactly one
    return model.url


def _channel_visibility(
    model: _ContactChannelModel | _SharedChannelModel, url: str, *, key: str, problems: _Problems
) -> Visibility:
    """What a channel's URL does (``failover.reach``), or what its configuration declares
    where the URL cannot tell (a webhook, a topic: public unless declared private). A URL
    reaching several recipients, a public audience declared private and a contact's channel
    that is not that contact's alone are problems."""
    shared = isinstance(model, _SharedChannelModel)
    declared = None if model.visibility is None else Visibility(model.visibility)
    if not shared and model.url is None:
        return Visibility.private  # `email` or `signal`: one address or number on a checked base
    reach = channel_reach(url)
    if reach.problem is not None:
        problems.add(f"{key}.url", reach.problem)
        return declared or Visibility.private
    if reach.audience is Audience.public:
        if not shared:
            problems.add(
                f"{key}.url",
                f"{reach.kind} is read by the public or a group: "
                "a contact's channel reaches that contact alone",
            )
        elif declared is Visibility.private:
            problems.add(f"{key}.visibility", f"{reach.kind} is read by the public or a group: it is public")
        return Visibility.public
    if not shared:
        if declared is Visibility.public:
            problems.add(f"{key}.visibility", "a contact's channel is private: it reaches that contact alone")
        elif reach.audience is Audience.unknown and declared is None:
            problems.add(
                f"{key}.url",
                f"{reach.kind} reaches whoever its receiving end hands it to: add "
                "visibility = 'private' if it reaches this contact alone",
            )
        return Visibility.private
    if declared is not None:
        return declared
    return Visibility.private if reach.audience is Audience.person else Visibility.public


def _channel_to_domain(
    model: _ContactChannelModel | _SharedChannelModel,
    *,
    ref: str,
    url: str,
    platforms: Sequence[Platform],
    problems: _Problems,
    key: str | None = None,
) -> Channel:
    """``ref`` names the channel for good (the outbox keeps it); ``key`` is where it is in
    the file, for errors (the ref when not given)."""
    key = key or ref
    language = model.language if isinstance(model, _SharedChannelModel) else None
    visibility = _channel_visibility(model, url, key=key, problems=problems)
    if model.depends_on is None:
        depends_on = infer_depends_on(url, platforms)
    else:
        names = {p.name for p in platforms}
        for index, name in enumerate(model.depends_on):
            if name not in names:
                problems.add(f"{key}.depends_on[{index}]", f"unknown platform '{name}'")
        depends_on = tuple(model.depends_on)
    return Channel(ref=ref, url=url, visibility=visibility, depends_on=depends_on, language=language)
