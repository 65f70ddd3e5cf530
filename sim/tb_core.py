"""cocotb testbench of ``snnfpga.hw.core.Core``: a command sequence against the golden model.

Data (``snnfpga.sim.build.run(data=...)``), written by ``snnfpga.sim.cosim``::

    {"model": str,                   # model file the core was built with
     "lanes": int, "readout_lanes": int, "synapse_lanes": int,
     "commands": [[op, id, sample, logits, tq, seed], ...],   # ``trace.Command`` fields
     "fields": {"cmd": {name: [offset, width]}, "mem_cmd": {...},   # payload layouts
                "o_spike": {...}},
     "stall": float, "idle": float, "seed": int,   # back-pressure / idle probabilities
     "read_counts": bool,            # read every neuron's spike count after each token
     "load": bool}                   # write every weight through the load port first

The expected trace is computed here, in the simulator's Python, by ``sim.trace``. With
``stall == idle == 0`` the outputs are watched only when they change (no Python work per
clock cycle), which is what lets thousands of characters of the default model run in
seconds; otherwise every stream goes through the random source/sink of ``sim.streams``.
The spike trace port ``o_spike`` is always watched, so the first difference is reported by
``trace.first_mismatch`` with its token, time step and neuron.
"""

from __future__ import annotations

import random
import time

import cocotb
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge
from snnfpga.hw.core import COUNTERS
from snnfpga.sim.streams import StreamSink, read_int
from snnfpga.sim.testbench import load_data, reset, save_output

PER_TOKEN = ("spikes", "syn_events", "readout_ops")


def pack(fields: dict, **values) -> int:
    word = 0
    for name, value in values.items():
        offset, width = fields[name]
        word |= (int(value) & ((1 << width) - 1)) << offset
    return word


class WatchedStream:
    """Records an output stream whose ``ready`` is held high (or absent): wakes only when
    ``valid`` rises, and once per cycle while it stays high."""

    def __init__(self, dut, name: str, signed: bool, *, has_ready: bool = True):
        self.valid = getattr(dut, f"{name}__valid")
        self.payload = getattr(dut, f"{name}__payload")
        if has_ready:
            getattr(dut, f"{name}__ready").value = 1
        self.clk = dut.clk
        self.signed = signed
        self.received: list[int] = []
        cocotb.start_soon(self._run())

    async def _run(self):
        while True:
            await ReadOnly()
            if not int(self.valid.value):
                await RisingEdge(self.valid)
                await ReadOnly()
            self.received.append(read_int(self.payload, signed=self.signed))
            await RisingEdge(self.clk)


class CoreTB:
    def __init__(self, dut, data):
        from snnfpga.model.modelfile import load_model

        self.dut = dut
        self.data = data
        self.model = load_model(data["model"])
        self.rng = random.Random(data["seed"])
        self.fields = data["fields"]
        c = self.model.config
        self.lanes = data["lanes"]
        self.groups = c.neurons // self.lanes
        self.count_bits = max(1, c.steps.bit_length())
        if data["stall"] or data["idle"]:
            self.logits = StreamSink(dut, "o_logit", dut.clk, stall=data["stall"],
                                     rng=random.Random(data["seed"] + 1), signed=True)
            self.chars = StreamSink(dut, "o_char", dut.clk, stall=data["stall"],
                                    rng=random.Random(data["seed"] + 2))
            self.logits.start()
            self.chars.start()
        else:
            self.logits = WatchedStream(dut, "o_logit", signed=True)
            self.chars = WatchedStream(dut, "o_char", signed=False)
        self.spikes = WatchedStream(dut, "o_spike", signed=False, has_ready=False)
        self.spike_fields = data["fields"]["o_spike"]
        dut.cmd__valid.value = 0
        dut.mem_cmd__valid.value = 0
        dut.mem_rsp__ready.value = 0
        dut.counters_clear.value = 0

    def counters(self) -> dict[str, int]:
        return {name: int(getattr(self.dut, f"counters__{i}").value)
                for i, name in enumerate(COUNTERS)}

    async def offer(self, valid, payload, ready, word: int) -> None:
        """One transfer on an input stream, after random idle cycles."""
        await RisingEdge(self.dut.clk)
        while self.data["idle"] and self.rng.random() < self.data["idle"]:
            await RisingEdge(self.dut.clk)
        payload.value = word
        valid.value = 1
        while True:
            await ReadOnly()
            taken = int(ready.value)
            await RisingEdge(self.dut.clk)
            if taken:
                break
        valid.value = 0

    async def read_word(self, mem: int, addr: int) -> int:
        d = self.dut
        await self.offer(d.mem_cmd__valid, d.mem_cmd__payload, d.mem_cmd__ready,
                         pack(self.fields["mem_cmd"], write=0, mem=mem, addr=addr))
        d.mem_rsp__ready.value = 1
        while True:
            await ReadOnly()
            if int(d.mem_rsp__valid.value):
                word = int(d.mem_rsp__payload.value)
                await RisingEdge(d.clk)
                d.mem_rsp__ready.value = 0
                return word
            await RisingEdge(d.clk)

    async def load_weights(self) -> None:
        """Write every weight memory through the load port and read a few words back."""
        from snnfpga.hw.memmap import Geometry, MemId, pack_memories

        d = self.dut
        c = self.model.config
        geom = Geometry(c, len(self.model.vocab), self.lanes, self.data["readout_lanes"],
                        synapse_lanes=self.data["synapse_lanes"])
        words = pack_memories(geom, self.model.weights)
        for mem in (MemId.WGT, MemId.LEAK, MemId.FAN, MemId.BIAS):
            for addr, word in enumerate(words[mem]):
                await self.offer(d.mem_cmd__valid, d.mem_cmd__payload, d.mem_cmd__ready,
                                 pack(self.fields["mem_cmd"], write=1, mem=int(mem), addr=addr,
                                      data=word))
            for addr in sorted({0, len(words[mem]) // 2, len(words[mem]) - 1}):
                got = await self.read_word(int(mem), addr)
                assert got == words[mem][addr], \
                    f"{mem.name} word {addr}: wrote {words[mem][addr]:#x}, read {got:#x}"

    async def read_lanes(self, mem: int, bits: int, signed: bool) -> list[int]:
        from snnfpga.hw.memmap import unpack_lanes

        out = []
        for g in range(self.groups):
            out += unpack_lanes(await self.read_word(mem, g), bits, self.lanes, signed)
        return out

    async def run(self, commands):
        from snnfpga.hw.memmap import MemId
        from snnfpga.model.golden import seed_to_state
        from snnfpga.sim.trace import Command, TokenTrace, Trace

        d = self.dut
        got = Trace()
        cycles = []
        before = self.counters()
        n_logits = n_chars = n_spikes = 0
        steps = self.model.config.steps
        (s_off, s_w), (n_off, n_w) = self.spike_fields["step"], self.spike_fields["neuron"]
        for op, cid, sample, logits, tq, seed in commands:
            cmd = Command(op, cid, bool(sample), bool(logits), tq, seed)
            word = pack(self.fields["cmd"], op=int(op == "reset"), id=cid, sample=sample,
                        logits=logits, tq=tq, seed=seed_to_state(seed))
            await self.offer(d.cmd__valid, d.cmd__payload, d.cmd__ready, word)
            if int(d.busy.value) == 0:
                await RisingEdge(d.busy)
            await FallingEdge(d.busy)
            await ReadOnly()
            if cmd.op != "token":
                n_spikes = len(self.spikes.received)   # a reset drops pending spikes
                continue
            after = self.counters()
            per_step = [[] for _ in range(steps)]
            for word in self.spikes.received[n_spikes:]:
                t = (word >> s_off) & ((1 << s_w) - 1)
                while t >= len(per_step):   # a step past T is reported, not folded
                    per_step.append([])
                per_step[t].append((word >> n_off) & ((1 << n_w) - 1))
            n_spikes = len(self.spikes.received)
            v = len(self.model.vocab)
            tok_logits = self.logits.received[n_logits:n_logits + v] if logits else []
            n_logits += len(tok_logits)
            sampled = self.chars.received[n_chars] if sample else None
            n_chars += int(bool(sample))
            counts = []
            if self.data["read_counts"]:
                counts = await self.read_lanes(int(MemId.CNT), self.count_bits, False)
            got.tokens.append(TokenTrace(logits=tok_logits, sampled=sampled, counts=counts,
                                         steps=per_step,
                                         **{k: after[k] - before[k] for k in PER_TOKEN}))
            cycles.append(after["cycles"] - before["cycles"])
            before = after   # reads through the load port leave every counter as it is
        counts = await self.read_lanes(int(MemId.CNT), self.count_bits, False)
        if got.tokens and not got.tokens[-1].counts:
            got.tokens[-1].counts = counts
        got.membranes = await self.read_lanes(int(MemId.VMEM), self.model.config.membrane_bits,
                                              True)
        return got, cycles


@cocotb.test(timeout_time=3600, timeout_unit="sec")
async def core_matches_golden(dut):
    """Every sampled id, logit, per-token counter, spike count and final membrane is equal."""
    from snnfpga.sim.trace import Command, expected_trace, first_mismatch

    data = load_data()
    tb = CoreTB(dut, data)
    commands = [tuple(c) for c in data["commands"]]
    expected = expected_trace(tb.model, [Command(*c) for c in commands])
    # the clock runs inside the simulation (sim.build.clocked_wrapper): no call into cocotb
    # at every edge
    await reset(dut)
    if data.get("load"):
        await tb.load_weights()
    t0 = time.monotonic()
    got, cycles = await tb.run(commands)
    seconds = time.monotonic() - t0
    for e, g in zip(expected.tokens, got.tokens, strict=False):
        if not g.logits:
            e.logits = []
        if not g.counts:
            e.counts = []
    save_output("cycles", cycles)
    save_output("seconds", seconds)
    save_output("tokens", len(got.tokens))
    save_output("spikes", [t.spikes for t in got.tokens])
    save_output("syn_events", [t.syn_events for t in got.tokens])
    save_output("readout_ops", [t.readout_ops for t in got.tokens])
    save_output("totals", tb.counters())
    report = first_mismatch(expected, got, tb.model.config.neurons)
    save_output("mismatch", report)
    assert report is None, report
