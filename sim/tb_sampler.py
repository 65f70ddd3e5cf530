"""cocotb testbench of ``snnfpga.hw.sampler.Sampler`` against ``GoldenModel.sample`` (SPEC 5).

Data (``snnfpga.sim.build.run(data=...)``), computed by the caller with the golden model::

    {"seed": int,             # of the testbench's idle and back-pressure patterns
     "vocab_size": int,       # V, as built
     "idle": float,           # probability of an idle cycle before each logit
     "stall": float,          # probability of ready low on o_stream in a cycle
     "chars": [{"seed": int | null,   # LFSR state loaded before this character, or none
                "logits": [V ints],   # signed, logit_bits wide
                "tq": int,            # temperature of the character, 0 = argmax
                "expected": int}, ...]}

The logits stream through a :class:`StreamSource` with random idle cycles, the ids leave
through a :class:`StreamSink` with random back-pressure (which checks stream rule 2). ``tq``
carries the character's temperature in the cycle its first logit is offered and random junk
in every other cycle, since the sampler must read it only when it takes logit 0. A reload of
the LFSR comes between characters, once the previous character's logits have all been taken.
"""

from __future__ import annotations

import random

import cocotb
from cocotb.triggers import ClockCycles, RisingEdge
from snnfpga.sim.streams import StreamSink, StreamSource
from snnfpga.sim.testbench import assert_sequences_equal, load_data, reset, start_clock

TQ_BITS = 15


class TB:
    """Clock, reset, the logit source, the id sink, and the LFSR reloads."""

    def __init__(self, dut, data):
        self.dut = dut
        self.data = data
        self.v = data["vocab_size"]
        self.chars = data["chars"]
        self.rng = random.Random(data["seed"])
        self.tq_of = [c["tq"] for c in self.chars]
        dut.tq.value = 0
        dut.seed.value = 1
        dut.seed_load.value = 0
        self.source = StreamSource(dut, "i_stream", dut.clk, idle=data["idle"], rng=self.rng,
                                   on_cycle=self._drive_tq)
        self.sink = StreamSink(dut, "o_stream", dut.clk, stall=data["stall"],
                               rng=random.Random(data["seed"] + 1))

    def _drive_tq(self, index: int | None) -> None:
        """Temperature of the character when its logit 0 is offered, junk otherwise."""
        if index is not None and index % self.v == 0:
            self.dut.tq.value = self.tq_of[index // self.v]
        else:
            self.dut.tq.value = self.rng.getrandbits(TQ_BITS)

    async def start(self):
        start_clock(self.dut)
        await reset(self.dut)
        self.source.start()
        self.sink.start()

    async def load_seed(self, state: int) -> None:
        """Load the LFSR in a cycle of its own, after every queued logit has been taken."""
        await self.source.wait_drained()
        await RisingEdge(self.dut.clk)
        self.dut.seed.value = state
        self.dut.seed_load.value = 1
        await RisingEdge(self.dut.clk)
        self.dut.seed_load.value = 0
        self.dut.seed.value = self.rng.getrandbits(32)

    async def feed(self) -> None:
        for c in self.chars:
            if c["seed"] is not None:
                await self.load_seed(c["seed"])
            self.source.send(c["logits"])

    def describe(self, i: int) -> str:
        c = self.chars[i]
        logits = c["logits"] if len(c["logits"]) <= 12 else f"{c['logits'][:12]}..."
        reload = f", LFSR reloaded with {c['seed']:#010x}" if c["seed"] is not None else ""
        return f"tq {c['tq']}{reload}, logits {logits}"


@cocotb.test(timeout_time=100, timeout_unit="ms")
async def ids_match_golden(dut):
    """Every sampled id equals the golden model's, through idle input and back-pressure."""
    tb = TB(dut, load_data())
    await tb.start()
    await tb.feed()
    got = await tb.sink.wait_for(len(tb.chars))
    assert_sequences_equal(got, [c["expected"] for c in tb.chars], "character", tb.describe)
    await ClockCycles(dut.clk, 8)
    assert len(tb.sink.received) == len(tb.chars), (
        f"{len(tb.sink.received)} ids for {len(tb.chars)} characters")
    dut._log.info("%d characters, %d input idle cycles, %d output stall cycles, %d cycles",
                  len(tb.chars), tb.source.idle_cycles, tb.sink.stall_cycles, tb.sink.cycles)
