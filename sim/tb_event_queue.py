"""cocotb testbench of ``snnfpga.hw.event_queue.EventQueue`` against a model of two FIFOs.

Data (``snnfpga.sim.build.run(data=...)``)::

    {"neurons": int,                      # N, as built
     "runs": {test name: {"seed": int, "cycles": int,
                          "idle": float,        # i_stream: probability of an idle cycle
                          "stall": float,       # o_stream: probability of ready low
                          "swap": float,        # probability of a swap once "current" is drained
                          "early_swap": float}}}  # ... while it still holds events

Monitor, model and checker: every cycle, in the ReadOnly phase, :class:`Monitor` compares
``cur_level``, ``next_level``, ``i_stream.ready`` and the id offered on ``o_stream`` with the
model, then applies the cycle's transfers and swap to it. The model: pushes append to ``nxt``;
pops take the head of ``cur``; a swap makes ``nxt`` the new ``cur`` (a push in the swap cycle
joins it). The controller swaps when ``cur`` is drained, as the core's will; an early swap
drops the old step's events except one already offered on ``o_stream`` (stream rule 2).
Without early swaps no id may be lost: everything pushed comes out, in push order. Each test
saves counts of what it reached (``save_output``), for the caller to check.
"""

from __future__ import annotations

import random

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge
from snnfpga.sim.streams import StreamSink, StreamSource, read_int
from snnfpga.sim.testbench import (
    assert_sequences_equal,
    load_data,
    reset,
    save_output,
    start_clock,
)


class Monitor:
    """The two-FIFO model of the queue, checked against the design every cycle."""

    def __init__(self, dut, neurons: int):
        self.dut = dut
        self.n = neurons
        self.cur: list[int] = []
        self.nxt: list[int] = []
        self.pushed: list[int] = []
        self.popped: list[int] = []
        self.dropped = 0
        self.cycle = 0
        self.seen = dict(pushes=0, pops=0, swaps=0, early=0, early_held=0, full=0,
                         push_with_swap=0, pop_with_swap=0, stalls=0)

    def fail(self, what: str) -> None:
        raise AssertionError(f"cycle {self.cycle} (after {len(self.pushed)} pushes, "
                             f"{len(self.popped)} pops, {self.seen['swaps']} swaps): {what}; "
                             f"model current {self.cur[:8]}{'...' if len(self.cur) > 8 else ''}"
                             f", next holds {len(self.nxt)}")

    def sample(self) -> None:
        """Check this cycle's outputs against the model, then advance the model past it."""
        d = self.dut
        self.cycle += 1
        i_valid, i_ready = int(d.i_stream__valid.value), int(d.i_stream__ready.value)
        o_valid, o_ready = int(d.o_stream__valid.value), int(d.o_stream__ready.value)
        swap = int(d.swap.value)
        cur_level, next_level = read_int(d.cur_level), read_int(d.next_level)
        if cur_level != len(self.cur):
            self.fail(f"cur_level {cur_level}, model {len(self.cur)}")
        if next_level != len(self.nxt):
            self.fail(f"next_level {next_level}, model {len(self.nxt)}")
        if i_ready != (len(self.nxt) < self.n):
            self.fail(f"i_stream.ready {i_ready} with {len(self.nxt)} of {self.n} ids in next")
        if o_valid:
            offered = read_int(d.o_stream__payload)
            if not self.cur or offered != self.cur[0]:
                self.fail(f"o_stream offers id {offered}, model head {self.cur[:1]}")
            if o_ready:
                self.popped.append(self.cur.pop(0))
                self.seen["pops"] += 1
                self.seen["pop_with_swap"] += swap
        elif o_ready and self.cur:
            self.seen["stalls"] += 1          # events waiting, none offered yet
        held = bool(o_valid and not o_ready)
        if i_valid and i_ready:
            pid = read_int(d.i_stream__payload)
            self.nxt.append(pid)
            self.pushed.append(pid)
            self.seen["pushes"] += 1
            self.seen["push_with_swap"] += swap
        elif i_valid:
            self.seen["full"] += 1
        if swap:
            self.seen["swaps"] += 1
            if self.cur:
                self.seen["early"] += 1
                self.seen["early_held"] += held
                self.dropped += len(self.cur) - held
            # only an id already offered survives an early swap, and it comes first
            self.cur = (self.cur[:1] if held else []) + self.nxt
            self.nxt = []


class TB:
    """Clock, reset, the id source, the sink, the swap controller and the monitor."""

    def __init__(self, dut, neurons: int, params: dict):
        self.dut = dut
        self.p = params
        self.rng = random.Random(params["seed"])
        dut.swap.value = 0
        self.source = StreamSource(dut, "i_stream", dut.clk, idle=params["idle"],
                                   rng=random.Random(params["seed"] + 1))
        self.sink = StreamSink(dut, "o_stream", dut.clk, stall=params["stall"],
                               rng=random.Random(params["seed"] + 2))
        self.monitor = Monitor(dut, neurons)
        # more ids than the run can take: the source is never starved by the testbench
        self.source.send(self.rng.randrange(neurons) for _ in range(params["cycles"]))

    async def run(self) -> None:
        start_clock(self.dut)
        await reset(self.dut)
        self.source.start()
        self.sink.start()
        for _ in range(self.p["cycles"]):
            await RisingEdge(self.dut.clk)
            # the controller's rule: swap once the synapse phase has taken every event
            rate = self.p["swap"] if not self.monitor.cur else self.p["early_swap"]
            self.dut.swap.value = int(self.rng.random() < rate)
            await ReadOnly()
            self.monitor.sample()
        await RisingEdge(self.dut.clk)   # the sink has recorded the last cycle's transfer
        self.source.stop()
        self.sink.stop()
        assert_sequences_equal(self.sink.received, self.monitor.popped, "pop (sink vs monitor)")


async def run_named(dut, name: str) -> dict:
    data = load_data()
    tb = TB(dut, data["neurons"], data["runs"][name])
    await tb.run()
    m = tb.monitor
    if tb.p["early_swap"] == 0:
        # nothing lost, nothing duplicated, nothing reordered
        in_flight = m.cur + m.nxt
        assert m.pushed == m.popped + in_flight, (
            f"{len(m.pushed)} ids pushed, {len(m.popped)} popped and {len(in_flight)} queued "
            f"do not match in order")
    seen = dict(m.seen, dropped=m.dropped)
    save_output(name, seen)
    dut._log.info("%s: %s", name, seen)
    return seen


@cocotb.test(timeout_time=100, timeout_unit="ms")
async def random_traffic(dut):
    """Random pushes, pops and swaps, early swaps included; every cycle checked."""
    await run_named(dut, "random_traffic")


@cocotb.test(timeout_time=100, timeout_unit="ms")
async def steps_lose_no_event(dut):
    """Swaps only when drained, as the core does: every id pushed comes out once, in order."""
    await run_named(dut, "steps_lose_no_event")


@cocotb.test(timeout_time=100, timeout_unit="ms")
async def full_rate(dut):
    """No idle input, no back-pressure, swaps as soon as a step is drained."""
    await run_named(dut, "full_rate")
