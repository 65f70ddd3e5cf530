# amaranth: UnusedElaboratable=no
"""The core's Verilog in Verilator (cocotb) against the golden model: small configurations with
idle cycles and back-pressure, and the default model on 2,000 validation characters."""

from __future__ import annotations

import statistics

import numpy as np
import pytest
from conftest import random_model
from snnfpga.model.data import read_text, split_text
from snnfpga.model.modelfile import save_model
from snnfpga.sim.build import SimulationError, missing_tools
from snnfpga.sim.cosim import cosim, default_model_runs
from snnfpga.sim.trace import expected_trace, first_mismatch, random_commands

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(missing_tools()), reason="the Verilator co-simulation needs "
                       + ", ".join(missing_tools())),
]

SMALL = {
    # name: (configuration, lanes, readout lanes)
    "n24_p1": (dict(neurons=24, fanout=7, membrane_bits=10, threshold=90), 1, 4),
    "n16_p4_latched": (dict(neurons=16, fanout=16, steps=3, membrane_bits=8, threshold=50,
                            input_every_step=False, reset="zero"), 4, 3),
}


@pytest.mark.parametrize("name", list(SMALL))
def test_small_core_with_stalls(name, tmp_path):
    over, lanes, rlanes = SMALL[name]
    rng = np.random.default_rng(list(SMALL).index(name))
    model = random_model(rng, vocab="abcdefghij", extremes=0.25, **over)
    path = tmp_path / "m.snnm"
    save_model(model, path)
    cmds = random_commands(rng, len(model.vocab), 60)
    rep = cosim(model, path, cmds, lanes=lanes, readout_lanes=rlanes, stall=0.3, idle=0.3,
                read_counts=True, seed=5, name=f"core_{name}")
    assert rep.mismatch is None
    assert rep.tokens == sum(c.op == "token" for c in cmds)
    assert sum(rep.spikes) > 0 and sum(rep.syn_events) > 0


def test_spram_core_loaded_through_the_load_port(tmp_path):
    """The UP5K build: fan-out lists and weights in SPRAM blocks (simulated by their model),
    every weight written through the load port, then equal to the golden model."""
    over = dict(neurons=20, fanout=6, membrane_bits=10, threshold=80)
    rng = np.random.default_rng(21)
    model = random_model(rng, vocab="abcdefghijk", extremes=0.25, **over)
    path = tmp_path / "m.snnm"
    save_model(model, path)
    cmds = random_commands(rng, len(model.vocab), 40)
    rep = cosim(model, path, cmds, lanes=2, readout_lanes=4, stall=0.2, idle=0.2,
                read_counts=True, spram=True, name="core_spram")
    assert rep.mismatch is None
    assert sum(rep.spikes) > 0 and sum(rep.syn_events) > 0


def test_a_wrong_bias_is_reported_by_token_and_logit(tmp_path):
    """The hardware built with one changed bias: the report names the token and the logit."""
    over, lanes, rlanes = SMALL["n24_p1"]
    rng = np.random.default_rng(9)
    model = random_model(rng, vocab="abcdefghij", **over)
    path = tmp_path / "m.snnm"
    save_model(model, path)
    model.weights.bias[3] += 1   # random_model keeps biases within a quarter of the range
    cmds = random_commands(rng, len(model.vocab), 10, resets=False)
    with pytest.raises(SimulationError, match=r"token \d+: (logit 3|sampled)"):
        cosim(model, path, cmds, lanes=lanes, readout_lanes=rlanes, name="core_wrong")


def test_a_wrong_synapse_is_reported_by_token_time_step_and_neuron(tmp_path):
    """The hardware built with one changed recurrent weight: the report names the first
    token, time step and neuron whose spike differs, exactly as the golden model predicts."""
    over, lanes, rlanes = SMALL["n24_p1"]
    rng = np.random.default_rng(11)
    model = random_model(rng, vocab="abcdefghij", **over)
    path = tmp_path / "m.snnm"
    save_model(model, path)
    cmds = random_commands(rng, len(model.vocab), 30, resets=False)
    expected = expected_trace(model, cmds)
    # flip one synapse of a busy source to the opposite extreme weight: the first one (by
    # activity) whose change makes a spike differ before any logit does
    c, w = model.config, model.weights.rec_weights
    busy = np.argsort(-np.sum([t.counts for t in expected.tokens], axis=0), kind="stable")
    predicted = None
    for src, j in ((int(s), j) for s in busy for j in range(c.fanout)):
        old = int(w[src, j])
        w[src, j] = c.w_min if old >= 0 else c.w_max
        predicted = first_mismatch(expected, expected_trace(model, cmds), c.neurons)
        if predicted is not None and "time step" in predicted:
            break
        w[src, j] = old
    assert predicted is not None and "time step" in predicted, predicted
    with pytest.raises(SimulationError) as exc:
        cosim(model, path, cmds, lanes=lanes, readout_lanes=rlanes, name="core_wrong")
    assert predicted in str(exc.value)


def test_default_model_2000_characters(corpus_path):
    """2,000 consecutive validation characters, argmax and temperature 0.8, all equal."""
    from snnfpga.sw_driver.api import default_model_path

    text = split_text(read_text(corpus_path), "val")[:2000]
    reports = default_model_runs(default_model_path(), text, [0.0, 0.8], seed=3)
    for rep in reports:
        assert rep.mismatch is None
        assert rep.tokens == 2000
        # cycle counts are exact integers, not timings: the schedule keeps close to its bound
        assert all(c >= b for c, b in zip(rep.cycles, rep.bounds, strict=True))
        assert statistics.fmean(rep.cycles) <= 1.25 * statistics.fmean(rep.bounds)
