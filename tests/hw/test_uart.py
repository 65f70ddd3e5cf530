"""UART: transmitter bit timing, receiver against a bit-banged line (baud error, glitches,
framing errors, overrun), and the two in a loop with random bytes, idle gaps and stalls."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("amaranth")

from amaranth.hdl import Module  # noqa: E402
from amaranth.sim import Simulator  # noqa: E402
from snnfpga.hw.uart import UARTRx, UARTTx, divisor_for  # noqa: E402


def test_divisor_checks_the_rate():
    assert divisor_for(24e6, 115200) == 208
    with pytest.raises(ValueError, match="the receiver needs at least 16"):
        divisor_for(12e6, 1_000_000)
    with pytest.raises(ValueError, match=r"the nearest divisor 18 is 2\.5 % off"):
        divisor_for(1e6, 57000)


def test_transmitter_bit_timing():
    div = 20
    dut = UARTTx(div)
    line = []

    async def bench(ctx):
        ctx.set(dut.i_stream.valid, 1)
        ctx.set(dut.i_stream.payload, 0xA5)
        await ctx.tick().until(dut.i_stream.ready)
        ctx.set(dut.i_stream.valid, 0)
        for _ in range(12 * div):
            line.append(ctx.get(dut.tx))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    bits = [0] + [(0xA5 >> i) & 1 for i in range(8)] + [1]
    assert line[:10 * div] == [b for b in bits for _ in range(div)]
    assert all(line[10 * div:])


def bitbang(bytes_, period, *, stop=1, glitch_at=None):
    """Line levels, one per clock cycle, for ``bytes_`` at ``period`` cycles a bit."""
    levels = [1] * 30
    t = 0.0
    for b in bytes_:
        bits = [0] + [(b >> i) & 1 for i in range(8)] + [stop]
        for v in bits:
            t += period
            levels += [v] * (round(t) - len(levels) + 30)
        levels += [1] * int(2 * period)
        t = len(levels) - 30
    if glitch_at is not None:
        levels[glitch_at:glitch_at + 3] = [0, 0, 0]
    return levels + [1] * int(3 * period)


def run_rx(div, levels, *, ready=1.0, seed=0):
    dut = UARTRx(div)
    got, errors, overruns = [], [], []
    rng = np.random.default_rng(seed)

    async def bench(ctx):
        for v in levels:
            ctx.set(dut.rx, v)
            r = int(rng.random() < ready)
            ctx.set(dut.o_stream.ready, r)
            _, _, valid, payload, err, ovr = await ctx.tick().sample(
                dut.o_stream.valid, dut.o_stream.payload, dut.error, dut.overrun)
            if valid and r:
                got.append(payload)
            errors.append(err)
            overruns.append(ovr)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return got, sum(errors), sum(overruns)


@pytest.mark.parametrize("div,skew", [(16, 0.0), (16, 0.02), (16, -0.02), (35, 0.03),
                                      (208, -0.03)])
def test_receiver_tolerates_baud_error(div, skew):
    data = [0x00, 0xFF, 0x55, 0xAA, 0x0F, 0x80, 0x01]
    got, err, ovr = run_rx(div, bitbang(data, div * (1 + skew)))
    assert (got, err, ovr) == (data, 0, 0)


def test_receiver_ignores_a_glitch_and_reports_a_framing_error():
    div = 32
    levels = bitbang([0x3C], div, glitch_at=10) + bitbang([0x5A], div, stop=0) \
        + bitbang([0x99], div)
    got, err, ovr = run_rx(div, levels)
    assert got == [0x3C, 0x99] and err == 1 and ovr == 0


def test_receiver_drops_and_flags_a_byte_nobody_takes():
    div = 16
    data = list(range(1, 9))
    got, err, ovr = run_rx(div, bitbang(data, div), ready=0.0)
    assert got == [] and ovr == len(data) - 1 and err == 0


def test_loop_random_bytes_idle_gaps_and_stalls():
    rng = np.random.default_rng(5)
    div = 17
    m = Module()
    m.submodules.tx = tx = UARTTx(div)
    m.submodules.rx = rx = UARTRx(div)
    m.d.comb += rx.rx.eq(tx.tx)
    data = [int(x) for x in rng.integers(0, 256, size=40)]
    got = []

    async def source(ctx):
        for b in data:
            for _ in range(int(rng.integers(0, 3 * div)) if rng.random() < 0.3 else 0):
                await ctx.tick()
            ctx.set(tx.i_stream.payload, b)
            ctx.set(tx.i_stream.valid, 1)
            await ctx.tick().until(tx.i_stream.ready)
            ctx.set(tx.i_stream.valid, 0)

    async def sink(ctx):
        while len(got) < len(data):
            r = int(rng.random() < 0.5)   # slow consumer, but faster than a character
            ctx.set(rx.o_stream.ready, r)
            _, _, valid, payload = await ctx.tick().sample(rx.o_stream.valid,
                                                           rx.o_stream.payload)
            if valid and r:
                got.append(payload)

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(source)
    sim.add_testbench(sink)
    sim.run_until(1e-6 * div * 12 * len(data) * 3)
    assert got == data
