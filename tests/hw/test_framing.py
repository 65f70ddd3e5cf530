"""Frames in gateware against ``sw_driver.protocol``: the CRC, the encoder byte for byte, and
the decoder fuzzed with good frames mixed with garbage, truncations, bit flips and oversize
frames (the same verdict as the host's reader, frame by frame)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("amaranth")

from amaranth.hdl import Module, Signal  # noqa: E402
from amaranth.sim import Simulator  # noqa: E402
from snnfpga.hw.framing import FrameRx, FrameTx, crc16_update  # noqa: E402
from snnfpga.sw_driver.protocol import (  # noqa: E402
    MAX_PAYLOAD,
    Frame,
    FrameError,
    FrameReader,
    crc16,
    encode_frame,
    max_frame_bytes,
)


def test_crc_logic_equals_the_protocol():
    rng = np.random.default_rng(1)
    crc_in, byte = Signal(16), Signal(8)
    out = Signal(16)
    m = Module()
    m.d.comb += out.eq(crc16_update(crc_in, byte))
    cases = [(int(c), int(b)) for c, b in zip(rng.integers(0, 1 << 16, 300),
                                              rng.integers(0, 256, 300), strict=True)]

    async def bench(ctx):
        for c, b in cases:
            ctx.set(crc_in, c)
            ctx.set(byte, b)
            assert ctx.get(out) == crc16(bytes([b]), c), (c, b)

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()


def test_crc32_logic_equals_zlib():
    import zlib

    from snnfpga.hw.framing import crc_byte_update

    rng = np.random.default_rng(3)
    crc_in, byte, out = Signal(32), Signal(8), Signal(32)
    m = Module()
    m.d.comb += out.eq(crc_byte_update(crc_in, byte, width=32, poly=0xEDB88320,
                                       reflected=True))
    data = bytes(rng.integers(0, 256, size=200).astype(np.uint8))

    async def bench(ctx):
        reg = 0xFFFFFFFF
        for b in data:
            ctx.set(crc_in, reg)
            ctx.set(byte, b)
            reg = ctx.get(out)
        assert reg ^ 0xFFFFFFFF == zlib.crc32(data)

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()


def payload_cases(rng):
    """Payloads that exercise the encoder: empty, zeros, runs of 254 and more, the maximum."""
    cases = [b"", b"\x00", b"\x00\x00", bytes(range(1, 255)), bytes([7]) * 300,
             bytes(MAX_PAYLOAD), bytes([1]) * MAX_PAYLOAD]
    for _ in range(12):
        n = int(rng.integers(0, MAX_PAYLOAD + 1))
        p = rng.integers(0, 256, size=n)
        p[rng.random(n) < rng.random()] = 0
        cases.append(bytes(p.astype(np.uint8)))
    return cases


def test_encoder_sends_what_the_protocol_encodes():
    rng = np.random.default_rng(2)
    frames = [(int(rng.integers(0, 256)), int(rng.integers(0, 256)), p)
              for p in payload_cases(rng)]
    dut = FrameTx()
    wire = bytearray()

    async def source(ctx):
        for kind, tag, payload in frames:
            ctx.set(dut.i_head.payload, {"kind": kind, "tag": tag, "length": len(payload)})
            ctx.set(dut.i_head.valid, 1)
            await ctx.tick().until(dut.i_head.ready)
            ctx.set(dut.i_head.valid, 0)
            for b in payload:
                while rng.random() < 0.2:
                    await ctx.tick()
                ctx.set(dut.i_data.payload, b)
                ctx.set(dut.i_data.valid, 1)
                await ctx.tick().until(dut.i_data.ready)
                ctx.set(dut.i_data.valid, 0)

    async def sink(ctx):
        want = sum(len(encode_frame(k, t, p)) for k, t, p in frames)
        while len(wire) < want:
            r = int(rng.random() < 0.7)
            ctx.set(dut.o_stream.ready, r)
            _, _, valid, byte = await ctx.tick().sample(dut.o_stream.valid,
                                                        dut.o_stream.payload)
            if valid and r:
                wire.append(byte)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(source)
    sim.add_testbench(sink)
    sim.run()
    assert bytes(wire) == b"".join(encode_frame(k, t, p) for k, t, p in frames)


def fuzz_stream(rng, count):
    """Good frames mixed with garbage, truncated frames, flipped bits and oversize frames."""
    out = bytearray()
    for _ in range(count):
        n = int(rng.integers(0, 60)) if rng.random() < 0.8 else int(rng.integers(0, 501))
        wire = bytearray(encode_frame(int(rng.integers(1, 9)), int(rng.integers(0, 256)),
                                      bytes(rng.integers(0, 256, size=n).astype(np.uint8))))
        r = rng.random()
        if r < 0.15:      # garbage, then a delimiter so that the next frame starts clean
            out += bytes(rng.integers(0, 256, size=int(rng.integers(1, 40))).astype(np.uint8))
            out += b"\x00"
        elif r < 0.3:     # truncated: the rest of the frame never comes
            out += wire[:int(rng.integers(1, len(wire) - 1))] + b"\x00"
            continue
        elif r < 0.45:    # one bit flipped
            bit = int(rng.integers(0, 8 * (len(wire) - 1)))
            wire[bit // 8] ^= 1 << (bit % 8)
        elif r < 0.5:     # longer than any frame may be
            out += bytes([1 + int(x) for x in rng.integers(0, 255, size=max_frame_bytes())])
            out += b"\x00"
        out += wire
    return bytes(out)


@pytest.mark.parametrize("seed", range(3))
def test_decoder_gives_the_host_readers_verdict_frame_by_frame(seed):
    rng = np.random.default_rng(10 + seed)
    stream_bytes = fuzz_stream(rng, 40)
    expected = FrameReader().feed(stream_bytes)
    dut = FrameRx()
    got = []

    async def source(ctx):
        for b in stream_bytes:
            if rng.random() < 0.1:
                await ctx.tick()
            ctx.set(dut.i_stream.payload, b)
            ctx.set(dut.i_stream.valid, 1)
            await ctx.tick().until(dut.i_stream.ready)
            ctx.set(dut.i_stream.valid, 0)

    async def consumer(ctx):
        while len(got) < len(expected):
            ctx.set(dut.o_frame.ready, 1)
            _, _, valid, f = await ctx.tick().sample(dut.o_frame.valid, dut.o_frame.payload)
            if not valid:
                continue
            ctx.set(dut.o_frame.ready, 0)
            if f.err:
                got.append(("error", int(f.err)))
            else:
                payload = bytearray()
                for a in range(f.length):
                    ctx.set(dut.rd_addr, a)
                    await ctx.tick()
                    payload.append(ctx.get(dut.rd_data))
                got.append(Frame(f.kind, f.tag, bytes(payload)))
            ctx.set(dut.release, 1)
            await ctx.tick()
            ctx.set(dut.release, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(source)
    sim.add_testbench(consumer)
    sim.run()
    want = [("error", int(x.err)) if isinstance(x, FrameError) else x for x in expected]
    assert sum(isinstance(x, Frame) for x in want) >= 10
    assert sum(isinstance(x, tuple) for x in want) >= 5
    for i, (w, g) in enumerate(zip(want, got, strict=True)):
        assert g == w, f"result {i}: gateware {g}, host reader {w}"
