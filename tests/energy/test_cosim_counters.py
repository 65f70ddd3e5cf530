# amaranth: UnusedElaboratable=no
"""Live check of the derived counters against the core in Verilator (slow; the recorded runs
in ``data/cosim_records.json`` are checked by ``test_counters.py`` without Verilator)."""

from __future__ import annotations

import pytest
import torch
from snnfpga.energy import generate_counts
from snnfpga.energy.counters import MEASURED_OVERHEAD, default_geometry, geometry_key
from snnfpga.hw.core import COUNTERS, Core, cycle_lower_bound
from snnfpga.model.golden import GoldenModel, temperature_to_fixed
from snnfpga.sim.build import CLOCK_PERIOD_NS, missing_tools, run
from snnfpga.sim.cosim import core_run_data
from snnfpga.sim.trace import Command
from snnfpga.sw_driver.api import default_model_path

import snnfpga

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(missing_tools()), reason="the Verilator co-simulation needs "
                       + ", ".join(missing_tools())),
]


def test_generation_counters_equal_the_verilated_core():
    prompt, n, temp, seed = "KING RICHARD:", 16, 0.8, 11
    model = snnfpga.load(None)
    geom = default_geometry(model)
    text, derived = generate_counts(prompt, max_new_tokens=n, temperature=temp, seed=seed)
    fed = model.vocab.encode(prompt + text[:-1])
    tq = temperature_to_fixed(temp, model.config.temperature_frac_bits)
    cmds = [Command("reset", seed=seed)] + [
        Command("token", id=int(i), sample=k >= len(prompt) - 1, logits=False, tq=tq)
        for k, i in enumerate(fed)]
    core = Core(config=model.config, vocab_size=len(model.vocab), weights=model.weights,
                lanes=geom.lanes, readout_lanes=geom.readout_lanes)
    data = core_run_data(core, default_model_path(), cmds)
    out = run(core, "core", test_module="snnfpga.sim.tb_core", data=data,
              run_name="energy-counters", clock_ns=CLOCK_PERIOD_NS).outputs
    assert out["mismatch"] is None
    for name in COUNTERS:
        assert derived.counters[name] == out["totals"][name], name
    # and token by token
    per_tok, per_sample, last, per_reset = MEASURED_OVERHEAD[geometry_key(geom)]
    gm = GoldenModel(model)
    st = gm.init_state(1)
    want = []
    with torch.inference_mode():
        for k, i in enumerate(fed):
            st, res = gm.step(st, torch.tensor([int(i)]))
            want.append(cycle_lower_bound(geom, int(res.syn_events[0]), int(res.readout_ops[0]))
                        + per_tok + per_sample * (k >= len(prompt) - 1)
                        + last * int(res.counts[0, -1]) + (per_reset if k == 0 else 0))
    assert out["cycles"] == want
