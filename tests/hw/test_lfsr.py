# amaranth: UnusedElaboratable=no
"""Lfsr32 against golden.Lfsr32: the same draws from the same states, with stalls and reloads."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("amaranth")

from amaranth.sim import Simulator  # noqa: E402
from snnfpga.hw.lfsr import Lfsr32  # noqa: E402
from snnfpga.model import golden  # noqa: E402

STATES = [1, 0xFFFFFFFF, golden.seed_to_state(0), golden.seed_to_state(1),
          golden.seed_to_state(2**32 - 2), 0x80000000, 0x80200003, 0x12345678]


def test_draws_match_golden_from_chosen_states():
    """Load each state, then draw with random stalls; every draw equals golden's."""
    rng = np.random.default_rng(7)
    dut = Lfsr32()
    draws_per_state = 200

    async def tb(ctx):
        assert ctx.get(dut.state) == golden.seed_to_state(0), "state must reset to a non-zero"
        for state in STATES:
            ctx.set(dut.seed, state)
            ctx.set(dut.load, 1)
            await ctx.tick()
            ctx.set(dut.load, 0)
            ref = golden.Lfsr32(state)
            for i in range(draws_per_state):
                assert ctx.get(dut.state) == ref.state
                # a stalled draw stays put until it is consumed
                while rng.random() < 0.3:
                    ctx.set(dut.advance, 0)
                    await ctx.tick()
                expected = ref.draw()
                assert ctx.get(dut.draw) == expected, f"state {state:#x}, draw {i}"
                ctx.set(dut.advance, 1)
                await ctx.tick()
            ctx.set(dut.advance, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()


def test_load_wins_over_advance_and_reloads_restart_the_sequence():
    dut = Lfsr32()
    seed = golden.seed_to_state(12345)

    async def tb(ctx):
        ctx.set(dut.seed, seed)
        ctx.set(dut.advance, 1)
        for _ in range(3):          # load with advance held: the sequence restarts each time
            ctx.set(dut.load, 1)
            await ctx.tick()
            assert ctx.get(dut.state) == seed
            ctx.set(dut.load, 0)
            ref = golden.Lfsr32(seed)
            for _ in range(5):
                assert ctx.get(dut.draw) == ref.draw()
                await ctx.tick()
            assert ctx.get(dut.state) == ref.state

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()


@pytest.mark.parametrize("bits", [1, 3, 16, 32])
def test_other_draw_widths(bits):
    dut = Lfsr32(draw_bits=bits)
    ref = golden.Lfsr32(0xFFFFFFFF)

    async def tb(ctx):
        ctx.set(dut.seed, ref.state)
        ctx.set(dut.load, 1)
        await ctx.tick()
        ctx.set(dut.load, 0)
        ctx.set(dut.advance, 1)
        for _ in range(50):
            assert ctx.get(dut.draw) == ref.draw(bits)
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()


@pytest.mark.parametrize("bits", [0, 33, True, 8.0])
def test_bad_draw_width_is_named(bits):
    with pytest.raises(ValueError, match=f"draw_bits must be an integer in 1 .. 32, not {bits!r}"):
        Lfsr32(draw_bits=bits)
