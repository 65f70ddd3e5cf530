"""cocotb testbench of ``snnfpga.hw.lfsr.Lfsr32`` against ``golden.Lfsr32`` (SPEC.md section 6).

Data (``snnfpga.sim.build.run(data=...)``)::

    {"seed": int,            # of the testbench's random stalls
     "draw_bits": int,       # as built
     "states": [int, ...],   # LFSR states to load, 1 .. 2**32-1, one after another
     "draws": int,           # draws checked from each state
     "stall": float}         # probability of a cycle with advance low before a draw

The golden generator runs inside the simulator, beside the design: each cycle the design's
``draw`` and ``state`` are compared with it, while ``advance`` pauses at random and a load
arrives with ``advance`` high now and then (the load must win).
"""

from __future__ import annotations

import random

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge
from snnfpga.model import golden
from snnfpga.sim.testbench import load_data, reset, start_clock


class TB:
    """Clock, reset and the per-cycle drive-and-check of the LFSR against the golden model."""

    def __init__(self, dut, data):
        self.dut = dut
        self.bits = data["draw_bits"]
        self.rng = random.Random(data["seed"])
        self.checked = 0
        self.stalls = 0
        dut.advance.value = 0
        dut.load.value = 0
        dut.seed.value = 0

    async def start(self):
        start_clock(self.dut)
        await reset(self.dut)

    async def cycle(self, *, advance: int, load: int = 0, seed: int | None = None):
        """Drive one cycle's inputs; return (draw, state) as seen before the clock edge."""
        dut = self.dut
        dut.advance.value = advance
        dut.load.value = load
        dut.seed.value = seed if seed is not None else self.rng.getrandbits(32)
        await ReadOnly()
        got = int(dut.draw.value), int(dut.state.value)
        await RisingEdge(dut.clk)
        return got

    async def load(self, state: int) -> golden.Lfsr32:
        await self.cycle(advance=self.rng.getrandbits(1), load=1, seed=state)
        return golden.Lfsr32(state)

    async def check_draws(self, ref: golden.Lfsr32, draws: int, stall: float, label: str):
        for i in range(draws):
            # the draw is a function of the state: it holds while advance is low
            while self.rng.random() < stall:
                draw, state = await self.cycle(advance=0)
                self.stalls += 1
                peek = golden.Lfsr32(ref.state).draw(self.bits)
                assert (draw, state) == (peek, ref.state), (
                    f"{label}, draw {i} (stalled): got draw {draw:#x} state {state:#010x}, "
                    f"expected draw {peek:#x} state {ref.state:#010x}")
            before = ref.state
            expected = ref.draw(self.bits)
            draw, state = await self.cycle(advance=1)
            assert (draw, state) == (expected, before), (
                f"{label}, draw {i}: got draw {draw:#x} state {state:#010x}, "
                f"expected draw {expected:#x} state {before:#010x}")
            self.checked += 1


@cocotb.test(timeout_time=50, timeout_unit="ms")
async def draws_match_golden(dut):
    """From each state, every draw equals golden's, through random stalls."""
    data = load_data()
    tb = TB(dut, data)
    await tb.start()
    draw, state = await tb.cycle(advance=0)
    assert state == golden.seed_to_state(0), f"state after reset {state:#x}, expected 1"
    for n, state in enumerate(data["states"]):
        ref = await tb.load(state)
        await tb.check_draws(ref, data["draws"], data["stall"], f"state {n} ({state:#010x})")
    assert tb.stalls > 0 or data["stall"] == 0
    dut._log.info("%d draws checked, %d stall cycles", tb.checked, tb.stalls)


@cocotb.test(timeout_time=10, timeout_unit="ms")
async def load_wins_over_advance(dut):
    """A load in the middle of a sequence restarts it, whether advance is high or not."""
    data = load_data()
    tb = TB(dut, data)
    await tb.start()
    seed = golden.seed_to_state(12345)
    for k in range(4):
        await tb.cycle(advance=1, load=1, seed=seed)
        ref = golden.Lfsr32(seed)
        await tb.check_draws(ref, 3 + k, stall=0.0, label=f"reload {k}")
