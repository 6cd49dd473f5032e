"""Shared pytest fixtures. Keep each fixture small and documented; add yours below."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from workbench.config import Config
from workbench.simulate import simulate_shop
from workbench.store import Store

DEMO_TZ = "Asia/Kolkata"
DEMO_END = date(2026, 11, 1)  # a Sunday: the simulated shop closes at 13:00


def _store(root: Path, timezone: str = DEMO_TZ) -> Store:
    return Store(root, Config(store=root, timezone=timezone))


@pytest.fixture
def make_store(tmp_path: Path) -> Callable[..., Store]:
    """Factory of empty stores under tmp_path: ``make_store("a", timezone="UTC")``."""
    return lambda name="store", timezone=DEMO_TZ: _store(tmp_path / name, timezone)


@pytest.fixture(scope="session")
def demo_end() -> date:
    """The last simulated day of ``demo_store``."""
    return DEMO_END


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """Four simulated weeks of one shop (seed 0, Asia/Kolkata) ending on DEMO_END.

    Shared by the whole session: read it, never write to it.
    """
    store = _store(tmp_path_factory.mktemp("demo") / "store")
    simulate_shop(store, days=28, end=DEMO_END, seed=0)
    return store
