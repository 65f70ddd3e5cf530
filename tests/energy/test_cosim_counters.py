# amaranth: UnusedElaboratable=no
"""Live check of the derived counters against the core in Verilator (slow; the recorded runs
in ``data/cosim_records.json`` are checked by ``test_counters.py`` without Verilator)."""

from __future__ import annotations

import pytest
from snnfpga.energy import generate_counts
from snnfpga.energy.counters import default_geometry
from snnfpga.hw.core import COUNTERS, Core
from snnfpga.model.golden import temperature_to_fixed
from snnfpga.sim.build import CLOCK_PERIOD_NS, missing_tools, run
from snnfpga.sim.cosim import core_run_data
from snnfpga.sim.records import generation_commands
from snnfpga.sw_driver.api import default_model_path
from token_cycles import expected_token_cycles

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
    cmds = generation_commands(fed, len(prompt), tq, seed)
    core = Core(config=model.config, vocab_size=len(model.vocab), weights=model.weights,
                lanes=geom.lanes, readout_lanes=geom.readout_lanes)
    data = core_run_data(core, default_model_path(), cmds)
    out = run(core, "core", test_module="snnfpga.sim.tb_core", data=data,
              run_name="energy-counters", clock_ns=CLOCK_PERIOD_NS).outputs
    assert out["mismatch"] is None
    for name in COUNTERS:
        assert derived.counters[name] == out["totals"][name], name
    # and token by token
    assert out["cycles"] == expected_token_cycles(model, fed, len(prompt))
