# amaranth: UnusedElaboratable=no
"""Lfsr32's Verilog in Verilator (cocotb) against golden.Lfsr32: draws through stalls, reloads."""

from __future__ import annotations

import pytest
from snnfpga.hw.lfsr import Lfsr32
from snnfpga.model import golden
from snnfpga.sim.build import missing_tools, run

pytestmark = pytest.mark.skipif(bool(missing_tools()), reason="the Verilator co-simulation needs "
                                + ", ".join(missing_tools()))

STATES = [1, 0xFFFFFFFF, golden.seed_to_state(0), golden.seed_to_state(1),
          golden.seed_to_state(2**32 - 2), 0x80000000, 0x80200003, 0x12345678]


# 8 bits: the Gumbel index; 32: the widest unrolling (32 chained steps in the Verilog)
@pytest.mark.slow
@pytest.mark.parametrize("bits", [8, 32])
def test_lfsr_verilog_matches_golden(bits):
    result = run(Lfsr32(draw_bits=bits), f"lfsr32_draw{bits}", test_module="snnfpga.sim.tb_lfsr",
                 data=dict(seed=bits, draw_bits=bits, states=STATES, draws=200, stall=0.3))
    assert result.tests == 2
