"""One TOML file → validated, frozen configuration.

The file is parsed once at the edge: ``${env:NAME}`` and ``${file:/path}`` references are
resolved, pydantic models (unknown keys forbidden) check its shape, the built-in catalog is
merged under it, and the result is turned into the frozen types of :mod:`failover.domain`
after every cross-reference has been checked. Every problem is a :class:`ConfigError` that
names the key path (``contacts[2].channels[0].url``) or the line of a syntax error, and never
a secret or personal value.

This package and ``cli`` are the only readers of the environment; both take it as an
argument (``env``) so that tests inject it.

The modules, in the order a file goes through them:

- ``_read``: where the file is found; reading it (and its contacts file) into a ``Config``
- ``_toml``: TOML text → a table, with a nesting guard and syntax errors on their line
- ``_references``: ``${env:…}`` and ``${file:…}`` resolved, their values kept as secrets
- ``_shape``: the pydantic models of the file, and their errors as key paths
- ``_values``: single values (durations, endpoints, URLs, addresses, numbers, …)
- ``_platforms``: the built-in catalog merged with the file's platforms and controls
- ``_channels``: channel URLs, whom they reach, what they depend on
- ``_contacts``: contacts written, filed and imported; the checks an import passes
- ``_build``: cross-references checked, domain values and secrets made
- ``_result``: ``Config``, its settings, and the address book port
- ``_problems``: key paths and the one-line ``ConfigError``
- ``_show`` and ``_starter``: what ``config show`` and ``config init`` print
"""

from failover.config._build import BUILTIN_TEMPLATE_NAMES
from failover.config._channels import infer_depends_on
from failover.config._read import (
    BUILTIN_SOURCE,
    SYSTEM_CONFIG_PATH,
    find_config_path,
    load_config,
    parse_config,
)
from failover.config._result import (
    Config,
    ContactSource,
    DaemonSettings,
    MaintenanceWindow,
    ManualSettings,
    NotifySettings,
    ProbeSettings,
    StatusPageSettings,
    register_address_book,
)
from failover.config._show import redacted_config, render_config
from failover.config._starter import starter_config
from failover.config._stored import stored_entry_problems
from failover.config._values import (
    MAX_DURATION_S,
    WEEKDAYS,
    check_email,
    check_phone,
    contact_id,
    parse_duration,
)

__all__ = [
    "BUILTIN_SOURCE",
    "BUILTIN_TEMPLATE_NAMES",
    "MAX_DURATION_S",
    "SYSTEM_CONFIG_PATH",
    "WEEKDAYS",
    "Config",
    "ContactSource",
    "DaemonSettings",
    "MaintenanceWindow",
    "ManualSettings",
    "NotifySettings",
    "ProbeSettings",
    "StatusPageSettings",
    "check_email",
    "check_phone",
    "contact_id",
    "find_config_path",
    "infer_depends_on",
    "load_config",
    "parse_config",
    "parse_duration",
    "redacted_config",
    "register_address_book",
    "render_config",
    "starter_config",
    "stored_entry_problems",
]
