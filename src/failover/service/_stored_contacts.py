"""Where a configuration finds its imported address book: the configured database, opened
on first need and kept for the process (a few at a time: tests open many).

The daemon gives its configuration its own store instead
(:meth:`~failover.config.Config.with_address_book`); a command that reads contacts finds
them here. A database that does not exist yet, or predates the address book, holds no
imported contact: nothing is created to find that out.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from failover.config import Config, ContactSource, register_address_book
from failover.store import Store

__all__ = ["close_address_books", "find_address_book"]

#: databases kept open at once
_KEPT = 4
_lock = threading.Lock()
_open: OrderedDict[str, Store] = OrderedDict()


def find_address_book(config: Config) -> ContactSource | None:
    """The address book in ``config``'s database, or None when it has none yet."""
    url = config.daemon.database_url
    with _lock:
        store = _open.get(url)
        if store is not None:
            _open.move_to_end(url)
            return store
    store = Store.open_existing(url, table="contacts")
    if store is None:
        return None
    with _lock:
        if url in _open:  # another thread opened it meanwhile
            store.close()
            return _open[url]
        _open[url] = store
        while len(_open) > _KEPT:
            _, oldest = _open.popitem(last=False)
            oldest.close()  # a closed store still answers: its engine reconnects
    return store


def close_address_books() -> None:
    """Close the databases opened here (the process is done with them)."""
    with _lock:
        while _open:
            _open.popitem()[1].close()


register_address_book(find_address_book)
