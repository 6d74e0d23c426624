"""The contacts file (``contacts_file``): ``[[contacts]]`` tables, read, changed and written
back without losing what an operator wrote by hand.

An import changes few entries of a file that may hold tens of thousands, so the file is not
rebuilt: it is read once with ``tomllib`` (fast), cut into one piece of text per
``[[contacts]]`` table, and only the pieces of the entries that change go through
``tomlkit``, which keeps their comments and layout; untouched entries, the comments between
them and the file's opening comments are written back byte for byte, and new entries are
appended. A file whose shape defeats the cut (a ``contacts = [...]`` array, a header inside
a string) goes through ``tomlkit`` whole, slower but as careful. What is written is read back
and compared with what was meant before it replaces the file (atomically, mode 0600).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit
import tomlkit.items

from failover.config import contact_id
from failover.errors import ContactImportError

__all__ = ["ContactsFile", "entry_id", "render_entries", "write_atomically"]

_HEADER = "# Contacts of failover, written by `failover contacts import` (merged by id).\n"
_TABLE = re.compile(r"^[ \t]*\[\[[ \t]*contacts[ \t]*\]\][ \t]*(?:#.*)?$", re.MULTILINE)
#: comments and blank lines at the end of an entry's text belong to what follows
_TRAILING = re.compile(r"(?:\n[ \t]*(?:#[^\n]*)?)*\n?\Z")


def entry_id(entry: Mapping[str, Any]) -> str:
    """An entry's id: written, or derived from its name as the configuration does."""
    return str(entry.get("id") or contact_id(str(entry.get("name", ""))))


def _toml_string(value: str) -> str:
    # JSON's escapes are TOML's; TOML also wants DEL escaped
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise ContactImportError(f"the contacts file holds a value that cannot be kept ({type(value).__name__})")


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_string(key)


def render_entries(entries: Sequence[Mapping[str, Any]]) -> str:
    """``[[contacts]]`` tables, each with its ``[[contacts.channels]]``."""
    out = []
    for entry in entries:
        out.append("\n[[contacts]]\n")
        for key, value in entry.items():
            if key != "channels":
                out.append(f"{_toml_key(key)} = {_toml_value(value)}\n")
        for channel in entry.get("channels", []):
            out.append("\n[[contacts.channels]]\n")
            out.extend(f"{_toml_key(k)} = {_toml_value(v)}\n" for k, v in channel.items())
    return "".join(out)


@dataclass(slots=True)
class _Piece:
    """One entry's text, and the comments and blank lines after it."""

    text: str
    after: str


def _cut(text: str, count: int) -> tuple[str, list[_Piece]] | None:
    """The text before the first entry and one piece per entry, or None if the headers
    found are not the ``count`` tables ``tomllib`` read."""
    starts = [match.start() for match in _TABLE.finditer(text)]
    if len(starts) != count:
        return None
    preamble = text[: starts[0]] if starts else text
    try:
        if tomllib.loads(preamble):
            return None  # keys before the first table: not a file of entries alone
    except tomllib.TOMLDecodeError:
        return None
    pieces = []
    for start, end in zip(starts, [*starts[1:], len(text)], strict=True):
        chunk = text[start:end]
        trailing = _TRAILING.search(chunk)
        cut = trailing.start() if trailing else len(chunk)
        pieces.append(_Piece(text=chunk[:cut] + "\n", after=chunk[cut:].removeprefix("\n")))
    return preamble, pieces


def _channels_item(existing: Any, channels: Sequence[Mapping[str, Any]], *, inline: bool) -> Any:
    """The ``channels`` value in the form the entry had: an array of tables, or an inline
    array; a channel left as it was keeps its tomlkit item, and with it its comments."""
    kept = list(existing) if existing is not None else []
    by_value = [(item.unwrap() if hasattr(item, "unwrap") else item, item) for item in kept]

    def reuse(channel: Mapping[str, Any]) -> Any | None:
        for index, (value, item) in enumerate(by_value):
            if value == dict(channel):
                del by_value[index]
                return item
        return None

    if inline or isinstance(existing, tomlkit.items.Array):
        array = tomlkit.array()
        for channel in channels:
            item = reuse(channel)
            if item is None:
                item = tomlkit.inline_table()
                item.update(channel)
            array.append(item)
        return array
    tables = tomlkit.aot()
    for channel in channels:
        item = reuse(channel)
        if not isinstance(item, tomlkit.items.Table):
            item = tomlkit.table()
            item.update(channel)
        tables.append(item)
    return tables


def _update(table: Any, entry: Mapping[str, Any]) -> None:
    """Change a tomlkit table to hold ``entry``, key by key."""
    current = table.unwrap()
    for key, value in entry.items():
        if key == "channels":
            if current.get("channels") != value:
                inline = isinstance(table, tomlkit.items.InlineTable)
                table["channels"] = _channels_item(table.get("channels"), value, inline=inline)
        elif current.get(key) != value:
            table[key] = value
    for key in set(current) - set(entry):
        del table[key]


class ContactsFile:
    """A contacts file as read: its entries (plain data, as ``tomllib`` reads them), to be
    changed with :meth:`replace` and :meth:`add`, then :meth:`render` ed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._text: str | None
        try:
            self._text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            self._text = None
        except (OSError, UnicodeDecodeError) as exc:
            raise ContactImportError(
                f"{path}: cannot read the contacts file ({type(exc).__name__})"
            ) from None
        raw: dict[str, Any] = {}
        if self._text is not None:
            try:
                raw = tomllib.loads(self._text)
            except tomllib.TOMLDecodeError:
                raise ContactImportError(
                    f"{path}: the contacts file is not valid TOML; fix it first"
                ) from None
        entries = raw.get("contacts", [])
        if set(raw) - {"contacts"} or not isinstance(entries, list):
            raise ContactImportError(f"{path}: the contacts file may hold only [[contacts]] tables")
        self.entries: list[dict[str, Any]] = [dict(entry) for entry in entries]
        self._replaced: dict[int, dict[str, Any]] = {}
        self._added: list[dict[str, Any]] = []

    @property
    def exists(self) -> bool:
        return self._text is not None

    def replace(self, index: int, entry: dict[str, Any]) -> None:
        self._replaced[index] = entry

    def add(self, entry: dict[str, Any]) -> None:
        self._added.append(entry)

    def result(self) -> list[dict[str, Any]]:
        """The entries as they will be written."""
        return [self._replaced.get(i, entry) for i, entry in enumerate(self.entries)] + self._added

    def render(self) -> str:
        """The new text of the file; checked to read back as :meth:`result`."""
        if self._text is None:
            text = _HEADER + render_entries(self._added)
        else:
            cut = _cut(self._text, len(self.entries))
            piecewise = self._render_cut(*cut) if cut is not None else None
            if piecewise is not None:
                return piecewise
            # no cut, or one that misread the file: through tomlkit, whole
            text = self._render_whole()
        if _read_back(text) != self.result():
            raise ContactImportError(
                f"{self.path}: the contacts file cannot be written back as read; nothing written"
            )
        return text

    def _render_cut(self, preamble: str, pieces: list[_Piece]) -> str | None:
        """The file with the changed pieces rewritten and the new entries appended, or None
        if a changed piece does not read alone as its entry (the cut misread the file).

        What is checked is what changes: the bytes left as they were read as they did, and
        each piece starts with its own ``[[contacts]]`` header, so a piece that reads alone
        as its entry reads so in the file too (a 50,000-entry file is not read twice)."""
        out = [preamble]
        for index, piece in enumerate(pieces):
            if index in self._replaced:
                if _read_back(piece.text) != [self.entries[index]]:
                    return None
                document = tomlkit.parse(piece.text)
                _update(document["contacts"][0], self._replaced[index])
                changed = tomlkit.dumps(document)
                if _read_back(changed) != [self._replaced[index]]:
                    return None
                out.append(changed if changed.endswith("\n") else changed + "\n")
            else:
                out.append(piece.text)
            out.append(piece.after)
        text = "".join(out)
        if self._added:
            added = render_entries(self._added)
            if _read_back(added) != self._added:
                return None
            text = text.rstrip("\n") + "\n" + added
        return text

    def _render_whole(self) -> str:
        document = tomlkit.parse(self._text or "")
        if "contacts" not in document:
            document["contacts"] = tomlkit.aot()
        tables: Any = document["contacts"]
        for index, entry in self._replaced.items():
            _update(tables[index], entry)
        for entry in self._added:
            # a "contacts = [ {...} ]" array takes inline tables, an array of tables tables
            table = tomlkit.inline_table() if isinstance(tables, tomlkit.items.Array) else tomlkit.table()
            _update(table, entry)
            tables.append(table)
        return tomlkit.dumps(document)


def _read_back(text: str) -> list[dict[str, Any]]:
    try:
        return [dict(entry) for entry in tomllib.loads(text).get("contacts", [])]
    except tomllib.TOMLDecodeError:
        return []


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (a temporary file, then a rename), readable by
    failover's user only: it holds personal data."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(handle, 0o600)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
