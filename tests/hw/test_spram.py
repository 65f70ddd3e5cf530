# amaranth: UnusedElaboratable=no
"""The single-port weight memory: the generic memory in Amaranth's simulator, and the SPRAM
build (``SB_SPRAM256KA`` blocks side by side and stacked) in Verilator against a model."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("amaranth")

from amaranth.sim import Simulator  # noqa: E402
from snnfpga.hw.memmap import Geometry, MemId  # noqa: E402
from snnfpga.hw.spram import SinglePortRAM  # noqa: E402
from snnfpga.sim.build import missing_tools, run  # noqa: E402


def random_ops(rng, depth, width, count):
    """Random reads, writes and idle cycles; addresses from a few hot words and anywhere."""
    hot = rng.integers(0, depth, size=4)
    ops = []
    for _ in range(count):
        op = int(rng.choice([0, 1, 1, 2]))
        addr = int(rng.choice(hot)) if rng.random() < 0.5 else int(rng.integers(0, depth))
        ops.append([op, addr, int(rng.integers(0, 1 << width))])
    return ops


def expected_reads(ops, init=None):
    """The read data after each op: the word read, held while idle, undefined after a write."""
    mem = dict(init or {})
    out, last = [], None
    for op, addr, word in ops:
        if op == 1:
            last = mem.get(addr)
        elif op == 2:
            mem[addr] = word
            last = None
        out.append(last)
    return out


@pytest.mark.parametrize("registered", [False, True])
def test_generic_memory_reads_writes_and_holds(registered):
    """The read data the cycle after ``r_en``, or with ``registered`` the cycle after that;
    held while idle either way."""
    rng = np.random.default_rng(0)
    depth, width = 40, 13
    init = [int(x) for x in rng.integers(0, 1 << width, size=depth)]
    dut = SinglePortRAM(width=width, depth=depth, init=init, registered=registered)
    ops = random_ops(rng, depth, width, 400) + [[0, 0, 0]]
    seen = []

    async def bench(ctx):
        for op, addr, word in ops:
            ctx.set(dut.r_en, op == 1)
            ctx.set(dut.w_en, op == 2)
            ctx.set(dut.r_addr, addr)
            ctx.set(dut.w_addr, addr)
            ctx.set(dut.w_data, word)
            await ctx.tick()
            seen.append(ctx.get(dut.r_data))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    expected = expected_reads(ops, dict(enumerate(init)))
    lag = dut.read_latency - 1
    assert lag == int(registered)
    checked = 0
    for i, (e, g) in enumerate(zip(expected[:len(ops) - lag], seen[lag:], strict=True)):
        if e is not None:
            assert g == e, f"op {i} {ops[i]}: read {g}, expected {e}"
            checked += 1
    assert checked > 200


def test_registered_reads_are_for_block_ram():
    with pytest.raises(ValueError, match="registered is for a block-RAM memory"):
        SinglePortRAM(width=8, depth=40, spram=True, registered=True)


def test_spram_build_refuses_initial_contents_and_oversize():
    with pytest.raises(ValueError, match="SPRAM cannot be initialised by the bitstream"):
        SinglePortRAM(width=16, depth=8, init=[1] * 8, spram=True)
    with pytest.raises(ValueError, match="needs 6 SPRAM blocks; the UP5K has 4"):
        SinglePortRAM(width=48, depth=20000, spram=True)


def test_the_default_memories_take_the_four_spram_blocks():
    from snnfpga.model.modelfile import load_model
    from snnfpga.sw_driver.api import default_model_path

    m = load_model(default_model_path())
    g = Geometry(m.config, len(m.vocab))
    blocks = [SinglePortRAM.spram_blocks(g.width(mid), g.depth(mid))
              for mid in (MemId.FAN, MemId.WGT)]
    assert blocks == [2, 2]


@pytest.mark.slow
@pytest.mark.skipif(bool(missing_tools()), reason="needs " + ", ".join(missing_tools()))
@pytest.mark.parametrize("width,depth", [(16, 200), (32, 16384 + 300)])
def test_spram_build_in_verilator(width, depth):
    """Blocks side by side (32 bits) and stacked (past 16,384 words): what the model of the
    SPRAM block returns equals a plain memory, hot words and the stack boundary included."""
    rng = np.random.default_rng(width)
    ops = random_ops(rng, depth, width, 600)
    edge = [16383, 16384] if depth > 16384 else [0, depth - 1]
    for a in edge:   # write then read both sides of the boundary
        ops += [[2, a, int(rng.integers(0, 1 << width))], [1, a, 0], [0, a, 0]]
    res = run(SinglePortRAM(width=width, depth=depth, spram=True), f"spram_{width}x{depth}",
              test_module="snnfpga.sim.tb_spram", models=["sb_spram256ka.v"],
              data={"ops": ops})
    expected = expected_reads(ops)
    for i, (e, g) in enumerate(zip(expected, res.outputs["r_data"], strict=True)):
        if e is not None:
            assert g == e, f"op {i} {ops[i]}: read {g}, expected {e}"


def test_the_default_core_elaborates_with_its_weights_in_spram():
    """The UP5K configuration of the default model: four SB_SPRAM256KA blocks, two for the
    fan-out lists (stacked) and two for the weights (side by side), and no initial weights."""
    import re

    from snnfpga.hw.core import Core
    from snnfpga.model.modelfile import load_model
    from snnfpga.sim.build import to_verilog
    from snnfpga.sw_driver.api import default_model_path

    m = load_model(default_model_path())
    with pytest.raises(ValueError, match="SPRAM cannot be initialised by the bitstream"):
        Core(config=m.config, vocab_size=len(m.vocab), weights=m.weights, spram=True)
    verilog = to_verilog(Core(config=m.config, vocab_size=len(m.vocab), spram=True), "core")
    assert len(re.findall(r"^\s*SB_SPRAM256KA\b", verilog, re.M)) == 4
    big = m.config.__class__(**{**m.config.__dict__, "neurons": 1024})
    with pytest.raises(ValueError, match=r"the fan and wgt memories need 4 \+ 4 SPRAM blocks; "
                                         r"the UP5K has 4"):
        Core(config=big, vocab_size=len(m.vocab), spram=True)
