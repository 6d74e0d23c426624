"""failover: watch the platforms people talk through, and when one goes dark, tell the
people who matter how to reach each other through channels that still work."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("failover")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
