"""Contacts: those written in the configuration or its contacts file turned into
:class:`~failover.domain.Contact` values (names and ids unique across both), the imported
ones of the address book given their channels as they are read."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from failover.config._channels import (
    _channel_to_domain,
    _contact_channel_url,
    _with_path_segment,
    _with_query,
    infer_depends_on,
)
from failover.config._problems import _key, _Problems
from failover.config._shape import _ContactChannelModel, _ContactModel, _FileModel
from failover.config._values import _mail_address, contact_id
from failover.domain import Channel, Contact, Platform, StoredContact


@dataclass(slots=True)
class _SeenContacts:
    """Names and ids already taken, and where (``contacts[0]`` or ``contacts.toml: contacts[0]``)."""

    names: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)


def _contacts(
    contact_models: Sequence[_ContactModel],
    *,
    model: _FileModel,
    platforms: Sequence[Platform],
    problems: _Problems,
    seen: _SeenContacts,
    where: str = "",
) -> tuple[Contact, ...]:
    """Contacts of the configuration file, or (``where`` naming it) of the contacts file."""
    contacts = []
    for index, contact_model in enumerate(contact_models):
        key = _key("contacts", index)
        here = f"{where}{key}"
        identifier = contact_model.id or contact_id(contact_model.name)
        if contact_model.name in seen.names:
            # the name is personal data: point at the other entry instead of repeating it
            problems.add(f"{key}.name", f"duplicate contact name (also {seen.names[contact_model.name]})")
        elif identifier in seen.ids:
            problems.add(f"{key}.id", f"duplicate contact id '{identifier}' (also {seen.ids[identifier]})")
        seen.names.setdefault(contact_model.name, here)
        seen.ids.setdefault(identifier, here)
        for group_index, group in enumerate(contact_model.groups):
            if group not in model.groups:
                problems.add(f"{key}.groups[{group_index}]", f"unknown group '{group}'")
        channels = []
        for channel_index, channel_model in enumerate(contact_model.channels):
            channel_key = f"{key}.channels[{channel_index}]"
            url = _contact_channel_url(channel_model, key=channel_key, notify=model.notify, problems=problems)
            channels.append(
                _channel_to_domain(
                    channel_model,
                    ref=f"contacts[{identifier}].channels[{channel_index}]",
                    key=channel_key,
                    url=url,
                    platforms=platforms,
                    problems=problems,
                )
            )
        contacts.append(
            Contact(
                name=contact_model.name,
                id=identifier,
                language=contact_model.language,
                timezone=contact_model.timezone or model.daemon.timezone,
                groups=tuple(contact_model.groups),
                channels=tuple(channels),
            )
        )
    return tuple(contacts)


@dataclass(frozen=True, slots=True)
class _ChannelBases:
    """What turns an imported contact's channel entries into channels: ``[notify]``'s
    bases and the platforms a URL may depend on."""

    smtp_url: str | None
    signal_url: str | None
    platforms: tuple[Platform, ...]
    email_depends_on: tuple[str, ...]
    signal_depends_on: tuple[str, ...]

    @classmethod
    def of(cls, *, smtp: str | None, signal: str | None, platforms: tuple[Platform, ...]) -> _ChannelBases:
        return cls(
            smtp_url=smtp,
            signal_url=signal,
            platforms=platforms,
            email_depends_on=infer_depends_on(smtp, platforms) if smtp else (),
            signal_depends_on=infer_depends_on(signal, platforms) if signal else (),
        )

    def channels(self, stored: StoredContact) -> tuple[Channel, ...]:
        """The channels of ``stored``, refs numbered as its entries are; an entry whose
        base is no longer configured is left out (its ref is not reused)."""
        channels = []
        for index, entry in enumerate(stored.channels):
            ref = f"contacts[{stored.id}].channels[{index}]"
            declared = entry.get("depends_on")
            if "email" in entry:
                if self.smtp_url is None:
                    continue
                url = _with_query(self.smtp_url, "to", _mail_address(entry["email"]))
                depends_on = self.email_depends_on if declared is None else tuple(declared)
                channels.append(Channel(ref=ref, url=url, depends_on=depends_on))
            elif "signal" in entry:
                if self.signal_url is None:
                    continue
                url = _with_path_segment(self.signal_url, entry["signal"])
                depends_on = self.signal_depends_on if declared is None else tuple(declared)
                channels.append(Channel(ref=ref, url=url, depends_on=depends_on))
            elif "url" in entry:
                model = _ContactChannelModel.model_construct(None, **entry)
                problems = _Problems(ref)  # checked when it was imported
                channels.append(
                    _channel_to_domain(
                        model, ref=ref, url=entry["url"], platforms=self.platforms, problems=problems
                    )
                )
        return tuple(channels)


def _personal_values(contact_models: Iterable[_ContactModel]) -> set[str]:
    """Addresses and numbers written in contacts: redacted from logs like secrets."""
    return {
        value
        for contact in contact_models
        for channel in contact.channels
        for value in (channel.email, channel.signal)
        if value
    }
