"""The configuration loader under fuzzing: whatever a file holds, it loads, or it is refused
with one ConfigError line that says where (the key path, or the line of the file).

The fuzzed files start from the shipped ones (``config/*.toml`` and the tests' file with
secrets) and are mutated as people and tools get them wrong: values of another type, huge
numbers, odd unicode, keys renamed, removed or added, tables and arrays nested too deep, and
bytes that are not UTF-8.
"""

from __future__ import annotations

import copy
import re
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import apprise
import pytest
import tomlkit
from hypothesis import given
from hypothesis import strategies as st

from failover.config import MAX_DURATION_S, Config, load_config, parse_config, parse_duration
from failover.errors import ConfigError
from tests.config.test_config import secrets_env
from tests.fuzzing import ODD_TEXT, fuzz_settings

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = {
    "example": ROOT / "config" / "failover.example.toml",
    "local": ROOT / "config" / "local.toml",
    "with-secrets": ROOT / "tests" / "data" / "with-secrets.toml",
}
#: a loopback-only preamble: no catalog, no controls needed
BARE = "[catalog]\nbuiltin = false\n[detection]\ncontrol_quorum = 0\n"
#: the key of an unknown key at the top of the file is the file itself: the message quotes it
TOP_LEVEL_KEY = re.compile(r"^unknown key '.+'$")
#: control characters, which no error line may hold as such
CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: a duration key of each section (the same parser reads them all); BARE ends in [detection]
DURATION_KEYS = [
    ("[daemon]", "retention"),
    ("[platforms.p]", "interval"),
    (
        '[platforms.p]\n[[platforms.p.checks]]\nkind = "tcp"\nname = "t"\nhost = "127.0.0.1"\nport = 9',
        "timeout",
    ),
    ("", "flap_window"),
    ("", "degraded_after"),
    ("", "confirm_timeout"),
    ("[notify]", "backoff_base"),
    ("[probes]", "lookup_timeout"),
    ("[status_page]", "publish_every"),
    ('[[routes]]\nname = "r"\ntemplate = "outage"', "reminder_every"),
]


def assert_loaded_or_placed(load: Any) -> Config | None:
    """``load()`` gives a Config, or raises a ConfigError whose one line names a key or a line."""
    try:
        return load()  # type: ignore[no-any-return]
    except ConfigError as exc:
        refused = exc
    message = str(refused)
    assert message.splitlines() == [message], message
    assert not CONTROLS.search(message), message
    assert refused.key or refused.line or TOP_LEVEL_KEY.match(refused.message), message
    return None


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where fuzzed files are written (one directory: hypothesis runs many examples per test)."""
    return tmp_path_factory.mktemp("fuzz-config")


def shipped_env(directory: Path) -> dict[str, str]:
    """What the shipped files refer to: the variables and the credential file of with-secrets."""
    return secrets_env(directory) | {"X": "1"}


# --------------------------------------------------------------------------------- mutations

scalars = st.one_of(
    st.integers(),
    st.integers(min_value=2**63, max_value=2**200),
    st.floats(),
    st.sampled_from([1e300, -1e300, 5e-324]),
    st.booleans(),
    ODD_TEXT,
    st.sampled_from(
        [
            "1e300", "1e300s", "99999999999999d", "-1s", "0s", "1h-30m", "127.0.0.1:99999", "[::1",
            "http://127.0.0.1:1/", "http://[::1/", "mailto://127.0.0.1:9?to=alice+news@example.org",
            "alice+news@example.org", "+33 6 12 34 56 78", "Europe/Nowhere", "(((", "a{999999999999}",
            "${env:X}", "${env:NOT_SET}", "${file:/nonexistent}", "${", "$${", "2xx", "999-100",
        ]
    ),
    st.datetimes(),
    st.dates(),
    st.times(),
)  # fmt: skip
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ODD_TEXT, inner, max_size=3),
    max_leaves=6,
)


def places(tree: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key path of a parsed TOML document (tables and arrays), the root excluded."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield (*at, key)
            yield from places(value, (*at, key))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            yield (*at, index)
            yield from places(value, (*at, index))


def nested(depth: int, leaf: Any) -> Any:
    for _ in range(depth):
        leaf = {"a": leaf}
    return leaf


@st.composite
def mutated_documents(draw: st.DrawFn) -> dict[str, Any]:
    """A shipped file, parsed, with one to four mutations."""
    tree: dict[str, Any] = copy.deepcopy(draw(st.sampled_from(list(PARSED.values()))))
    for _ in range(draw(st.integers(1, 4))):
        where = list(places(tree))
        if not where:
            break
        path = draw(st.sampled_from(where))
        parent = tree
        for part in path[:-1]:
            parent = parent[part]
        last = path[-1]
        operation = draw(st.sampled_from(["replace", "delete", "rename", "add", "wrap", "deepen"]))
        if operation == "replace":
            parent[last] = draw(values)
        elif operation == "delete":
            del parent[last]
        elif operation == "rename" and isinstance(parent, dict):
            parent[last + draw(ODD_TEXT)] = parent.pop(last)
        elif operation == "add" and isinstance(parent[last], dict):
            parent[last][draw(ODD_TEXT)] = draw(values)
        elif operation == "wrap":
            parent[last] = draw(st.sampled_from([[parent[last]], {"value": parent[last]}]))
        elif operation == "deepen":
            parent[last] = nested(draw(st.integers(1, 40)), parent[last])
    return tree


PARSED = {name: tomllib.loads(path.read_text(encoding="utf-8")) for name, path in SHIPPED.items()}


class TestShippedFiles:
    """The starting points of the fuzzing load as they are."""

    @pytest.mark.parametrize("name", sorted(SHIPPED))
    def test_each_loads(self, name: str, tmp_path: Path) -> None:
        """Each shipped file is a valid configuration."""
        assert isinstance(load_config(SHIPPED[name], env=shipped_env(tmp_path), cwd=tmp_path), Config)


@pytest.mark.slow
class TestMutatedFiles:
    """Mutated files load or are refused with one line naming the key or the line."""

    @fuzz_settings(150)
    @given(document=mutated_documents())
    def test_mutated_documents(self, document: dict[str, Any], workdir: Path) -> None:
        """Values, types, keys and nesting changed in a parsed shipped file."""
        path = workdir / "failover.toml"
        path.write_text(tomlkit.dumps(document), encoding="utf-8")
        assert_loaded_or_placed(lambda: load_config(path, env=shipped_env(workdir), cwd=workdir))

    @fuzz_settings(150)
    @given(
        name=st.sampled_from(sorted(SHIPPED)),
        where=st.floats(0, 1),
        cut=st.integers(0, 40),
        insert=ODD_TEXT | st.sampled_from(["[", "]]", "{", '"', "'''", "=", ".", "\n[x]\n", "#"]),
    )
    def test_edited_text(self, name: str, where: float, cut: int, insert: str, workdir: Path) -> None:
        """A slice of the text replaced by something else (a syntax error, most often)."""
        text = SHIPPED[name].read_text(encoding="utf-8")
        at = int(where * len(text))
        edited = text[:at] + insert + text[at + cut :]
        env = shipped_env(workdir)
        assert_loaded_or_placed(lambda: parse_config(edited, source="f.toml", env=env, cwd=workdir))

    @fuzz_settings(100)
    @given(where=st.floats(0, 1), insert=st.binary(min_size=1, max_size=4))
    def test_edited_bytes(self, where: float, insert: bytes, workdir: Path) -> None:
        """Bytes inserted in a file (not UTF-8, most often): the error names the line."""
        data = SHIPPED["local"].read_bytes()
        at = int(where * len(data))
        path = workdir / "failover.toml"
        path.write_bytes(data[:at] + insert + data[at:])
        assert_loaded_or_placed(lambda: load_config(path, env={}, cwd=workdir))


class TestDeepNesting:
    """Nesting a few thousand levels deep is refused at once, never a RecursionError."""

    @pytest.mark.parametrize("depth", [33, 1_000, 100_000])
    @pytest.mark.parametrize(
        ("template", "line"),
        [
            ("x = {open}{close}", 1),
            ("\n\nx = {inline}", 3),
            ('s = """[[[\n"""\nx = {open}{close}', 3),
            ("[platforms.p]\ndisplay_name = {open}{close}", 2),
        ],
    )
    def test_arrays_and_inline_tables(self, depth: int, template: str, line: int) -> None:
        """Arrays and inline tables too deep: refused naming the line, in well under a second."""
        text = template.format(
            open="[" * depth, close="]" * depth, inline="{a = " * depth + "1" + "}" * depth
        )
        started = time.monotonic()
        with pytest.raises(ConfigError, match="nested more than 32 levels deep") as caught:
            parse_config(BARE + text, source="f.toml", env={})
        assert caught.value.line == line + BARE.count("\n")
        assert time.monotonic() - started < 1.0

    @pytest.mark.parametrize("depth", [33, 2_000])
    @pytest.mark.parametrize("template", ["[platforms.{parts}]", "[platforms.p]\n{parts} = 1"])
    def test_tables_and_dotted_keys(self, depth: int, template: str) -> None:
        """Tables nested by their keys: refused naming the key path, cut at the limit."""
        text = template.format(parts=".".join(["a"] * depth))
        with pytest.raises(ConfigError, match="nested more than 32 levels deep") as caught:
            parse_config(BARE + text, source="f.toml", env={})
        assert caught.value.key is not None
        assert caught.value.key.count(".") == 31

    def test_brackets_in_strings_and_comments_do_not_count(self) -> None:
        """Brackets quoted or commented out are not nesting."""
        deep = "[" * 100
        text = (
            f'# {deep}\n[groups.team]\ndescription = "{deep}"\n'
            f"[groups.board]\ndescription = '''\n{deep}\n'''\n"
        )
        config = parse_config(BARE + text, source="f.toml", env={})
        assert sorted(config.groups) == ["board", "team"]

    def test_just_below_the_limit_is_a_value(self) -> None:
        """32 levels, counted from the top of the file, are read (and refused for their type)."""
        with pytest.raises(ConfigError, match=r"^f\.toml: daemon\.timezone: ") as caught:
            parse_config(BARE + "[daemon]\ntimezone = " + "[" * 31 + "]" * 31, source="f.toml", env={})
        assert "nested" not in str(caught.value)
        with pytest.raises(ConfigError, match="nested more than 32 levels deep"):
            parse_config(BARE + "[daemon]\ntimezone = " + "[" * 32 + "]" * 32, source="f.toml", env={})


class TestHugeAndOddValues:
    """Values that overflowed a date or the stack later are refused, naming their key."""

    @pytest.mark.parametrize(("section", "key"), DURATION_KEYS)
    @pytest.mark.parametrize("value", ['"1e300"', "1e300", '"99999999999d"', '"36501d"'])
    def test_durations_longer_than_a_century(self, section: str, key: str, value: str) -> None:
        """A duration over 100 years is a slip, refused before it overflows a date."""
        message = error_of(f"{section}\n{key} = {value}\n")
        assert message.endswith(f"{key}: expected a duration of at most 36500d"), message

    def test_a_century_is_accepted(self) -> None:
        """The limit itself is a duration."""
        config = parse_config(BARE + '[daemon]\nretention = "36500d"\n', source="f.toml", env={})
        assert config.daemon.retention.total_seconds() == MAX_DURATION_S

    def test_confirm_after_in_an_array(self) -> None:
        """Durations in an array are each checked, the index named."""
        assert error_of('confirm_after = ["2s", "1e300"]').endswith(
            "detection.confirm_after[1]: expected a duration of at most 36500d"
        )

    def test_parse_duration_without_a_limit(self) -> None:
        """A caller that handles the overflow itself may ask for any finite duration."""
        assert parse_duration("1e300", at_most=None) == 1e300
        with pytest.raises(ValueError, match="at most 36500d"):
            parse_duration("1e300")

    @pytest.mark.parametrize(
        ("pattern", "reason"),
        [
            ("a{99999999999}", "a repetition count is too large"),
            ("(" * 1000 + ")" * 1000, "groups nested too deeply"),
            ("(", "missing ), unterminated subpattern"),
        ],
    )
    @pytest.mark.slow
    def test_body_patterns_that_do_not_compile(self, pattern: str, reason: str) -> None:
        """A regular expression the re module cannot take is a ConfigError naming the key."""
        message = error_of(
            "[platforms.p]\n[[platforms.p.checks]]\n"
            f'kind = "http"\nname = "h"\nurl = "http://127.0.0.1:9/"\nbody_pattern = \'{pattern}\'\n'
        )
        assert message.endswith(
            f"platforms.p.checks[0].body_pattern: not a valid regular expression: {reason}"
        )

    def test_a_pattern_that_draws_a_future_warning_is_valid(self) -> None:
        """A pattern Python warns about (a possible nested set) is not an error."""
        config = parse_config(
            BARE + "[platforms.p]\n[[platforms.p.checks]]\n"
            'kind = "http"\nname = "h"\nurl = "http://127.0.0.1:9/"\nbody_pattern = "[[a]"\n',
            source="f.toml",
            env={},
        )
        assert config.platform("p") is not None

    @pytest.mark.parametrize(
        ("key", "shown"),
        [
            ('"a\\nb"', "a\\nb"),
            ('"a\\u202eb"', "a\\u202eb"),
            ('"a\\u2028b"', "a\\u2028b"),
            ('"a\\u0000b"', "a\\x00b"),
            ('"\\u00e9t\\u00e9"', "été"),
        ],
    )
    def test_keys_with_odd_characters_stay_on_one_line(self, key: str, shown: str) -> None:
        """An unknown key is quoted with its line breaks and controls escaped, nothing else."""
        message = error_of(f"[daemon]\n{key} = 1\n")
        assert message == f"f.toml: daemon: unknown key '{shown}'"


class TestFileEncoding:
    """The file's bytes: UTF-8, with or without an editor's byte order mark."""

    def test_a_byte_order_mark_is_not_text(self, tmp_path: Path) -> None:
        """A file saved with a BOM loads."""
        path = tmp_path / "failover.toml"
        path.write_bytes(b"\xef\xbb\xbf" + BARE.encode())
        assert load_config(path, env={}).platforms == ()

    def test_bytes_that_are_not_utf8_name_their_line(self, tmp_path: Path) -> None:
        """Latin-1 (or any non-UTF-8) bytes are refused naming the line they are on."""
        path = tmp_path / "failover.toml"
        path.write_bytes(BARE.encode() + b"[groups.caf\xe9]\n")
        with pytest.raises(ConfigError, match=r":5: not UTF-8 text$"):
            load_config(path, env={})


class TestPlusAddresses:
    """A '+' in an e-mail address stays a '+' (it was once read as a space)."""

    SMTP = 'smtp_url = "mailto://127.0.0.1:9?from=failover@example.org"'

    @pytest.mark.parametrize(
        "channel",
        [
            '{ email = "alice+news@example.org" }',
            '{ url = "mailto://127.0.0.1:9?from=failover@example.org&to=alice+news@example.org" }',
            '{ url = "mailto://127.0.0.1:9?from=failover@example.org&to=alice%2Bnews@example.org" }',
        ],
    )
    def test_the_mail_server_is_given_the_plus(self, channel: str) -> None:
        """By key or in a URL written by hand, the address apprise sends to has its '+'."""
        config = parse_config(
            f'{BARE}[notify]\n{self.SMTP}\n[[contacts]]\nname = "Alice"\nchannels = [{channel}]\n',
            source="f.toml",
            env={},
        )
        [contact] = config.contacts
        [channel_] = contact.channels
        sender = apprise.Apprise.instantiate(channel_.url)
        assert [address for _, address in sender.targets] == ["alice+news@example.org"]


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(BARE + text, source="f.toml", env={})
    message = str(caught.value)
    assert message.splitlines() == [message]
    return message
