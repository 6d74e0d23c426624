"""Platforms and controls: the built-in catalog (``failover/catalog.toml``) merged under
the file's tables key by key, and each table turned into a :class:`~failover.domain.Platform`
with its checks."""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping
from importlib import resources
from typing import Any

from failover.config._problems import _key, _Problems
from failover.config._shape import (
    _ControlModel,
    _DnsCheckModel,
    _FileModel,
    _HttpCheckModel,
    _PlatformModel,
    _StatusCheckModel,
    _TcpCheckModel,
    _TlsCheckModel,
    _validate,
)
from failover.config._values import _parse_endpoint
from failover.domain import (
    CONTROL_FAMILY,
    NAME,
    Check,
    DnsCheck,
    DnsVia,
    Endpoint,
    HttpCheck,
    Platform,
    StatusCheck,
    StatusFormat,
    TcpCheck,
    TlsCheck,
)


@functools.cache
def _builtin_catalog() -> _FileModel:
    text = resources.files("failover").joinpath("catalog.toml").read_text(encoding="utf-8")
    return _validate(tomllib.loads(text), "failover/catalog.toml")


def _merge(
    catalog: Mapping[str, _ControlModel], file: Mapping[str, _ControlModel]
) -> dict[str, _ControlModel]:
    """File tables override the catalog's key by key; new names extend it."""
    merged = dict(catalog)
    for name, table in file.items():
        base = merged.get(name)
        if base is None:
            merged[name] = table
        else:
            merged[name] = base.model_copy(update={k: getattr(table, k) for k in table.model_fields_set})
    return merged


def _check_to_domain(
    model: _DnsCheckModel | _TcpCheckModel | _TlsCheckModel | _HttpCheckModel | _StatusCheckModel,
    *,
    key: str,
    resolvers: tuple[Endpoint, ...],
    problems: _Problems,
) -> Check | None:
    common: dict[str, Any] = {"name": model.name}
    if model.timeout is not None:
        common["timeout_s"] = model.timeout
    if isinstance(model, _DnsCheckModel):
        via = DnsVia(model.via)
        servers = tuple(_parse_endpoint(s, 53) for s in model.servers)
        if via is DnsVia.authoritative and not servers:
            problems.add(f"{key}.servers", "via = 'authoritative' needs the servers to ask")
            return None
        if via is DnsVia.system and servers:
            problems.add(f"{key}.servers", "via = 'system' uses the system resolver; remove servers")
            return None
        if via is DnsVia.resolvers and not servers:
            servers = resolvers
        return DnsCheck(
            **common, qname=model.qname, via=via, record_types=tuple(model.record_types), servers=servers
        )
    if isinstance(model, _TcpCheckModel):
        return TcpCheck(**common, host=model.host, port=model.port)
    if isinstance(model, _TlsCheckModel):
        return TlsCheck(
            **common, host=model.host, port=model.port, server_name=model.server_name, ca_file=model.ca_file
        )
    if isinstance(model, _HttpCheckModel):
        if model.accept_status is not None:
            common["accept_status"] = frozenset(
                code for low, high in model.accept_status for code in range(low, high + 1)
            )
        if model.slow_after is not None:
            common["slow_after_s"] = model.slow_after
        if model.max_redirects is not None:
            common["max_redirects"] = model.max_redirects
        return HttpCheck(
            **common,
            url=model.url,
            method=model.method,
            body_pattern=model.body_pattern,
            ca_file=model.ca_file,
        )
    return StatusCheck(
        **common,
        url=model.url,
        format=StatusFormat(model.format),
        components=tuple(model.components),
        ca_file=model.ca_file,
    )


def _targets_to_domain(
    section: str,
    tables: Mapping[str, _ControlModel],
    *,
    resolvers: tuple[Endpoint, ...],
    problems: _Problems,
) -> list[Platform]:
    targets = []
    for name, table in tables.items():
        key = _key(section, name)
        if not NAME.fullmatch(name):
            problems.add(key, "a name may contain only letters, digits, '_', '-' and '.' (64 at most)")
            continue
        if section == "controls":
            family: str | None = CONTROL_FAMILY
        else:
            family = table.family if isinstance(table, _PlatformModel) else None
            if family is not None and not NAME.fullmatch(family):
                problems.add(f"{key}.family", "a family name may contain only letters, digits, '_', '-', '.'")
        if table.enabled and not table.checks:
            problems.add(key, "an enabled target needs at least one check in 'checks'")
        checks: list[Check] = []
        seen: dict[str, int] = {}
        for index, check_model in enumerate(table.checks):
            check_key = _key(section, name, "checks", index)
            if check_model.name in seen:
                problems.add(
                    f"{check_key}.name", f"duplicate check name (also checks[{seen[check_model.name]}])"
                )
                continue
            seen[check_model.name] = index
            check = _check_to_domain(check_model, key=check_key, resolvers=resolvers, problems=problems)
            if check is not None:
                checks.append(check)
        interval = {} if table.interval is None else {"interval_s": table.interval}
        targets.append(
            Platform(
                name=name,
                display_name=table.display_name or name,
                family=family,
                checks=tuple(checks),
                enabled=table.enabled,
                **interval,
            )
        )
    return targets
