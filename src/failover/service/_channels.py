"""Every channel a notice may name, by its reference: the shared channels and the
contacts' channels of the configuration (:func:`written_channels`), and those of the
address book, looked up as a fan-out reaches their contacts (:class:`ChannelDirectory`).
A notice never holds a channel's URL: it is looked up here when the notice is delivered.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping

from failover.config import Config
from failover.domain import Channel, Contact

__all__ = ["ChannelDirectory", "notice_channels", "written_channels"]

#: a contact's channel's ref: ``contacts[<id>].channels[<index>]``
_CONTACT_CHANNEL = re.compile(r"contacts\[(?P<id>.+)\]\.channels\[(?P<index>\d+)\]")


def _contact_id(ref: str) -> str | None:
    """The id of the contact whose channel ``ref`` names (None: not a contact's channel)."""
    match = _CONTACT_CHANNEL.fullmatch(ref)
    return match["id"] if match is not None else None


class ChannelDirectory(Mapping[str, Channel]):
    """Every channel a notice may name, by its reference: the shared channels, and the
    contacts' channels looked up as they are asked for (the address book may hold 100,000
    contacts; only those a fan-out is reaching are kept, for ``keep_s`` seconds, so that an
    import reaches a running daemon within that time)."""

    #: contacts kept at once, and for how long
    KEPT = 4096
    KEEP_S = 30.0

    def __init__(self, config: Config, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._config = config
        self._shared = {channel.ref: channel for channel in config.channels.values()}
        self._clock = clock
        self._lock = threading.Lock()
        self._kept: OrderedDict[str, tuple[float, Contact | None]] = OrderedDict()

    def remember(self, contacts: Iterable[Contact]) -> None:
        """Keep these contacts (just read) for the lookups of their channels to come."""
        now = self._clock()
        with self._lock:
            for contact in contacts:
                self._kept[contact.id] = (now, contact)
                self._kept.move_to_end(contact.id)
            while len(self._kept) > self.KEPT:
                self._kept.popitem(last=False)

    def _contact(self, contact_id: str) -> Contact | None:
        now = self._clock()
        with self._lock:
            kept = self._kept.get(contact_id)
            if kept is not None and now - kept[0] < self.KEEP_S:
                self._kept.move_to_end(contact_id)
                return kept[1]
        contact = self._config.contact(contact_id)
        with self._lock:
            self._kept[contact_id] = (now, contact)
            self._kept.move_to_end(contact_id)
            while len(self._kept) > self.KEPT:
                self._kept.popitem(last=False)
        return contact

    def __getitem__(self, ref: str) -> Channel:
        shared = self._shared.get(ref)
        if shared is not None:
            return shared
        contact_id = _contact_id(ref)
        contact = self._contact(contact_id) if contact_id is not None else None
        if contact is not None:
            for channel in contact.channels:
                if channel.ref == ref:
                    return channel
        raise KeyError(ref)

    def __iter__(self) -> Iterator[str]:
        yield from self._shared
        for contact in self._config.everyone():
            for channel in contact.channels:
                yield channel.ref

    def __len__(self) -> int:
        return sum(1 for _ in self)


def notice_channels(config: Config) -> ChannelDirectory:
    """Every channel a notice may name, by its reference."""
    return ChannelDirectory(config)


def written_channels(config: Config) -> dict[str, Channel]:
    """The channels written in the configuration: shared, and its contacts' (an imported
    contact's were built on bases the configuration checked)."""
    channels = {channel.ref: channel for contact in config.contacts for channel in contact.channels}
    channels.update({channel.ref: channel for channel in config.channels.values()})
    return channels
