"""Building an apprise plugin from a channel URL, importing only what its scheme needs.

apprise 2.2 imports every module under ``apprise/plugins`` (over 180 modules and the
libraries they pull in: requests, paho-mqtt, cryptography …) the first time a URL is
instantiated or a scheme is looked up; that costs about 22 MiB of resident memory for a
daemon that uses two or three schemes. For the schemes in :data:`PLUGIN_CLASSES`
the plugin's own module is imported and its class built the way
``apprise.Apprise.instantiate`` builds it (``parse_url``, then the constructor, with the
same checks of ``enabled``). Any other scheme goes through ``Apprise.instantiate`` itself,
so every apprise URL still works; it merely loads every plugin, once.
"""

from __future__ import annotations

import contextlib
import importlib
import warnings
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

from failover.notify._channels import channel_scheme

__all__ = ["PLUGIN_CLASSES", "build_plugin", "plugin_class"]

_EMAIL = ("email", "NotifyEmail")
_SIGNAL = ("signal_api", "NotifySignalAPI")
_MASTODON = ("mastodon", "NotifyMastodon")
_MQTT = ("mqtt", "NotifyMQTT")
_JSON = ("custom_json", "NotifyJSON")
_NTFY = ("ntfy", "NotifyNtfy")
_GOTIFY = ("gotify", "NotifyGotify")
_MATRIX = ("matrix", "NotifyMatrix")
_TWITTER = ("twitter", "NotifyTwitter")

#: scheme → (module under ``apprise.plugins``, plugin class): the schemes whose channels
#: we infer a platform for, and the common self-hosted ones. A test checks every entry
#: against apprise's own schema map, so an apprise upgrade cannot make it lie silently.
PLUGIN_CLASSES: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "mailto": _EMAIL,
        "mailtos": _EMAIL,
        "signal": _SIGNAL,
        "signals": _SIGNAL,
        "tgram": ("telegram", "NotifyTelegram"),
        "mastodon": _MASTODON,
        "mastodons": _MASTODON,
        "toot": _MASTODON,
        "toots": _MASTODON,
        "discord": ("discord", "NotifyDiscord"),
        "slack": ("slack", "NotifySlack"),
        "whatsapp": ("whatsapp", "NotifyWhatsApp"),
        "whapi": ("whapi", "NotifyWhapi"),
        "x": _TWITTER,
        "twitter": _TWITTER,
        "tweet": _TWITTER,
        "mqtt": _MQTT,
        "mqtts": _MQTT,
        "json": _JSON,
        "jsons": _JSON,
        "ntfy": _NTFY,
        "ntfys": _NTFY,
        "gotify": _GOTIFY,
        "gotifys": _GOTIFY,
        "matrix": _MATRIX,
        "matrixs": _MATRIX,
    }
)


@contextlib.contextmanager
def _quiet_imports() -> Iterator[None]:
    """apprise's e-mail module imports the standard ``imghdr`` module, deprecated since
    Python 3.11 (PEP 594), which warns once per process. That warning is apprise's and
    harmless, so it alone is silenced while plugin modules are imported."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="'imghdr' is deprecated", category=DeprecationWarning)
        yield


def plugin_class(scheme: str) -> Any:
    """The apprise plugin class serving ``scheme``, importing its module alone; ``None``
    for a scheme outside :data:`PLUGIN_CLASSES`."""
    located = PLUGIN_CLASSES.get(scheme)
    if located is None:
        return None
    module_name, class_name = located
    with _quiet_imports():
        module = importlib.import_module(f"apprise.plugins.{module_name}")
    return getattr(module, class_name)


def build_plugin(url: str, *, asset: Any) -> Any:
    """An apprise plugin instance for ``url``, or ``None`` when apprise cannot use it (the
    URL does not parse, the plugin lacks a library, its constructor refuses the values).

    Mirrors ``apprise.Apprise.instantiate(url, asset=asset)``, which it calls for a
    scheme outside :data:`PLUGIN_CLASSES`; like it, lets a ``parse_url`` error through.
    """
    plugin_type = plugin_class(channel_scheme(url))
    if plugin_type is None:
        import apprise

        with _quiet_imports():
            return apprise.Apprise.instantiate(url, asset=asset)
    if not plugin_type.enabled:
        return None
    # apprise's url_to_dict escapes a '#' that starts a path segment (a channel name)
    arguments = plugin_type.parse_url(url.replace("/#", "/%23"))
    if not arguments:
        return None
    arguments["tag"] = set()
    arguments["asset"] = asset
    try:
        plugin = plugin_type(**arguments)
    except Exception:  # noqa: BLE001 - apprise's instantiate also turns these into None
        return None
    return plugin if plugin.enabled else None
