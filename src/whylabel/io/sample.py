"""A uniform random sample of a stream in one pass (reservoir sampling), kept in stream order."""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import TypeVar

T = TypeVar("T")


def reservoir_sample(items: Iterable[T], size: int, seed: int = 0) -> tuple[list[T], int]:
    """(`size` items drawn uniformly without replacement, in their original order; how many there
    were). Every item has the same chance, whatever the stream's length, which is not known ahead:
    item i (0-based) replaces a random kept one with probability size / (i + 1) (Algorithm R).
    The same seed and stream give the same sample. Fewer items than `size`: all of them."""
    if size < 1:
        raise ValueError(f"a sample needs at least 1 item, not {size}")
    rng = random.Random(seed)
    kept: list[tuple[int, T]] = []
    seen = 0
    for seen, item in enumerate(items, start=1):
        if seen <= size:
            kept.append((seen, item))
        else:
            slot = rng.randrange(seen)
            if slot < size:
                kept[slot] = (seen, item)
    kept.sort(key=lambda pair: pair[0])
    return [item for _, item in kept], seen
