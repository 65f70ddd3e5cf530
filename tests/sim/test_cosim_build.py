# amaranth: UnusedElaboratable=no
"""The co-simulation machinery itself: port names, build reuse, failure messages, waveforms."""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import random_model
from snnfpga.hw.event_queue import EventQueue
from snnfpga.hw.lfsr import Lfsr32
from snnfpga.hw.lif import LIFUnit
from snnfpga.model.config import ModelConfig
from snnfpga.model.modelfile import save_model
from snnfpga.sim.build import (
    SimulationError,
    build,
    clocked_wrapper,
    missing_tools,
    run,
    to_verilog,
)
from snnfpga.sim.cosim import cosim
from snnfpga.sim.trace import random_commands

needs_verilator = pytest.mark.skipif(bool(missing_tools()), reason="the Verilator co-simulation "
                                     "needs " + ", ".join(missing_tools()))


def ports(verilog: str) -> set[str]:
    header = re.search(r"^module \w+\(([^)]*)\);", verilog, re.M).group(1)
    return {p.split()[-1] for p in header.split(",")}   # "name" or "input [2:0] name"


def test_port_names_follow_the_signature():
    """Stream members are joined with ``__``; ``clk``/``rst`` exist only with a sync domain."""
    assert ports(to_verilog(EventQueue(neurons=5), "eq")) == {
        "clk", "rst", "swap", "cur_level", "next_level",
        "i_stream__payload", "i_stream__valid", "i_stream__ready",
        "o_stream__payload", "o_stream__valid", "o_stream__ready"}
    combinational = LIFUnit(config=ModelConfig(neurons=8, fanout=2), latency=0)
    assert ports(to_verilog(combinational, "lif")) == {
        "v", "leak", "w_in", "drive_en", "acc", "v_next", "spike"}


def test_bad_names_are_named():
    with pytest.raises(ValueError, match="name must be a Verilog identifier, not 'a-b'"):
        to_verilog(Lfsr32(), "a-b")
    with pytest.raises(ValueError, match="waves must be False, True, 'vcd' or 'fst', not 'gif'"):
        build(Lfsr32(), "lfsr32_draw8", waves="gif")


@needs_verilator
@pytest.mark.slow
def test_a_build_is_reused_until_the_verilog_changes():
    first = build(Lfsr32(), "lfsr32_draw8")
    again = build(Lfsr32(), "lfsr32_draw8")
    assert again.cached and again.directory == first.directory
    assert again.seconds < 5, "a cached build only exports the Verilog"
    assert first.verilog.read_text() == to_verilog(Lfsr32(), "lfsr32_draw8")


@needs_verilator
@pytest.mark.slow
def test_a_mismatch_names_the_first_differing_transaction():
    """Expectations that are wrong from case 1 on: the error names case 1 and both values."""
    cfg = ModelConfig(neurons=8, fanout=2, membrane_bits=8, leak_shift_max=7, threshold=100)
    cases = [[0, 3, 0, 0, 0], [50, 5, 0, 0, 0], [60, 5, 0, 0, 0]]
    wrong = [[0, 0], [0, 0], [0, 0]]     # right for case 0 only: 50 - (50 >> 5) = 49
    with pytest.raises(SimulationError) as info:
        run(LIFUnit(config=cfg, latency=0), "lif_small", test_module="snnfpga.sim.tb_lif",
            data=dict(latency=0, seed=0, repeat=0.0, cases=cases, expected=wrong))
    message = str(info.value)
    assert "2 of 3 cycles differ; first: case 1 (cycle 1)" in message, message
    assert "expected (v_next, spike) = (0, 0), got (49, 0)" in message, message


@needs_verilator
@pytest.mark.slow
def test_waves_are_recorded():
    result = run(Lfsr32(), "lfsr32_draw8", test_module="snnfpga.sim.tb_lfsr", waves=True,
                 data=dict(seed=1, draw_bits=8, states=[1], draws=20, stall=0.3))
    assert result.waves is not None and result.waves.name == "dump.vcd"
    text = result.waves.read_text()
    head, _, changes = text.partition("$enddefinitions")
    for signal in ("clk", "rst", "draw", "advance", "state"):
        assert re.search(rf"\$var wire +\d+ \S+ {signal}\b", head), f"{signal} not traced"
    assert changes.count("\n#") > 100, "too few time steps recorded"


def test_the_clocked_wrapper_passes_every_port_but_the_clock():
    inner = to_verilog(EventQueue(neurons=5), "eq_dut")
    outer = clocked_wrapper(inner, "eq_dut", "eq", 10)
    assert ports(outer) == ports(inner) - {"clk"}
    assert "always #5 clk = ~clk;" in outer
    # widths are kept: the payload of 3 bits stays 3 bits
    assert re.search(r"input \[2:0\] i_stream__payload", outer), outer
    with pytest.raises(ValueError, match="module other not found"):
        clocked_wrapper(inner, "other", "eq", 10)
    comb = to_verilog(LIFUnit(config=ModelConfig(neurons=8, fanout=2), latency=0), "lif")
    with pytest.raises(ValueError, match="module lif has no clk input"):
        clocked_wrapper(comb, "lif", "lif_top", 10)


@needs_verilator
@pytest.mark.slow
def test_a_clocked_build_runs_its_own_clock_and_records_waves(tmp_path):
    """The core's co-simulation (clock inside the simulation) with a waveform: the wrapper's
    clock and the wrapped core's signals are in it."""
    rng = np.random.default_rng(3)
    model = random_model(rng, vocab="abcd", neurons=8, fanout=3, membrane_bits=10,
                         threshold=60)
    path = tmp_path / "m.snnm"
    save_model(model, path)
    rep = cosim(model, path, random_commands(rng, 4, 5), readout_lanes=2, waves=True,
                name="core_waves")
    assert rep.mismatch is None and rep.tokens > 0
    head, _, changes = rep.waves.read_text().partition("$enddefinitions")
    assert re.search(r"\$scope module dut \$end", head), "the wrapped core is not traced"
    for signal in ("clk", "o_spike__valid", "cmd__ready"):
        assert re.search(rf"\$var wire +\d+ \S+ {signal}\b", head), f"{signal} not traced"
    assert changes.count("\n#") > 2 * sum(rep.cycles), "not every clock edge was recorded"
