"""Small helpers the layers share, as torch's ``torch/nn/modules/utils.py``: sizes given as one
int or a tuple, and padding orders."""

from __future__ import annotations

import collections.abc
from itertools import repeat


def _ntuple(n: int, name: str):
    def parse(x):
        if isinstance(x, collections.abc.Iterable):
            return tuple(x)
        return tuple(repeat(x, n))

    parse.__name__ = name
    return parse


#: ``_pair(3) == (3, 3)``, ``_pair((1, 2)) == (1, 2)``: a size for each spatial dimension.
_single = _ntuple(1, "_single")
_pair = _ntuple(2, "_pair")
_triple = _ntuple(3, "_triple")


def _reverse_repeat_tuple(t, n: int) -> tuple:
    """``t`` reversed, each element ``n`` times: a Conv's padding as ``F.pad`` takes it (the last
    dimension first), ``(1, 2) -> (2, 2, 1, 1)``."""
    return tuple(x for x in reversed(t) for _ in range(n))


def _list_with_default(out_size, defaults) -> list[int] | int:
    """An adaptive pool's output size, with each None replaced by the input's size there."""
    if isinstance(out_size, int):
        return out_size
    if len(defaults) <= len(out_size):
        raise ValueError(f"Input dimension should be at least {len(out_size) + 1}")
    return [v if v is not None else d for v, d in zip(out_size, defaults[-len(out_size):])]
