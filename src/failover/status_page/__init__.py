"""status_page: the public status site, rendered from the journal and the current state.

Pure: a :class:`Snapshot` (each platform's judged health, the incidents and transitions
of the history window, the days the platforms were watched) and the configuration in,
a :class:`Site` (files, every link relative) out. The public texts of incidents are the
notifier's, handed in through a :class:`Wording`; the composition root serves the site and
writes it to a directory.

=========================  =================================================================
file                       what it is
=========================  =================================================================
``index.html``             the page in the first of ``[status_page] languages``
``index.<lang>.html``      the page in each language (no JavaScript, one file, its style
                           inline and allowed by its Content-Security-Policy)
``feed.atom``,             the Atom feed: one entry per incident start and end, public text
``feed.<lang>.atom``       only, the newest :data:`FEED_ENTRIES`
``status.json``            the state and the history, described by ``status.schema.json``
``badges/<name>.svg``      a badge per platform (``badges/<name>.<lang>.svg`` per language)
``favicon.svg``            the page's icon, coloured by the overall state
=========================  =================================================================

Nothing of a contact, a channel, an operator, a token, an incident's evidence or cause is
ever read here: the page cannot show what it is never given.
"""

from failover.status_page._history import Day, daily_history, days_observed, shown_incidents, window_days
from failover.status_page._model import PlatformNow, PublicText, Site, SiteFile, Snapshot, Wording
from failover.status_page._render import (
    FEED_ENTRIES,
    HISTORY_ROWS,
    MEDIA_TYPES,
    SCHEMA_PATH,
    build_site,
    feed_path,
    page_path,
    status_schema,
    use_bytecode_cache,
)
from failover.status_page._words import LANGUAGES

__all__ = [
    "FEED_ENTRIES",
    "HISTORY_ROWS",
    "LANGUAGES",
    "MEDIA_TYPES",
    "SCHEMA_PATH",
    "Day",
    "PlatformNow",
    "PublicText",
    "Site",
    "SiteFile",
    "Snapshot",
    "Wording",
    "build_site",
    "daily_history",
    "days_observed",
    "feed_path",
    "page_path",
    "shown_incidents",
    "status_schema",
    "use_bytecode_cache",
    "window_days",
]
