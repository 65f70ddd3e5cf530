# amaranth: UnusedElaboratable=no
"""EventQueue's Verilog in Verilator (cocotb) against a two-FIFO model, under back-pressure."""

from __future__ import annotations

import pytest
from snnfpga.hw.event_queue import EventQueue
from snnfpga.sim.build import missing_tools, run

pytestmark = pytest.mark.skipif(bool(missing_tools()), reason="the Verilator co-simulation needs "
                                + ", ".join(missing_tools()))


def runs(neurons: int) -> dict:
    """Parameters of the three cocotb tests; steps long enough for "next" to fill now and then."""
    swap = min(0.1, 0.6 / neurons)
    return {
        "random_traffic": dict(seed=neurons, cycles=4000, idle=0.4, stall=0.4, swap=swap,
                               early_swap=0.01),
        "steps_lose_no_event": dict(seed=neurons + 1, cycles=4000, idle=0.4, stall=0.4,
                                    swap=swap, early_swap=0.0),
        "full_rate": dict(seed=neurons + 2, cycles=2000, idle=0.0, stall=0.0, swap=0.2,
                          early_swap=0.0),
    }


# 48: buffers of a non-power-of-two depth in a power-of-two memory; 8: small enough that
# "next" fills up often.
@pytest.mark.slow
@pytest.mark.parametrize("neurons", [8, 48])
def test_event_queue_verilog_matches_fifo_model(neurons):
    result = run(EventQueue(neurons=neurons), f"event_queue_{neurons}",
                 test_module="snnfpga.sim.tb_event_queue",
                 data=dict(neurons=neurons, runs=runs(neurons)))
    assert result.tests == 3
    seen = result.outputs
    # the random runs reached every case the model distinguishes
    r = seen["random_traffic"]
    assert r["pops"] > 500 and r["swaps"] > 10, r
    assert r["early"] > 0 and r["early_held"] > 0 and r["dropped"] > 0, r
    assert r["push_with_swap"] > 0 and r["pop_with_swap"] > 0 and r["full"] > 0, r
    s = seen["steps_lose_no_event"]
    assert s["early"] == 0 and s["dropped"] == 0 and s["full"] > 0 and s["pops"] > 500, s
    f = seen["full_rate"]
    assert f["pops"] > 1000 and f["early"] == 0, f
