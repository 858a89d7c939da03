"""The serving process's garbage-collector settings (entrypoints/runtime/garbage.py)."""

from __future__ import annotations

import gc

import pytest

from entrypoints.runtime import garbage
from entrypoints.settings import ConfigError, Settings


def test_the_default_is_rarer_collections_and_default_keeps_cpythons() -> None:
    assert Settings.from_env({}).gc_threshold == garbage.DEFAULT_THRESHOLD == (50_000, 20, 100)
    assert Settings.from_env({"BURSAR_GC_THRESHOLD": "1000, 5, 5"}).gc_threshold == (1000, 5, 5)
    assert Settings.from_env({"BURSAR_GC_THRESHOLD": "default"}).gc_threshold is None


@pytest.mark.parametrize("raw", ["1000,5", "1000,5,5,5", "a,b,c", "0,10,10", "-1,10,10"])
def test_a_bad_threshold_is_refused_at_start(raw: str) -> None:
    with pytest.raises(ConfigError, match="BURSAR_GC_THRESHOLD must be three positive integers"):
        Settings.from_env({"BURSAR_GC_THRESHOLD": raw})


def test_settling_freezes_what_exists_and_sets_the_threshold() -> None:
    before, frozen = gc.get_threshold(), gc.get_freeze_count()  # an app served in this process may have settled it
    try:
        garbage.settle(None)
        assert gc.get_threshold() == before and gc.get_freeze_count() == frozen
        gc.unfreeze()
        garbage.settle((12_345, 6, 7))
        assert gc.get_threshold() == (12_345, 6, 7) and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
