# amaranth: UnusedElaboratable=no
"""LIFUnit against the golden model: one neuron update, both latencies, many configurations."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("amaranth")

from amaranth.sim import Simulator  # noqa: E402
from conftest import random_model  # noqa: E402
from snnfpga.hw.lif import LIFUnit  # noqa: E402
from snnfpga.model.config import ModelConfig  # noqa: E402
from snnfpga.model.golden import GoldenModel  # noqa: E402
from snnfpga.model.modelfile import SpikingModel  # noqa: E402
from stimulus import random_state, synaptic_sums  # noqa: E402

CONFIGS = {
    # the default arithmetic on a smaller network
    "default": dict(neurons=48, fanout=12),
    # 8-bit membrane, all-to-all, big shifts: saturates at both ends; zero reset; input latched
    "narrow": dict(neurons=24, fanout=24, membrane_bits=8, leak_shift_max=7, threshold=100,
                   input_shift=5, recurrent_shift=4, reset="zero", input_every_step=False),
    # wide weights, no shifts, the lowest threshold
    "int8": dict(neurons=32, fanout=8, membrane_bits=12, leak_shift_max=11, weight_bits=8,
                 input_shift=0, recurrent_shift=0, threshold=1),
    # the narrowest membrane, the highest threshold
    "tiny": dict(neurons=16, fanout=5, membrane_bits=4, leak_shift_min=1, leak_shift_max=3,
                 weight_bits=2, threshold=7, input_shift=2, recurrent_shift=1, feature_bits=4,
                 feature_shift=0),
    # the widest membrane and shifts
    "wide": dict(neurons=16, fanout=16, membrane_bits=24, leak_shift_max=23, input_shift=23,
                 recurrent_shift=15, threshold=(1 << 23) - 1000, input_every_step=False),
}


def cases(rng, overrides: dict, trials: int):
    """(inputs, expected outputs) of single neuron updates, from two-step golden runs."""
    cfg2 = ModelConfig(steps=2, **overrides)
    model = random_model(rng, cfg2, vocab="abc", extremes=0.3)
    one = GoldenModel(SpikingModel(dataclasses.replace(cfg2, steps=1), model.vocab,
                                   model.weights))
    two = GoldenModel(model)
    w = model.weights
    out = []
    for _ in range(trials):
        x = int(rng.integers(0, 3))
        st0 = random_state(rng, cfg2)
        st1, _ = one.step(st0, [x])     # after step 0
        st2, _ = two.step(st0, [x])     # after step 1, starting from the same state
        for before, after, drive_en in ((st0, st1, 1), (st1, st2, int(cfg2.input_every_step))):
            acc = synaptic_sums(model, before.spikes)
            for n in range(cfg2.neurons):
                out.append(((int(before.v[0, n]), int(w.leak[n]), int(w.w_in[x, n]), drive_en,
                             int(acc[n])), (int(after.v[0, n]), int(after.spikes[0, n]))))
    return cfg2, out


def simulate(cfg: ModelConfig, latency: int, stimuli):
    dut = LIFUnit(config=cfg, latency=latency)
    got = []

    async def tb(ctx):
        for v, k, w, en, acc in stimuli:
            ctx.set(dut.v, v)
            ctx.set(dut.leak, k)
            ctx.set(dut.w_in, w)
            ctx.set(dut.drive_en, en)
            ctx.set(dut.acc, acc)
            if latency:
                await ctx.tick()
            got.append((ctx.get(dut.v_next), ctx.get(dut.spike)))

    sim = Simulator(dut)
    if latency:
        sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    return got


@pytest.mark.parametrize("latency", [0, 1])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_lif_matches_golden(name, latency):
    rng = np.random.default_rng(list(CONFIGS).index(name) * 10 + latency)
    cfg, data = cases(rng, CONFIGS[name], trials=20)
    stimuli = [i for i, _ in data]
    expected = [o for _, o in data]
    got = simulate(cfg, latency, stimuli)
    bad = [(s, e, g) for s, e, g in zip(stimuli, expected, got, strict=True) if e != g]
    assert not bad, f"{len(bad)} of {len(got)} updates differ; first (v, k, w, en, acc), " \
                    f"expected (v, spike), got: {bad[:3]}"
    # the random cases reach what the rules are about
    assert any(s for _, s in expected) and not all(s for _, s in expected)
    if name == "narrow":
        assert any(v == cfg.v_min for v, _ in expected), "negative saturation not reached"


def test_acc_port_spans_a_steps_synaptic_sum():
    cfg = ModelConfig(neurons=100, weight_bits=4)
    shape = LIFUnit(config=cfg).acc_shape
    assert shape.signed and -800 >> (shape.width - 1) == -1 and 700 < 1 << (shape.width - 1)


@pytest.mark.parametrize("kwargs, message", [
    (dict(config=None), "config must be a ModelConfig"),
    (dict(config=ModelConfig(), latency=2), "latency must be 0 or 1, not 2"),
])
def test_bad_parameters_are_named(kwargs, message):
    with pytest.raises((TypeError, ValueError), match=message):
        LIFUnit(**kwargs)
