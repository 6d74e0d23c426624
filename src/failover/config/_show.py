"""Showing (``config show``): the resolved configuration as JSON-ready data, every secret
replaced by ``***`` and every channel URL reduced to its scheme."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import fields, is_dataclass
from datetime import time, timedelta
from enum import Enum
from typing import Any

from failover.config._result import Config
from failover.config._values import _SCHEME
from failover.domain import Channel, Endpoint
from failover.durations import config_text

_REDACTED = "***"


def _channel_url_shape(url: str) -> str:
    match = _SCHEME.match(url)
    return f"{match[1]}://{_REDACTED}" if match else _REDACTED


def _jsonable(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Endpoint):
        return str(value)
    if isinstance(value, timedelta):
        return config_text(value.total_seconds())
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, Channel):
        return {
            "ref": value.ref,
            "url": _channel_url_shape(value.url),
            "visibility": value.visibility.value,
            "depends_on": list(value.depends_on),
        }
    if is_dataclass(value) and not isinstance(value, type):
        # a check's kind and role are properties; show them first
        out = {prop: _jsonable(getattr(value, prop)) for prop in ("kind", "role") if hasattr(value, prop)}
        out.update({f.name: _jsonable(getattr(value, f.name)) for f in fields(value)})
        return out
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, frozenset | set):
        items = [_jsonable(v) for v in value]
        return sorted(items, key=str)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _compress_statuses(codes: frozenset[int]) -> list[str]:
    ranges: list[str] = []
    ordered = sorted(codes)
    start = prev = ordered[0] if ordered else 0
    for code in [*ordered[1:], None]:
        if code is not None and code == prev + 1:
            prev = code
            continue
        ranges.append(str(start) if start == prev else f"{start}-{prev}")
        if code is not None:
            start = prev = code
    return ranges if ordered else []


def redacted_config(config: Config) -> dict[str, Any]:
    """The resolved configuration as JSON-ready data, every secret replaced by ``***``
    and every channel URL reduced to its scheme."""
    data: dict[str, Any] = {"source": config.source}
    for f in fields(config):
        if f.name in ("secrets", "source"):
            continue
        data[f.name] = _jsonable(getattr(config, f.name))
    if config.daemon.api_token is not None:
        data["daemon"]["api_token"] = _REDACTED
    data["daemon"]["api_tokens"] = dict.fromkeys(config.daemon.api_tokens, _REDACTED)
    for section in ("platforms", "controls"):
        for target in data[section]:
            for check in target["checks"]:
                if "accept_status" in check:
                    check["accept_status"] = _compress_statuses(frozenset(check["accept_status"]))
    secrets = sorted(config.secrets, key=len, reverse=True)
    return _scrub(data, secrets)  # type: ignore[no-any-return]


def _scrub(value: Any, secrets: Sequence[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, _REDACTED)
        return value
    if isinstance(value, dict):
        return {k: _scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, secrets) for v in value]
    return value


def render_config(config: Config) -> str:
    """The resolved configuration as indented JSON, secrets redacted (``config show``)."""
    return json.dumps(redacted_config(config), indent=2, ensure_ascii=False)
