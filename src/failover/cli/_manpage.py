"""``failover man``: the manual page, failover(1), written in troff from the CLI itself.

Hidden from ``--help``: it is for packagers and the curious, and it is generated from the
commands' own help so that the two never disagree::

    failover man > failover.1 && man -l failover.1
    failover man | gzip -9n > /usr/local/share/man/man1/failover.1.gz
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator

import click

from failover import __version__
from failover.cli._main import main

#: characters troff has its own names for (man-db's preconv handles the rest of UTF-8)
_GLYPHS = {
    "\u2014": r"\(em",  # em dash
    "\u2013": r"\(en",  # en dash
    "\u2026": r"\&...",  # horizontal ellipsis
    "\u2019": "'",  # right single quotation mark
    "\u201c": r"\(lq",  # left double quotation mark
    "\u201d": r"\(rq",  # right double quotation mark
    "\u2192": r"\(->",  # rightwards arrow
}

_EXIT_STATUS = (
    ("0", "success; for check and status: OK, every platform up."),
    (
        "1",
        "the command failed (invalid configuration or input, refused, an error); "
        "for check and status: WARNING, a platform degraded.",
    ),
    ("2", "check and status only: CRITICAL, a platform down."),
    (
        "3",
        "a usage error (unknown option or command, missing or malformed argument); for check "
        "and status: UNKNOWN, nothing can be said of platforms (our own connectivity is lost, "
        "no round judged yet, the configuration or the database cannot be read).",
    ),
)

_ENVIRONMENT = (
    ("FAILOVER_CONFIG", "the configuration file, when --config is not given."),
    (
        "STATE_DIRECTORY",
        "where the default SQLite database lives (set by systemd's StateDirectory=; ./var otherwise).",
    ),
    (
        "_FAILOVER_COMPLETE",
        "shell completion: bash_source, zsh_source or fish_source prints the script "
        "to load (see SHELL COMPLETION).",
    ),
    ("NO_COLOR", "no colours in tables and readable logs."),
)

_FILES = (
    (
        "/etc/failover/failover.toml",
        "the configuration, when neither --config nor $FAILOVER_CONFIG names one.",
    ),
    ("./failover.toml", "searched before /etc/failover/failover.toml."),
    ("/etc/failover/failover.env", "the systemd unit's environment: secrets referenced as ${env:NAME}."),
    ("/var/lib/failover/failover.db", "the database under the systemd unit (StateDirectory=failover)."),
)


def escape(text: str) -> str:
    """``text`` safe in a troff text line: backslashes and troff's own glyphs escaped."""
    text = text.replace("\\", r"\e")
    for glyph, name in _GLYPHS.items():
        text = text.replace(glyph, name)
    return text


def _line(text: str) -> str:
    """One text line; a leading ``.`` or ``'`` would be read as a request."""
    text = escape(text)
    return rf"\&{text}" if text.startswith((".", "'")) else text


def _option(text: str) -> str:
    """An option's synopsis in bold, with real minus signs (``\\-``, not hyphens)."""
    return r"\fB" + escape(text).replace("-", r"\-") + r"\fR"


def _paragraphs(help_text: str) -> Iterator[list[str]]:
    """The paragraphs of a command's help as click shows them: up to ``\\f``; a paragraph
    after a ``\\b`` line keeps its lines."""
    text = inspect.cleandoc(help_text).split("\f", 1)[0]
    for block in text.split("\n\n"):
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        if not lines:
            continue
        if lines[0] == "\b":
            yield lines[1:]
        else:
            yield [" ".join(lines)]


def _help(help_text: str | None) -> list[str]:
    out: list[str] = []
    for number, paragraph in enumerate(_paragraphs(help_text or "")):
        if number:
            out.append(".PP")
        if len(paragraph) > 1:
            out.append(".nf")
            out.extend(_line(line) for line in paragraph)
            out.append(".fi")
        else:
            out.append(_line(paragraph[0]))
    return out


def _options(command: click.Command, ctx: click.Context) -> list[str]:
    """Each visible option with its help; ``--help`` only once, on the root."""
    out: list[str] = []
    for param in command.get_params(ctx):
        if not isinstance(param, click.Option) or ("--help" in param.opts and ctx.parent is not None):
            continue
        record = param.get_help_record(ctx)
        if record is None:  # hidden
            continue
        synopsis, help_text = record
        out.extend([".TP", _option(synopsis), _line(" ".join(help_text.split()))])
    return out


def _commands(group: click.Group, ctx: click.Context) -> Iterator[tuple[click.Command, click.Context]]:
    """Every visible command under ``group``, depth first, in the order ``--help`` lists them."""
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        sub = click.Context(command, info_name=name, parent=ctx)
        if isinstance(command, click.Group):
            yield from _commands(command, sub)
        else:
            yield command, sub


def render_man_page(root: click.Group) -> str:
    """failover(1) in troff (the man macros): name, synopsis, description, the options,
    each command with its own options, exit status, environment, files, completion."""
    ctx = click.Context(root, info_name="failover")
    description = _help(root.help)
    out = [
        rf'.TH FAILOVER 1 "" "failover {escape(__version__)}" "User Commands"',
        ".SH NAME",
        r"failover \- watch the platforms people talk through; tell them where to go when one goes dark",
        ".SH SYNOPSIS",
        r".B failover",
        r"[\fIOPTIONS\fR] \fICOMMAND\fR [\fIARGUMENTS\fR]...",
        ".SH DESCRIPTION",
        *description,
        ".SH OPTIONS",
        *_options(root, ctx),
        ".SH COMMANDS",
    ]
    for command, sub in _commands(root, ctx):
        usage = " ".join(command.collect_usage_pieces(sub))
        out.append(f'.SS "{escape(sub.command_path)} {escape(usage)}"')
        out.extend(_help(command.help))
        out.extend(_options(command, sub))
    out.append(".SH EXIT STATUS")
    for code, meaning in _EXIT_STATUS:
        out.extend([".TP", rf"\fB{code}\fR", _line(meaning)])
    out.append(".SH ENVIRONMENT")
    for name, meaning in _ENVIRONMENT:
        out.extend([".TP", _option(name), _line(meaning)])
    out.append(".SH FILES")
    for path, meaning in _FILES:
        out.extend([".TP", rf"\fI{escape(path)}\fR", _line(meaning)])
    out.extend(
        [
            ".SH SHELL COMPLETION",
            _line("Commands, options and their values complete in bash, zsh and fish; load the script once:"),
            ".PP",
            ".nf",
            ".RS",
            _line('eval "$(_FAILOVER_COMPLETE=bash_source failover)"    # ~/.bashrc'),
            _line('eval "$(_FAILOVER_COMPLETE=zsh_source failover)"     # ~/.zshrc'),
            _line("_FAILOVER_COMPLETE=fish_source failover > ~/.config/fish/completions/failover.fish"),
            ".RE",
            ".fi",
            ".SH SEE ALSO",
            r"\fBsystemctl\fR(1), \fBjournalctl\fR(1), \fBprometheus\fR(1)",
            ".PP",
            _line("README.md and config/failover.example.toml in the source distribution."),
        ]
    )
    return "\n".join(out) + "\n"


@main.command("man", hidden=True)
def man_page() -> None:
    """Write the manual page, failover(1), in troff to stdout."""
    click.echo(render_man_page(main), nl=False)
