"""Building: a validated file → :class:`Config`. Every cross-reference is checked (groups,
channels, templates, platforms and families a route or a window names; the control quorum;
the status page's listener) and the domain values are made: settings, detection policy,
templates, routes, maintenance windows, and the set of secrets logs redact."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import time, timedelta
from pathlib import Path
from types import MappingProxyType
from urllib.parse import urlsplit

from failover.config._channels import _channel_to_domain
from failover.config._contacts import _contacts, _personal_values, _SeenContacts
from failover.config._platforms import _builtin_catalog, _merge, _targets_to_domain
from failover.config._problems import _config_error, _key, _Problems
from failover.config._result import (
    _DEFAULT_RATES,
    Config,
    DaemonSettings,
    MaintenanceWindow,
    ManualSettings,
    NotifySettings,
    ProbeSettings,
    StatusPageSettings,
)
from failover.config._shape import (
    _AlternativesModel,
    _ContactModel,
    _DaemonModel,
    _DetectionModel,
    _FileModel,
    _RouteModel,
    _StatusPageModel,
)
from failover.config._values import WEEKDAYS, _parse_endpoint
from failover.domain import (
    NAME,
    Channel,
    DetectionPolicy,
    Endpoint,
    IncidentEvent,
    Platform,
    Route,
    Template,
    TemplateText,
    Visibility,
)
from failover.errors import ConfigError

#: Template names a route may use without defining them (the notifier's built-in texts;
#: a test keeps this equal to ``failover.notify.BUILTIN_TEMPLATES``). A ``-public`` name is public.
BUILTIN_TEMPLATE_NAMES: frozenset[str] = frozenset(
    {
        "outage",
        "update",
        "recovery",
        "manual",
        "reminder",
        "outage-public",
        "update-public",
        "recovery-public",
        "manual-public",
        "reminder-public",
    }
)


_LANGUAGES = ("fr", "en")


def _default_database_url(env: Mapping[str, str], cwd: Path) -> str:
    # systemd's StateDirectory= may list several directories, separated by ':'
    state = env.get("STATE_DIRECTORY", "").split(":")[0]
    directory = Path(state) if state else cwd / "var"
    return f"sqlite:///{directory.resolve() / 'failover.db'}"


def _database_password(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def _policy(model: _DetectionModel, *, controls: int, problems: _Problems) -> DetectionPolicy:
    if model.control_quorum > controls:
        problems.add(
            "detection.control_quorum",
            f"needs {model.control_quorum} passing controls but only {controls} are enabled "
            "(set it to 0 to trust our own connectivity without controls)",
        )
    return DetectionPolicy(
        control_quorum=model.control_quorum,
        confirm_after_s=tuple(model.confirm_after),
        recover_after=model.recover_after,
        flap_max_transitions=model.flap_max_transitions,
        flap_window=timedelta(seconds=model.flap_window),
        family_window=timedelta(seconds=model.family_window),
        family_min_platforms=model.family_min_platforms,
        degraded_after=timedelta(seconds=model.degraded_after),
        family_hold=timedelta(seconds=model.family_hold),
        confirm_timeout_s=model.confirm_timeout,
    )


def _alternatives(model: _FileModel) -> Mapping[str, tuple[str, ...]]:
    given = model.alternatives
    if isinstance(given, _AlternativesModel):
        by_language = {language: tuple(getattr(given, language)) for language in _LANGUAGES}
    else:
        by_language = dict.fromkeys(_LANGUAGES, tuple(given))
    return MappingProxyType(by_language)


def _templates(model: _FileModel, *, problems: _Problems) -> dict[str, Template]:
    templates = {}
    for name, template_model in model.templates.items():
        texts = {
            language: TemplateText(subject=text.subject, body=text.body)
            for language in _LANGUAGES
            if (text := getattr(template_model, language)) is not None
        }
        if not texts:
            problems.add(_key("templates", name), "a template needs a text in 'fr' or 'en' (or both)")
        templates[name] = Template(name=name, visibility=Visibility(template_model.visibility), texts=texts)
    return templates


def _template_visibility(name: str, template: Template | None) -> Visibility | None:
    if template is not None:
        return template.visibility
    if name in BUILTIN_TEMPLATE_NAMES:
        return Visibility.public if name.endswith("-public") else Visibility.private
    return None


def _route_channel_problems(
    route: _RouteModel,
    key: str,
    *,
    template: Template | None,
    channels: Mapping[str, Channel],
    problems: _Problems,
) -> None:
    visibility = _template_visibility(route.template, template)
    for index, name in enumerate(route.channels):
        channel_key = f"{key}.channels[{index}]"
        channel = channels.get(name)
        if channel is None:
            problems.add(channel_key, f"unknown channel '{name}'")
            continue
        if channel.visibility is not Visibility.public:
            continue
        if visibility is Visibility.private:
            problems.add(
                channel_key,
                f"public channel '{name}' may not receive private template '{route.template}' "
                "(a template sent to a public channel needs visibility = 'public')",
            )
        if route.reminder_every is not None:
            problems.add(channel_key, f"a route with reminder_every may not post to public channel '{name}'")


def _routes(
    model: _FileModel,
    *,
    platforms: Sequence[Platform],
    channels: Mapping[str, Channel],
    templates: Mapping[str, Template],
    problems: _Problems,
) -> tuple[Route, ...]:
    platform_names = {p.name for p in platforms}
    families = {p.family for p in platforms if p.family}
    routes = []
    seen: set[str] = set()
    for index, route_model in enumerate(model.routes):
        key = _key("routes", index)
        if route_model.name in seen:
            problems.add(f"{key}.name", f"duplicate route name '{route_model.name}'")
        seen.add(route_model.name)
        template = templates.get(route_model.template)
        if template is None and route_model.template not in BUILTIN_TEMPLATE_NAMES:
            problems.add(f"{key}.template", f"unknown template '{route_model.template}'")
        if not route_model.groups and not route_model.channels:
            problems.add(key, "a route needs 'groups' or 'channels' to tell")
        for group_index, group in enumerate(route_model.groups):
            if group not in model.groups:
                problems.add(f"{key}.groups[{group_index}]", f"unknown group '{group}'")
        _route_channel_problems(route_model, key, template=template, channels=channels, problems=problems)
        for platform_index, name in enumerate(route_model.platforms):
            if name not in platform_names:
                problems.add(f"{key}.platforms[{platform_index}]", f"unknown platform '{name}'")
        for family_index, name in enumerate(route_model.families):
            if name not in families:
                problems.add(f"{key}.families[{family_index}]", f"unknown family '{name}'")
        events = frozenset(IncidentEvent(e) for e in route_model.events)
        if IncidentEvent.reminder in events and route_model.reminder_every is None:
            problems.add(f"{key}.events", "the 'reminder' event needs reminder_every")
        every = route_model.reminder_every
        routes.append(
            Route(
                name=route_model.name,
                template=route_model.template,
                events=events,
                groups=tuple(route_model.groups),
                channels=tuple(route_model.channels),
                platforms=tuple(route_model.platforms),
                families=tuple(route_model.families),
                reminder_every=None if every is None else timedelta(seconds=every),
            )
        )
    return tuple(routes)


def _api_tokens(daemon_model: _DaemonModel) -> dict[str, str]:
    """``[[daemon.api_tokens]]`` by operator name: a name or a token given twice, or a
    token that is ``api_token`` too, could not tell operators apart."""
    tokens: dict[str, str] = {}
    for index, entry in enumerate(daemon_model.api_tokens):
        key = f"daemon.api_tokens[{index}]"
        if entry.name in tokens or entry.name == "api":
            raise ConfigError(f"the operator name {entry.name!r} is taken", key=f"{key}.name")
        if entry.token in tokens.values() or entry.token == daemon_model.api_token:
            raise ConfigError("this token is given to another operator too", key=f"{key}.token")
        tokens[entry.name] = entry.token
    return tokens


def _settings(
    model: _FileModel, *, resolvers: tuple[Endpoint, ...], env: Mapping[str, str], cwd: Path
) -> tuple[DaemonSettings, ProbeSettings, NotifySettings]:
    daemon_model = model.daemon
    daemon = DaemonSettings(
        database_url=daemon_model.database_url or _default_database_url(env, cwd),
        listen=_parse_endpoint(daemon_model.listen, 9464),
        timezone=daemon_model.timezone,
        api_token=daemon_model.api_token,
        api_tokens=_api_tokens(daemon_model),
        log_level=daemon_model.log_level,
        dry_run=daemon_model.dry_run,
        retention=timedelta(seconds=daemon_model.retention),
    )
    user_agent = {} if model.probes.user_agent is None else {"user_agent": model.probes.user_agent}
    nameservers = (
        None
        if model.probes.nameservers is None
        else tuple(_parse_endpoint(text, 53) for text in model.probes.nameservers)
    )
    probes = ProbeSettings(
        concurrency=model.probes.concurrency,
        resolvers=resolvers,
        nameservers=nameservers,
        lookup_timeout_s=model.probes.lookup_timeout,
        **user_agent,
    )
    notify = NotifySettings(
        dry_run=daemon_model.dry_run,
        concurrency=model.notify.concurrency,
        max_attempts=model.notify.max_attempts,
        backoff_base_s=model.notify.backoff_base,
        backoff_max_s=model.notify.backoff_max,
        give_up_after_s=model.notify.give_up_after,
        rate_per_minute=MappingProxyType(
            {**_DEFAULT_RATES, **{k.lower(): v for k, v in model.notify.rate_per_minute.items()}}
        ),
        smtp_url=model.notify.smtp_url,
        signal_url=model.notify.signal_url,
    )
    return daemon, probes, notify


def _build(
    model: _FileModel,
    *,
    env: Mapping[str, str],
    cwd: Path,
    secrets: set[str],
    source: str,
    filed_contacts: Sequence[_ContactModel] = (),
    contacts_source: str | None = None,
) -> Config:
    problems = _Problems(source)

    resolvers = tuple(_parse_endpoint(text, 53) for text in model.probes.resolvers)
    catalog = _builtin_catalog() if model.catalog.builtin else _FileModel()
    platform_tables = _merge(catalog.platforms, model.platforms)
    control_tables = _merge(catalog.controls, model.controls)
    all_platforms = _targets_to_domain("platforms", platform_tables, resolvers=resolvers, problems=problems)
    all_controls = _targets_to_domain("controls", control_tables, resolvers=resolvers, problems=problems)
    for name in control_tables.keys() & platform_tables.keys():
        problems.add(_key("controls", name), "a control may not share its name with a platform")
    controls = tuple(c for c in all_controls if c.enabled)
    policy = _policy(model.detection, controls=len(controls), problems=problems)

    for name in model.groups:
        if not NAME.fullmatch(name):
            problems.add(_key("groups", name), "a group name may contain only letters, digits, '_', '-', '.'")
    seen = _SeenContacts()
    contacts = _contacts(model.contacts, model=model, platforms=all_platforms, problems=problems, seen=seen)
    if contacts_source is not None:
        # the contacts file's problems name that file, and come first
        file_problems = _Problems(contacts_source)
        contacts += _contacts(
            filed_contacts,
            model=model,
            platforms=all_platforms,
            problems=file_problems,
            seen=seen,
            where=f"{contacts_source}: ",
        )
        file_problems.raise_if_any()
    channels = {
        name: _channel_to_domain(
            channel_model,
            ref=_key("channels", name),
            url=channel_model.url,
            platforms=all_platforms,
            problems=problems,
        )
        for name, channel_model in model.channels.items()
    }
    templates = _templates(model, problems=problems)
    routes = _routes(
        model, platforms=all_platforms, channels=channels, templates=templates, problems=problems
    )
    maintenance = _maintenance_windows(model, platforms=all_platforms, problems=problems)
    problems.raise_if_any()

    daemon, probes, notify = _settings(model, resolvers=resolvers, env=env, cwd=cwd)
    status_page = _status_page_settings(model.status_page, daemon=daemon, source=source)
    all_secrets = set(secrets)
    all_secrets.update(c.url for contact in contacts for c in contact.channels)
    all_secrets.update(c.url for c in channels.values())
    all_secrets.update(_personal_values([*model.contacts, *filed_contacts]))
    if daemon.api_token:
        all_secrets.add(daemon.api_token)
    all_secrets.update(daemon.api_tokens.values())
    if password := _database_password(daemon.database_url):
        all_secrets.add(password)
    all_secrets.discard("")

    return Config(
        daemon=daemon,
        probes=probes,
        detection=policy,
        platforms=tuple(p for p in all_platforms if p.enabled),
        controls=controls,
        contacts=contacts,
        groups=MappingProxyType({name: group.description for name, group in model.groups.items()}),
        channels=MappingProxyType(channels),
        routes=routes,
        templates=MappingProxyType(templates),
        alternatives=_alternatives(model),
        notify=notify,
        secrets=frozenset(all_secrets),
        source=source,
        contacts_file=contacts_source,
        public_contact_points=tuple(model.public_contact_points),
        status_page=status_page,
        maintenance=tuple(replace(w, timezone=w.timezone or daemon.timezone) for w in maintenance),
        manual=ManualSettings(approval=model.manual.approval),
    )


def _maintenance_windows(
    model: _FileModel, *, platforms: Sequence[Platform], problems: _Problems
) -> list[MaintenanceWindow]:
    """``[[maintenance]]`` → windows; their zone is left empty where ``daemon.timezone`` applies."""
    known = {p.name for p in platforms} | {p.family for p in platforms if p.family} | {"*"}
    windows: list[MaintenanceWindow] = []
    seen: set[str] = set()
    for index, entry in enumerate(model.maintenance):
        key = _key("maintenance", index)
        if not NAME.fullmatch(entry.name):
            problems.add(f"{key}.name", "a window name may contain only letters, digits, '_', '-', '.'")
        if entry.name in seen:
            problems.add(f"{key}.name", f"duplicate maintenance window name '{entry.name}'")
        seen.add(entry.name)
        for platform_index, name in enumerate(entry.platforms):
            if name not in known:
                problems.add(f"{key}.platforms[{platform_index}]", f"unknown platform or family '{name}'")
        hours, minutes = (int(part) for part in entry.start.split(":"))
        days = (WEEKDAYS.index(day) for day in entry.days)
        windows.append(
            MaintenanceWindow(
                name=entry.name,
                platforms=tuple(dict.fromkeys(entry.platforms)),
                days=frozenset(days),
                start=time(hours, minutes),
                duration=timedelta(seconds=entry.duration),
                timezone=entry.timezone or "",
            )
        )
    return windows


def _status_page_settings(
    model: _StatusPageModel, *, daemon: DaemonSettings, source: str
) -> StatusPageSettings:
    listen = None if model.listen is None else _parse_endpoint(model.listen, 8080)
    if (
        listen is not None
        and listen.port == daemon.listen.port
        and (
            listen.host == daemon.listen.host or "0.0.0.0" in (listen.host, daemon.listen.host)  # noqa: S104
        )
    ):
        raise _config_error(
            "the status page needs a listener of its own, apart from daemon.listen",
            key="status_page.listen",
            source=source,
        )
    base_url = model.base_url
    if base_url is not None and not base_url.endswith("/"):
        base_url += "/"
    return StatusPageSettings(
        listen=listen,
        directory=model.directory,
        languages=tuple(dict.fromkeys(model.languages)),
        title=model.title,
        publish_every_s=model.publish_every,
        base_url=base_url,
        history_days=model.history_days,
    )
