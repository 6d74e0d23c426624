"""Every package has one front door: its ``__init__`` offers exactly the names ``__all__``
lists, sorted for readers (constants first), and everything else is a private module."""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest

PACKAGES = (
    "failover.api",
    "failover.config",
    "failover.contacts",
    "failover.demo",
    "failover.detect",
    "failover.notify",
    "failover.probes",
    "failover.service",
    "failover.status_page",
    "failover.store",
    "failover.testing",
)


def _package(name: str) -> ModuleType:
    return importlib.import_module(name)


@pytest.mark.parametrize("name", PACKAGES)
def test_all_lists_every_public_name(name: str) -> None:
    package = _package(name)
    public = {
        attribute
        for attribute, value in vars(package).items()
        if not attribute.startswith("_") and not isinstance(value, ModuleType)
    }
    public.discard("annotations")  # ``from __future__ import annotations``
    assert public == set(package.__all__)


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_for_readers(name: str) -> None:
    names = list(_package(name).__all__)
    assert names == sorted(names, key=lambda n: (not n.isupper(), n))
