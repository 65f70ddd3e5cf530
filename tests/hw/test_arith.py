"""Constant multiplication as shifts and adds."""

from __future__ import annotations

import pytest

pytest.importorskip("amaranth")

from amaranth.hdl import Module, Signal  # noqa: E402
from amaranth.sim import Simulator  # noqa: E402
from snnfpga.hw.arith import const_mul  # noqa: E402


def test_const_mul_equals_multiplication():
    x = Signal(9)
    ks = [0, 1, 2, 7, 64, 74, 130, 1024, 1023]
    outs = [Signal(21, name=f"y{k}") for k in ks]
    m = Module()
    m.d.comb += [o.eq(const_mul(x, k)) for o, k in zip(outs, ks, strict=True)]

    async def bench(ctx):
        for v in (0, 1, 5, 255, 300, 511):
            ctx.set(x, v)
            for o, k in zip(outs, ks, strict=True):
                assert ctx.get(o) == v * k, (v, k)

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    with pytest.raises(ValueError, match="k must be >= 0, not -1"):
        const_mul(x, -1)
