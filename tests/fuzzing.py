"""What the fuzz tests share: their hypothesis settings and the odd values they feed in."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

__all__ = ["ODD_TEXT", "fuzz_settings"]


def fuzz_settings(max_examples: int, *, slow_examples: bool = False) -> settings:
    """Bounded runs with no per-example deadline (a loaded machine is not a failure); in CI
    derandomised by the suite's ``ci`` profile (``tests/conftest.py``), like every property
    test. ``slow_examples`` is for tests whose every example crosses a real protocol:
    hypothesis would otherwise call them too slow to generate data for."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow] if slow_examples else [],
    )


#: Text that has broken parsers and log lines before: control characters, line and
#: paragraph separators, bidirectional overrides, a byte order mark, combining marks,
#: characters beyond the BMP, numbers that do not fit, and plain noise.
ODD_TEXT = st.sampled_from(
    [
        "", " ", "\x00", "\n", "\r\n", "\t", "\x1b[31m", "\u0085", "\u2028", "\u2029", "\u202e",
        "\u200b", "\ufeff", "e\u0301", "\U0001f4a9", "\uffff", "1e300", "-1e300", "1e-300",
        "nan", "inf", "-0", "99999999999999999999999", "0x10", "1_000", "﹩{env:X}",
    ]
) | st.text(max_size=12)  # fmt: skip
