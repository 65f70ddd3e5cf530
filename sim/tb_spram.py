"""cocotb testbench of ``snnfpga.hw.spram.SinglePortRAM``: one operation a cycle.

Data: ``{"ops": [[op, addr, data], ...]}`` with ``op`` 0 idle, 1 read, 2 write. The output
``"r_data"`` is the read data seen in the cycle after each operation; the test compares it
with a model of the memory (a read returns the word, idling holds it, a write leaves it
undefined).
"""

from __future__ import annotations

import cocotb
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge
from snnfpga.sim.testbench import load_data, reset, save_output, start_clock


@cocotb.test(timeout_time=100, timeout_unit="ms")
async def operations(dut):
    data = load_data()
    start_clock(dut)
    dut.r_en.value = dut.w_en.value = 0
    await reset(dut)
    seen = []
    for op, addr, word in data["ops"]:
        await FallingEdge(dut.clk)
        dut.r_en.value = int(op == 1)
        dut.w_en.value = int(op == 2)
        dut.r_addr.value = addr
        dut.w_addr.value = addr
        dut.w_data.value = word
        await RisingEdge(dut.clk)
        await ReadOnly()
        value = dut.r_data.value
        seen.append(int(value) if value.is_resolvable else None)
    save_output("r_data", seen)
