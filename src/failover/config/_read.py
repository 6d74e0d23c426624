"""Reading: where the configuration file is found, and its text (with its contacts file)
read into a :class:`Config`: TOML, then references resolved, then the shape checked, then
built."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import ValidationError

from failover.config._build import _build
from failover.config._problems import _config_error
from failover.config._references import _Resolver
from failover.config._result import Config
from failover.config._shape import _ContactModel, _ContactsFileModel, _translate, _validate
from failover.config._toml import _parse_toml

#: ``Config.source`` when no file was read.
BUILTIN_SOURCE = "built-in"
#: The last place :func:`find_config_path` looks.
SYSTEM_CONFIG_PATH = Path("/etc/failover/failover.toml")


def _read_contacts_file(path: Path, *, resolver: _Resolver) -> list[_ContactModel]:
    """The contacts of ``contacts_file``; none if the file does not exist yet."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except UnicodeDecodeError:
        raise _config_error("not UTF-8 text", source=source) from None
    except OSError as exc:
        raise _config_error(f"cannot read: {exc.strerror or 'error'}", source=source) from None
    raw = _parse_toml(text, source=source)
    resolved = resolver.tree(raw, (), source)
    try:
        return _ContactsFileModel.model_validate(resolved).contacts
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        key, message = _translate(errors[0])
        raise _config_error(message, key=key, source=source, more=len(errors) - 1) from None


def parse_config(
    text: str,
    *,
    source: str,
    env: Mapping[str, str],
    cwd: Path | None = None,
    base_dir: Path | None = None,
    contacts_file: bool = True,
) -> Config:
    """Validate a configuration file's text. ``source`` names it in errors; ``cwd`` is where
    the default ``./var`` state directory lives (the process's working directory if None);
    ``base_dir`` is where a relative ``contacts_file`` is found (``cwd`` if None).

    ``contacts_file=False`` leaves the contacts file unread (the contacts written in the
    configuration itself are read): for the commands that tell nobody, whose time and
    memory must not grow with an address book."""
    raw = _parse_toml(text, source=source)
    resolver = _Resolver(env)
    resolved = resolver.tree(raw, (), source)
    model = _validate(resolved, source)
    cwd = cwd or Path.cwd()
    filed: list[_ContactModel] = []
    contacts_source = None
    if model.contacts_file is not None and contacts_file:
        contacts_path = (base_dir or cwd) / model.contacts_file
        contacts_source = str(contacts_path)
        filed = _read_contacts_file(contacts_path, resolver=resolver)
    return _build(
        model,
        env=env,
        cwd=cwd,
        secrets=resolver.secrets,
        source=source,
        filed_contacts=filed,
        contacts_source=contacts_source,
    )


def load_config(
    path: Path | None, *, env: Mapping[str, str], cwd: Path | None = None, contacts_file: bool = True
) -> Config:
    """Read and validate ``path``; None gives the built-in default (the catalog, no contacts).
    ``contacts_file=False``: see :func:`parse_config`."""
    if path is None:
        return parse_config("", source=BUILTIN_SOURCE, env=env, cwd=cwd)
    source = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise _config_error("file not found", source=source) from None
    except OSError as exc:
        raise _config_error(f"cannot read: {exc.strerror or 'error'}", source=source) from None
    try:
        text = data.decode("utf-8-sig")  # an editor's byte order mark is not part of the text
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise _config_error("not UTF-8 text", line=line, source=source) from None
    return parse_config(
        text, source=source, env=env, cwd=cwd, base_dir=path.parent, contacts_file=contacts_file
    )


def find_config_path(
    explicit: Path | None,
    *,
    env: Mapping[str, str],
    cwd: Path,
    system_path: Path = SYSTEM_CONFIG_PATH,
) -> Path | None:
    """``--config PATH``, then ``$FAILOVER_CONFIG``, ``./failover.toml``, ``system_path``;
    None means the built-in default. A named file that does not exist is an error."""
    if explicit is not None:
        path = cwd / explicit
        if not path.is_file():
            raise _config_error("configuration file not found", source=str(explicit))
        return path
    named = env.get("FAILOVER_CONFIG")
    if named:
        path = cwd / named
        if not path.is_file():
            raise _config_error("configuration file named by $FAILOVER_CONFIG not found", source=named)
        return path
    for candidate in (cwd / "failover.toml", system_path):
        if candidate.is_file():
            return candidate
    return None
