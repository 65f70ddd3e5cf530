# amaranth: UnusedElaboratable=no
"""The board's command layer in gateware against ``BoardModel``: the same bytes answer the
same frames (every command, refused arguments, damaged frames), in Amaranth's simulator."""

from __future__ import annotations

import struct

import numpy as np
import pytest

pytest.importorskip("amaranth")

from amaranth.sim import Simulator  # noqa: E402
from conftest import random_model  # noqa: E402
from snnfpga.hw.board import Board  # noqa: E402
from snnfpga.hw.core import COUNTERS  # noqa: E402
from snnfpga.hw.memmap import Geometry, MemId, pack_memories  # noqa: E402
from snnfpga.model.golden import seed_to_state  # noqa: E402
from snnfpga.sw_driver.board_model import BoardModel  # noqa: E402
from snnfpga.sw_driver.protocol import (  # noqa: E402
    GENERATE_HEAD,
    MEM_REQUEST,
    RESET_REQUEST,
    STEP_REQUEST,
    Cmd,
    FrameReader,
    Rsp,
    encode_frame,
)

OVER = dict(neurons=16, fanout=5, membrane_bits=10, threshold=70)
EVENTS = ("tokens", "spikes", "syn_events", "readout_ops")


def host_frames(model, other, rng):
    """A session: every command, arguments out of range, damaged and unknown frames."""
    g = Geometry(model.config, len(model.vocab), 2, 3)
    V = len(model.vocab)
    words = pack_memories(g, other.weights)
    frames = [encode_frame(Cmd.HELLO, 1)]
    tag = 2
    for mem in (MemId.LEAK, MemId.BIAS, MemId.FAN, MemId.WGT):   # upload the other model
        nb = (g.width(mem) + 7) // 8
        ws = words[mem]
        for a in range(0, len(ws), 40):
            chunk = ws[a:a + 40]
            frames.append(encode_frame(Cmd.LOAD, tag, MEM_REQUEST.pack(mem, a, len(chunk))
                                       + b"".join(w.to_bytes(nb, "little") for w in chunk)))
            tag += 1
    frames += [
        encode_frame(Cmd.HELLO, 90),
        encode_frame(Cmd.READ, 91, MEM_REQUEST.pack(MemId.FAN, 3, 7)),
        encode_frame(Cmd.READ, 92, MEM_REQUEST.pack(MemId.FAN, g.depth(MemId.FAN) - 1, 2)),
        encode_frame(Cmd.LOAD, 93, MEM_REQUEST.pack(MemId.VMEM, 0, 1) + b"\0\0"),
        encode_frame(Cmd.LOAD, 94, MEM_REQUEST.pack(MemId.LEAK, 0, 1) + b"\xff"),  # too wide
        encode_frame(Cmd.LOAD, 95, MEM_REQUEST.pack(MemId.LEAK, 0, 2) + b"\x01"),  # short
        encode_frame(Cmd.RESET, 96, RESET_REQUEST.pack(seed_to_state(12))),
        encode_frame(Cmd.RESET, 97, RESET_REQUEST.pack(0)),
        encode_frame(Cmd.COUNTERS, 98),
    ]
    tag = 100
    for _ in range(12):
        frames.append(encode_frame(Cmd.STEP, tag, STEP_REQUEST.pack(
            int(rng.integers(0, V)), int(rng.integers(0, 4)),
            int(rng.choice([0, 1, 300, (1 << 15) - 1])))))
        tag += 1
    frames += [
        encode_frame(Cmd.STEP, 120, STEP_REQUEST.pack(V, 1, 0)),           # not a character
        encode_frame(Cmd.STEP, 121, STEP_REQUEST.pack(0, 1, 1 << 15)),     # temperature
        encode_frame(Cmd.STEP, 122, b"\x00"),                              # short
        encode_frame(Cmd.READ, 123, MEM_REQUEST.pack(MemId.VMEM, 0, g.groups)),
        encode_frame(Cmd.READ, 124, MEM_REQUEST.pack(MemId.CNT, 0, g.groups)),
        encode_frame(Cmd.COUNTERS, 125),
        encode_frame(Cmd.GENERATE, 126, GENERATE_HEAD.pack(6, 200) + bytes([1, 2, 0])),
        encode_frame(Cmd.GENERATE, 127, GENERATE_HEAD.pack(0, 0) + bytes([1])),
        encode_frame(Cmd.GENERATE, 128, GENERATE_HEAD.pack(3, 0) + bytes([1, V])),
        encode_frame(Cmd.STOP, 129),
        encode_frame(0x42, 130),
        encode_frame(Cmd.COUNTERS, 131),
    ]
    bad = bytearray(encode_frame(Cmd.HELLO, 132))
    bad[3] ^= 0x10
    frames += [bytes(bad), bytes([5]) * 600 + b"\x00", b"\x02\x07\x00",
               encode_frame(Cmd.HELLO, 133)]
    return frames, g


@pytest.mark.parametrize("regs", [False, True], ids=["", "registered-reads"])
def test_board_answers_as_the_board_model(regs):
    rng = np.random.default_rng(8)
    model = random_model(rng, vocab="abcdefg", extremes=0.2, **OVER)
    other = random_model(rng, vocab="abcdefg", extremes=0.2, **OVER)
    frames, g = host_frames(model, other, rng)
    ref = BoardModel(model, g)
    expected = []
    for fr in frames:
        ref.write(fr)
        expected.append(ref.read())
    answered = [f for exp in expected for f in FrameReader().feed(exp)]
    assert {f.kind for f in answered} == {Rsp.OK, Rsp.ERROR, Rsp.CHARS}
    assert len({f.payload[0] for f in answered if f.kind == Rsp.ERROR}) >= 5
    dut = Board(config=model.config, vocab_size=len(model.vocab), weights=model.weights,
                lanes=2, readout_lanes=3, registered_reads=regs)
    got = bytearray()
    answers = []
    offered = {"cmd": 0, "mem_cmd": 0, "both": 0}

    async def arbiter_check(ctx):
        # the core does not arbitrate: the command layer offers a command or a load-port
        # request, never both in one cycle
        core = dut.core
        async for _, _, cv, mv in ctx.tick().sample(core.cmd.valid, core.mem_cmd.valid):
            offered["cmd"] += cv
            offered["mem_cmd"] += mv
            offered["both"] += cv & mv

    async def host(ctx):
        for fr, exp in zip(frames, expected, strict=True):
            start = len(got)
            for b in fr:
                ctx.set(dut.i_stream.payload, b)
                ctx.set(dut.i_stream.valid, 1)
                await ctx.tick().until(dut.i_stream.ready)
            ctx.set(dut.i_stream.valid, 0)
            for _ in range(200_000):
                if len(got) - start >= len(exp):
                    break
                await ctx.tick()
            answers.append(bytes(got[start:]))

    async def sink(ctx):
        ctx.set(dut.o_stream.ready, 1)
        async for _, _, valid, b in ctx.tick().sample(dut.o_stream.valid, dut.o_stream.payload):
            if valid:
                got.append(b)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(host)
    sim.add_testbench(sink, background=True)
    sim.add_testbench(arbiter_check, background=True)
    sim.run()
    assert offered["cmd"] > 0 and offered["mem_cmd"] > 0 and offered["both"] == 0, offered
    for i, (fr, exp, ans) in enumerate(zip(frames, expected, answers, strict=True)):
        e_frames, a_frames = FrameReader().feed(exp), FrameReader().feed(ans)
        kind = fr[1] if len(fr) > 1 else None
        if kind == Cmd.COUNTERS and len(e_frames) == 1 and e_frames[0].kind == Rsp.OK:
            # the golden model has no clock and no memory ports: compare the event counters
            def events(f):
                vals = struct.unpack("<" + "Q" * len(COUNTERS),
                                     b"".join(f.payload[6 * k:6 * k + 6] + b"\0\0"
                                              for k in range(len(COUNTERS))))
                return {k: v for k, v in zip(COUNTERS, vals, strict=True) if k in EVENTS}
            assert events(a_frames[0]) == events(e_frames[0]), f"frame {i}"
            continue
        assert ans == exp, f"frame {i} ({fr[:12].hex()}...): gateware {a_frames}, " \
                           f"model {e_frames}"
