"""The driver against the board's command layer in Python (the golden model behind frames):
every command, the model check and upload, and the errors a device sends back."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import random_model
from snnfpga.hw.memmap import MemId
from snnfpga.model.golden import GoldenModel, temperature_to_fixed
from snnfpga.sim.trace import Command, expected_trace
from snnfpga.sw_driver.device import (
    Device,
    DeviceError,
    GoldenTransport,
    ModelMismatch,
)
from snnfpga.sw_driver.protocol import Cmd, Err, FrameReader, Rsp, encode_frame

OVER = dict(neurons=24, fanout=6, membrane_bits=10, threshold=80)


@pytest.fixture
def model():
    return random_model(np.random.default_rng(4), vocab="abcdefghij", extremes=0.2, **OVER)


def test_hello_and_check(model):
    dev = Device(GoldenTransport(model))
    info = dev.hello()
    assert (info.neurons, info.fanout, info.vocab_size) == (24, 6, 10)
    dev.check(model)   # the board runs this model: no error


def test_steps_equal_the_golden_trace_and_counters(model):
    rng = np.random.default_rng(1)
    ids = [int(x) for x in rng.integers(0, 10, size=30)]
    tq = 200
    dev = Device(GoldenTransport(model))
    dev.reset(seed=9)
    got = [dev.step(i, sample=True, logits=True, tq=tq) for i in ids]
    cmds = [Command("reset", seed=9)] + [Command("token", id=i, sample=True, logits=True, tq=tq)
                                         for i in ids]
    exp = expected_trace(model, cmds)
    assert [g[0] for g in got] == [t.sampled for t in exp.tokens]
    assert [g[1] for g in got] == [t.logits for t in exp.tokens]
    counters = dev.counters()
    assert counters["tokens"] == len(ids)
    for k in ("spikes", "syn_events", "readout_ops"):
        assert counters[k] == sum(getattr(t, k) for t in exp.tokens)
    assert dev.counters()["tokens"] == 0, "COUNTERS clears them"
    # the state memories read back: the spike counts of the last token
    cnt = dev.read_words(MemId.CNT, 0, 24, 2)
    assert cnt == exp.tokens[-1].counts


def test_generate_equals_the_golden_generator(model):
    gm = GoldenModel(model)
    prompt = [1, 2, 3, 4]
    totals = {}
    want = list(gm.generate(prompt, 25, temperature=0.7, seed=5, totals=totals))
    dev = Device(GoldenTransport(model))
    dev.reset(seed=5)
    got = list(dev.generate(prompt, 25, temperature_to_fixed(0.7, 8)))
    assert got == want
    c = dev.counters()
    assert {k: c[k] for k in totals} == totals


def test_stop_ends_a_generate_and_other_commands_are_busy(model):
    dev = Device(GoldenTransport(model))
    dev.reset(seed=1)
    gen = dev.generate([0], 1000, 0)
    first = [next(gen) for _ in range(3)]
    with pytest.raises(DeviceError, match="BUSY"):
        dev.hello()
    dev.stop()
    rest = list(gen)   # the characters sampled before STOP, then the count (checked)
    assert 3 + len(rest) < 1000
    gm = GoldenModel(model)
    assert first + rest == list(gm.generate([0], 3 + len(rest), seed=1))
    assert dev.hello().neurons == 24   # ready for the next command


def test_a_model_with_other_weights_is_refused_then_loaded(model):
    other = random_model(np.random.default_rng(99), vocab="abcdefghij", **OVER)
    dev = Device(GoldenTransport(model))
    with pytest.raises(ModelMismatch, match="the device holds other weights"):
        dev.check(other)
    dev.check(other, load=True)
    dev.check(other)
    dev.reset(seed=0)
    exp = expected_trace(other, [Command("token", id=3, logits=True)])
    assert dev.step(3, sample=False, logits=True)[1] == exp.tokens[0].logits
    bigger = random_model(np.random.default_rng(5), vocab="abcdefghij",
                          **{**OVER, "neurons": 32})
    with pytest.raises(ModelMismatch, match="built for 24 neurons"):
        dev.check(bigger)
    # a fan-out the device's two synapse lanes cannot split is a mismatch, not a crash
    odd = random_model(np.random.default_rng(6), vocab="abcdefghij", **{**OVER, "fanout": 5})
    with pytest.raises(ModelMismatch, match=r"fan-out 6.*the model has 24, 5.*synapse_lanes"):
        dev.check(odd)
    assert dev.hello().synapse_lanes == 2


def test_errors_come_back_as_error_frames_and_the_device_stays_usable(model):
    t = GoldenTransport(model)
    dev = Device(t)
    with pytest.raises(DeviceError, match="BAD_CHARACTER .a character id outside") as e:
        dev.step(10)
    assert e.value.err == Err.BAD_CHARACTER
    with pytest.raises(DeviceError, match="READ: the device refused it: BAD_ARGUMENT"):
        dev.read_words(MemId.FAN, 140, 10, 8)
    with pytest.raises(DeviceError, match="BAD_ARGUMENT"):
        dev._request(Cmd.RESET, b"\x00\x00\x00\x00")
    # a frame with a broken CRC, an unknown command: error frames, then HELLO still works
    wire = bytearray(encode_frame(Cmd.HELLO, 7))
    wire[2] ^= 0x40
    t.write(bytes(wire) + encode_frame(0x42, 8))
    answers = FrameReader().feed(t.read(1.0))
    assert [(f.kind, f.payload[0]) for f in answers] == [
        (Rsp.ERROR, Err.BAD_CRC), (Rsp.ERROR, Err.UNKNOWN_COMMAND)]
    assert dev.hello().neurons == 24
