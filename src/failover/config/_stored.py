"""The checks an import passes before it stores any contact: the same as for contacts
written in the configuration, against its groups and ``[notify]`` bases."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from failover.config._channels import _channel_to_domain, _contact_channel_url
from failover.config._problems import _Problems
from failover.config._result import Config
from failover.config._shape import _ContactModel, _NotifyModel, _translate

__all__ = ["stored_entry_problems"]


def stored_entry_problems(config: Config, entries: Iterable[tuple[str, Mapping[str, Any]]]) -> list[str]:
    """What is wrong with contacts about to be stored in the address book, each as
    ``where: key: message`` (``where`` names the entry in the file read): the same checks
    as contacts written in the configuration, against ``config``'s groups and bases."""
    found: list[str] = []
    notify = _NotifyModel.model_construct(
        smtp_url=config.notify.smtp_url, signal_url=config.notify.signal_url
    )
    platforms = (*config.platforms, *config.controls)
    for where, entry in entries:
        try:
            model = _ContactModel.model_validate(entry)
        except ValidationError as exc:
            key, message = _translate(exc.errors(include_url=False, include_input=False)[0])
            found.append(f"{where}: {key}: {message}" if key else f"{where}: {message}")
            continue
        problems = _Problems(where)
        for index, group in enumerate(model.groups):
            if group not in config.groups:
                problems.add(f"groups[{index}]", f"unknown group '{group}'")
        for index, channel_model in enumerate(model.channels):
            key = f"channels[{index}]"
            url = _contact_channel_url(channel_model, key=key, notify=notify, problems=problems)
            _channel_to_domain(
                channel_model, ref=key, key=key, url=url, platforms=platforms, problems=problems
            )
        found.extend(f"{where}: {key}: {message}" for key, message in problems.found)
    return found
