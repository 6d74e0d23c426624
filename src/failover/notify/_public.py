"""Personal data in text bound for a public channel.

A public post (a toot, a tweet, a Telegram channel) is read by anyone and cannot be taken
back. Text bound for one, a public template or an operator's manual message, may carry
the organisation's own contact points and nothing else personal: no e-mail address, no
phone number that is not among them, and no contact's name. The organisation's contact
points are ``public_contact_points`` and whatever ``alternatives`` list (those are
published in every public notice by design).

Phone numbers are found by libphonenumber (``phonenumbers``, imported at the first check):
every number written internationally (``+33 …``), and numbers in the national formats of
France, the United Kingdom and the United States and of each country whose numbers the
configuration lists. Problems describe what was found without repeating it whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping

from failover.config import Config

__all__ = ["public_text_problems"]

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
#: national formats read wherever the configuration lists no number of that country
_REGIONS = ("FR", "GB", "US")
_HINT = "not among public_contact_points"


def _strings(value: object) -> Iterator[str]:
    """Every string in ``alternatives``, whichever form it has (one list, or per language)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, Iterable):
        for item in value:
            yield from _strings(item)


def _numbers(text: str, regions: Iterable[str]) -> dict[str, str]:
    """The phone numbers in ``text``: E.164 form → the text as written."""
    import phonenumbers

    found: dict[str, str] = {}
    for region in regions:
        for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID):
            e164 = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
            found.setdefault(e164, match.raw_string)
    return found


def _regions_of(numbers: Iterable[str]) -> set[str]:
    import phonenumbers

    regions = set()
    for number in numbers:
        region = phonenumbers.region_code_for_number(phonenumbers.parse(number))
        if region:
            regions.add(region)
    return regions


class _ContactPoints:
    """The organisation's own addresses, numbers and other published lines."""

    def __init__(self, config: Config) -> None:
        self.lines = [*config.public_contact_points, *_strings(config.alternatives)]
        self.emails = {address.lower() for line in self.lines for address in _EMAIL.findall(line)}
        international = _numbers(" ; ".join(self.lines), ("ZZ",))
        self.regions = sorted(set(_REGIONS) | _regions_of(international))
        self.numbers = set(_numbers(" ; ".join(self.lines), self.regions))

    def names(self, name: str) -> bool:
        return any(name.casefold() in line.casefold() for line in self.lines)


def _name_in(name: str, text: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text, re.IGNORECASE) is not None


def public_text_problems(text: str, config: Config) -> list[str]:
    """What in ``text`` may not go to a public channel, one line each (empty: nothing).

    E-mail addresses and phone numbers that are not the organisation's own contact points
    (``public_contact_points``, ``alternatives``), and the names of configured contacts.
    A problem names the kind of data and enough to find it (a number's last digits, an
    address's domain, a contact's id), never the value itself.
    """
    points = _ContactPoints(config)
    problems = [
        f"an e-mail address (…@{address.rpartition('@')[2]}) {_HINT}"
        for address in dict.fromkeys(_EMAIL.findall(text))
        if address.lower() not in points.emails
    ]
    problems += [
        f"a phone number (ending in {number[-4:]}) {_HINT}"
        for number in _numbers(text, points.regions)
        if number not in points.numbers
    ]
    folded = text.casefold()
    problems += [
        f"the name of contact {contact_id}"
        for contact_id, name in config.contact_names()
        # a quick look for the name first: the address book may hold 100,000 of them
        if name.casefold() in folded and _name_in(name, text) and not points.names(name)
    ]
    return problems
