"""The ``failover`` program, also run as ``python -m failover``.

``failover run`` is a process that lives for months, so its resident memory is a budget
(BENCHMARKS.md, "Memory"). Two of its libraries import rich when it is installed: structlog
for coloured tracebacks, which failover's logs never use (exceptions are formatted and
redacted before rendering), and httpx for its own command-line client. Rich brings pygments
and attrs along: about 5 MiB the daemon would carry for nothing. So the daemon starts with
them hidden: Python's import system answers a module whose ``sys.modules`` entry is
``None`` with ``ModuleNotFoundError``, and both libraries carry on without it. Every other
command draws its tables and progress bars with rich, which failover imports only where
something is drawn.
"""

from __future__ import annotations

import sys
from collections.abc import MutableMapping, Sequence
from types import ModuleType

__all__ = ["DAEMON_HIDDEN_MODULES", "is_daemon", "main", "without_terminal_libraries"]

#: what the daemon never imports: terminal drawing, and what only terminal drawing needs;
#: and trio, which httpcore imports whenever it is installed (a browser-test library brings
#: it, with attrs) although the daemon runs on asyncio
DAEMON_HIDDEN_MODULES = ("rich", "pygments", "trio")


#: the root command's options that take a value in the next word (``--config=X`` is one word)
_ROOT_OPTIONS_WITH_VALUE = frozenset({"-c", "--config"})


def is_daemon(arguments: Sequence[str]) -> bool:
    """Whether the command line (without the program name) runs the daemon: the command
    is the first word that is neither an option nor the value of the root's ``--config``."""
    words = iter(arguments)
    for word in words:
        if word in _ROOT_OPTIONS_WITH_VALUE:
            next(words, None)
        elif not word.startswith("-"):
            return word == "run"
    return False


def without_terminal_libraries(modules: MutableMapping[str, ModuleType | None]) -> None:
    """Make an import of any of :data:`DAEMON_HIDDEN_MODULES` fail from now on, unless it is
    already imported."""
    for name in DAEMON_HIDDEN_MODULES:
        modules.setdefault(name, None)


def main() -> None:
    if is_daemon(sys.argv[1:]):
        # typeshed declares the values as modules; None is the documented way to block one
        without_terminal_libraries(sys.modules)  # type: ignore[arg-type]
    from failover.cli import main as cli

    cli()


if __name__ == "__main__":
    main()
