"""cocotb testbench of ``snnfpga.hw.lif.LIFUnit``: one neuron update per cycle (SPEC.md 3.2).

Data (``snnfpga.sim.build.run(data=...)``), computed by the caller with the golden model::

    {"latency": 0 | 1,                      # as built
     "seed": int,                           # of the repeat pattern
     "repeat": float,                       # probability of holding the previous inputs
     "cases": [[v, leak, w_in, drive_en, acc], ...],
     "expected": [[v_next, spike], ...]}

The unit has no handshake: every input produces an output (latency 0: in the same cycle,
latency 1: one clock later), so there is nothing to stall. Instead the inputs are held for a
random number of extra cycles now and then (the output must repeat), and for latency 1 the
output right after reset is checked too (the register resets to 0: ``v_next = 0``, no spike).
"""

from __future__ import annotations

import random

import cocotb
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge, Timer
from snnfpga.sim.testbench import load_data, start_clock


class TB:
    """Drives the five inputs of one case; reads ``(v_next, spike)``."""

    PORTS = ("v", "leak", "w_in", "drive_en", "acc")

    def __init__(self, dut, data):
        self.dut = dut
        self.latency = data["latency"]
        self.cases = [tuple(c) for c in data["cases"]]
        self.expected = [tuple(e) for e in data["expected"]]
        rng = random.Random(data["seed"])
        # case index driven in each cycle: every case once, some held for extra cycles
        self.schedule = []
        for i in range(len(self.cases)):
            self.schedule.append(i)
            while rng.random() < data["repeat"]:
                self.schedule.append(i)
        self.got: list[tuple[int, int]] = []   # one output per case, first of its cycles
        self.mismatches: list[str] = []

    def drive(self, case) -> None:
        for port, value in zip(self.PORTS, case, strict=True):
            getattr(self.dut, port).value = value

    def read(self) -> tuple[int, int]:
        return self.dut.v_next.value.to_signed(), int(self.dut.spike.value)

    def check(self, cycle: int, index: int, got: tuple[int, int]) -> None:
        if got != self.expected[index]:
            self.mismatches.append(
                f"case {index} (cycle {cycle}): inputs (v, leak, w_in, drive_en, acc) = "
                f"{self.cases[index]}, expected (v_next, spike) = {self.expected[index]}, "
                f"got {got}")

    def report(self) -> None:
        assert not self.mismatches, (f"{len(self.mismatches)} of {len(self.schedule)} cycles "
                                     f"differ; first: {self.mismatches[0]}")


@cocotb.test(timeout_time=20, timeout_unit="ms")
async def updates_match_golden(dut):
    """Every neuron update equals the golden model's, inputs held now and then."""
    tb = TB(dut, load_data())
    if tb.latency == 0:
        # purely combinational: the Verilog has no clock; settle each case in its own step
        for cycle, index in enumerate(tb.schedule):
            await Timer(1, unit="ns")
            tb.drive(tb.cases[index])
            await ReadOnly()
            tb.check(cycle, index, tb.read())
    else:
        # the reset must win over whatever the inputs are
        dut.rst.value = 1
        tb.drive(tb.cases[-1])
        start_clock(dut)
        await ClockCycles(dut.clk, 2)
        await ReadOnly()
        after_reset = tb.read()
        assert after_reset == (0, 0), f"output after reset {after_reset}, expected (0, 0)"
        previous = None
        for cycle, index in enumerate(tb.schedule + [None]):
            await RisingEdge(dut.clk)
            dut.rst.value = 0
            if index is not None:
                tb.drive(tb.cases[index])
            await ReadOnly()
            if previous is not None:
                tb.check(cycle, previous, tb.read())
            previous = index
    tb.report()
    dut._log.info("%d updates in %d cycles checked", len(tb.cases), len(tb.schedule))
