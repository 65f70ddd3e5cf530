"""Arithmetic helpers for the gateware."""

from __future__ import annotations

from amaranth.hdl import Const, Value

__all__ = ["const_mul"]


def const_mul(value, k: int) -> Value:
    """``value * k`` for a constant ``k >= 0`` as shifts and adds.

    Synthesis maps a ``*`` to a DSP block even when one side is constant; the UP5K has 8,
    and the readout lanes and the sampler need them. Address arithmetic therefore uses this.
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, not {k}")
    value = Value.cast(value)
    terms = [value << i for i in range(k.bit_length()) if k >> i & 1]
    if not terms:
        return Const(0, 1)
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total
