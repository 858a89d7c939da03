"""The garbage collector of a serving process, set for short pauses.

Under load the core allocates briefly-lived objects by the hundred thousand a second (requests,
rows, decisions). With CPython's default thresholds (700, 10, 10) the collector runs a young
collection every 700 net allocations and now and then a full one, which walks every object the
process holds (its imported modules and caches included) while the event loop waits: at 500
authorizations a second those pauses were what set the p99 (docs/performance.md). Once startup is
over, ``settle`` moves what exists to the permanent generation (``gc.freeze``: never scanned
again) and raises the thresholds, so collections are rarer and scan only what came after.
"""

from __future__ import annotations

import gc

DEFAULT_THRESHOLD = (50_000, 20, 100)


def settle(threshold: tuple[int, int, int] | None) -> None:
    """Collect, freeze what survives, and set ``threshold`` (``None``: keep CPython's)."""
    if threshold is None:
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(*threshold)


def parse_threshold(raw: str) -> tuple[int, int, int] | None:
    """``"50000,20,100"`` (three positive integers) or ``"default"`` (``None``)."""
    if raw.strip().lower() == "default":
        return None
    parts = raw.split(",")
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 3 or min(values) < 1:
        raise ValueError(f"three positive integers such as 50000,20,100, or default; got {raw!r}")
    return values  # type: ignore[return-value]
