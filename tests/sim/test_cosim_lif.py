# amaranth: UnusedElaboratable=no
"""LIFUnit's Verilog in Verilator (cocotb) against the golden model's neuron update."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import random_model
from snnfpga.hw.lif import LIFUnit
from snnfpga.model.config import ModelConfig
from snnfpga.model.golden import GoldenModel
from snnfpga.model.modelfile import SpikingModel
from snnfpga.sim.build import missing_tools, run
from stimulus import random_state, synaptic_sums

pytestmark = pytest.mark.skipif(bool(missing_tools()), reason="the Verilator co-simulation needs "
                                + ", ".join(missing_tools()))

# (configuration overrides, latency); one Verilator build each. The configurations of
# tests/hw/test_lif.py that reach the rules' edges: the default arithmetic with int4 weights at
# -8 / +7, an 8-bit membrane that saturates at both ends with zero reset, a 24-bit membrane.
CONFIGS = {
    "default": (dict(neurons=48, fanout=12), 1),
    "narrow": (dict(neurons=24, fanout=24, membrane_bits=8, leak_shift_max=7, threshold=100,
                    input_shift=5, recurrent_shift=4, reset="zero", input_every_step=False), 0),
    "wide": (dict(neurons=16, fanout=16, membrane_bits=24, leak_shift_max=23, input_shift=23,
                  recurrent_shift=15, threshold=(1 << 23) - 1000, input_every_step=False), 1),
}


def golden_cases(rng, overrides: dict, trials: int):
    """Inputs and expected outputs of single neuron updates, from two-step golden runs."""
    cfg2 = ModelConfig(steps=2, **overrides)
    model = random_model(rng, cfg2, vocab="abc", extremes=0.3)
    one = GoldenModel(SpikingModel(dataclasses.replace(cfg2, steps=1), model.vocab,
                                   model.weights))
    two = GoldenModel(model)
    w = model.weights
    cases, expected = [], []
    for _ in range(trials):
        x = int(rng.integers(0, 3))
        st0 = random_state(rng, cfg2)
        st1, _ = one.step(st0, [x])     # after step 0
        st2, _ = two.step(st0, [x])     # after step 1, starting from the same state
        for before, after, drive_en in ((st0, st1, 1), (st1, st2, int(cfg2.input_every_step))):
            acc = synaptic_sums(model, before.spikes)
            for n in range(cfg2.neurons):
                cases.append([int(before.v[0, n]), int(w.leak[n]), int(w.w_in[x, n]), drive_en,
                              int(acc[n])])
                expected.append([int(after.v[0, n]), int(after.spikes[0, n])])
    return cfg2, cases, expected


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CONFIGS))
def test_lif_verilog_matches_golden(name):
    overrides, latency = CONFIGS[name]
    rng = np.random.default_rng(100 + list(CONFIGS).index(name))
    cfg, cases, expected = golden_cases(rng, overrides, trials=50)
    # the cases reach what the rules are about: spikes and silence, both saturation bounds,
    # the weight range ends
    assert any(s for _, s in expected) and not all(s for _, s in expected)
    if name == "narrow":
        assert any(v == cfg.v_min for v, _ in expected), "negative saturation not reached"
        assert any(c[0] == cfg.v_max for c in cases)
    if name == "default":
        assert {cfg.w_min, cfg.w_max} <= {c[2] for c in cases}
    result = run(LIFUnit(config=cfg, latency=latency), f"lif_{name}",
                 test_module="snnfpga.sim.tb_lif",
                 data=dict(latency=latency, seed=len(cases), repeat=0.2, cases=cases,
                           expected=expected))
    assert result.tests == 1
