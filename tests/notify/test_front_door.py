"""The package has one front door, and ``__all__`` lists everything it offers."""

from __future__ import annotations

import failover.notify


def test_all_lists_every_public_name() -> None:
    public = {name for name in vars(failover.notify) if not name.startswith("_")}
    assert public == set(failover.notify.__all__)


def test_all_is_sorted_for_readers() -> None:
    assert list(failover.notify.__all__) == sorted(
        failover.notify.__all__, key=lambda n: (not n.isupper(), n)
    )
