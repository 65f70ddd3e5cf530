"""What every cocotb testbench of the project shares: its data file, clock, reset, checks.

These functions run inside the simulator process (cocotb imports the test module there);
``snnfpga.sim.build.run`` starts that process and hands over the data file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge

from .build import CLOCK_PERIOD_NS, DATA_ENV, OUTPUT_ENV

__all__ = ["CLOCK_PERIOD_NS", "assert_sequences_equal", "load_data", "reset", "save_output",
           "start_clock"]


def load_data():
    """Return the JSON data that ``snnfpga.sim.build.run(..., data=...)`` wrote for this run."""
    path = os.environ.get(DATA_ENV)
    if not path:
        raise RuntimeError(f"{DATA_ENV} is not set: run this testbench through "
                           "snnfpga.sim.build.run(), which writes the data file")
    with open(path) as f:
        return json.load(f)


def save_output(key: str, value) -> None:
    """Leave a JSON-serialisable ``value`` for the caller of ``run()`` under ``key``."""
    path = os.environ.get(OUTPUT_ENV)
    if not path:
        return
    try:
        with open(path) as f:
            outputs = json.load(f)
    except FileNotFoundError:
        outputs = {}
    outputs[key] = value
    with open(path, "w") as f:
        json.dump(outputs, f)


def start_clock(dut, period_ns: float = CLOCK_PERIOD_NS):
    """Start a clock on ``dut.clk``; returns the cocotb task."""
    return Clock(dut.clk, period_ns, unit="ns").start(start_high=False)


async def reset(dut, cycles: int = 2) -> None:
    """Hold Amaranth's synchronous reset ``dut.rst`` for ``cycles`` clock edges."""
    dut.rst.value = 1
    await ClockCycles(dut.clk, cycles)
    dut.rst.value = 0
    await RisingEdge(dut.clk)


def assert_sequences_equal(got: Sequence, expected: Sequence, what: str,
                           describe=None) -> None:
    """Assert that two transaction sequences are equal, naming the first difference.

    ``describe(i)``, if given, returns the stimulus of transaction ``i`` for the message.
    """
    for i, (g, e) in enumerate(zip(got, expected, strict=False)):
        if g != e:
            context = f"; stimulus {describe(i)}" if describe is not None else ""
            raise AssertionError(f"{what} {i}: got {g!r}, expected {e!r}{context}")
    if len(got) != len(expected):
        raise AssertionError(f"{what}: got {len(got)} transactions, expected {len(expected)}")
