# amaranth: UnusedElaboratable=no
"""Core against the golden model in Amaranth's simulator: random small configurations, random
commands, random idle cycles and back-pressure; every logit, sampled id, counter and membrane."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("amaranth")

from amaranth.sim import Simulator  # noqa: E402
from conftest import random_model  # noqa: E402
from snnfpga.hw.core import (  # noqa: E402
    COUNTERS,
    Core,
    Op,
    cycle_lower_bound,
    memory_words,
)
from snnfpga.hw.memmap import Geometry, MemId, pack_memories, unpack_lanes  # noqa: E402
from snnfpga.model.golden import seed_to_state  # noqa: E402
from snnfpga.sim.trace import (  # noqa: E402
    Command,
    TokenTrace,
    Trace,
    expected_trace,
    first_mismatch,
    random_commands,
)

TIMEOUT = 20_000   # cycles a command may take in these small configurations
PER_TOKEN = ("spikes", "syn_events", "readout_ops")


def run_core(model, commands, *, lanes=1, readout_lanes=8, synapse_lanes=1, seed=0, idle=0.3,
             stall=0.3, load=False, read_counts=True, registered_reads=False):
    """Drive ``commands`` through a simulated core; return its trace and counter totals."""
    cfg, voc = model.config, len(model.vocab)
    geom = Geometry(cfg, voc, lanes, readout_lanes, synapse_lanes=synapse_lanes)
    dut = Core(config=cfg, vocab_size=voc, weights=None if load else model.weights,
               lanes=lanes, readout_lanes=readout_lanes, synapse_lanes=synapse_lanes,
               registered_reads=registered_reads)
    rng = np.random.default_rng(seed)
    got = Trace()
    logits_q, chars_q, spikes_q = [], [], []
    totals = {}

    async def sink(ctx, port, queue):
        while True:
            ready = int(rng.random() >= stall)
            ctx.set(port.ready, ready)
            _, _, valid, payload = await ctx.tick().sample(port.valid, port.payload)
            if valid and ready:
                queue.append(payload)

    async def spike_monitor(ctx):   # the trace port is always ready
        async for _, _, valid, payload in ctx.tick().sample(dut.o_spike.valid,
                                                              dut.o_spike.payload):
            if valid:
                spikes_q.append((payload.step, payload.neuron))

    async def mem_access(ctx, mem, addr, data=0, write=False):
        ctx.set(dut.mem_cmd.payload, {"write": int(write), "mem": int(mem), "addr": addr,
                                      "data": data})
        ctx.set(dut.mem_cmd.valid, 1)
        await ctx.tick().until(dut.mem_cmd.ready)
        ctx.set(dut.mem_cmd.valid, 0)
        if write:
            return None
        ctx.set(dut.mem_rsp.ready, 1)
        while True:
            _, _, valid, word = await ctx.tick().sample(dut.mem_rsp.valid, dut.mem_rsp.payload)
            if valid:
                break
        ctx.set(dut.mem_rsp.ready, 0)
        return word

    async def counters(ctx):
        return {name: ctx.get(dut.counters[i]) for i, name in enumerate(COUNTERS)}

    async def driver(ctx):
        if load:   # write every weight through the load port, then read a few words back
            words = pack_memories(geom, model.weights)
            for mem in (MemId.WGT, MemId.LEAK, MemId.FAN, MemId.BIAS):
                for a, w in enumerate(words[mem]):
                    await mem_access(ctx, mem, a, w, write=True)
            for mem in (MemId.FAN, MemId.WGT):
                a = int(rng.integers(0, len(words[mem])))
                assert await mem_access(ctx, mem, a) == words[mem][a]
        before = await counters(ctx)
        for cmd in commands:
            while rng.random() < idle:
                await ctx.tick()
            ctx.set(dut.cmd.payload, {
                "op": Op.RESET if cmd.op == "reset" else Op.TOKEN, "id": cmd.id,
                "sample": int(cmd.sample), "logits": int(cmd.logits), "tq": cmd.tq,
                "seed": seed_to_state(cmd.seed)})
            ctx.set(dut.cmd.valid, 1)
            await ctx.tick().until(dut.cmd.ready)
            ctx.set(dut.cmd.valid, 0)
            await ctx.tick()
            for _ in range(TIMEOUT):
                if not ctx.get(dut.busy) and (cmd.op != "token" or (
                        (chars_q or not cmd.sample) and (len(logits_q) >= voc or not cmd.logits))):
                    break
                await ctx.tick()
            else:
                raise AssertionError(f"command {cmd} not finished after {TIMEOUT} cycles: "
                                     f"busy {ctx.get(dut.busy)}, {len(chars_q)} ids and "
                                     f"{len(logits_q)} logits received")
            if cmd.op != "token":
                spikes_q.clear()
                continue
            after = await counters(ctx)
            steps = [[] for _ in range(cfg.steps)]
            for t, n in spikes_q:
                steps[t].append(n)
            spikes_q.clear()
            counts = []
            if read_counts:
                for gi in range(geom.groups):
                    word = await mem_access(ctx, MemId.CNT, gi)
                    counts += unpack_lanes(word, geom.count_bits, lanes, signed=False)
            got.tokens.append(TokenTrace(
                logits=[logits_q.pop(0) for _ in range(voc)] if cmd.logits else [],
                sampled=chars_q.pop(0) if cmd.sample else None, counts=counts, steps=steps,
                **{k: after[k] - before[k] for k in PER_TOKEN}))
            before = after
        for gi in range(geom.groups):
            word = await mem_access(ctx, MemId.VMEM, gi)
            got.membranes += unpack_lanes(word, cfg.membrane_bits, lanes, signed=True)
        totals.update(await counters(ctx))
        assert not logits_q and not chars_q, "the core sent more than it was asked for"

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(driver)

    async def logit_sink(ctx):
        await sink(ctx, dut.o_logit, logits_q)

    async def char_sink(ctx):
        await sink(ctx, dut.o_char, chars_q)

    sim.add_testbench(logit_sink, background=True)
    sim.add_testbench(char_sink, background=True)
    sim.add_testbench(spike_monitor, background=True)
    sim.run()
    return got, totals


def check(model, commands, **kw):
    exp = expected_trace(model, commands)
    got, totals = run_core(model, commands, **kw)
    for e, g in zip(exp.tokens, got.tokens, strict=False):
        if not g.logits:
            e.logits = []
        if not g.counts:
            e.counts = []
    report = first_mismatch(exp, got, model.config.neurons)
    assert report is None, report
    return exp, totals


#: configuration, LIF lanes P, readout lanes R, synapse lanes S
CONFIGS = {
    "small-default": (dict(neurons=16, fanout=6, membrane_bits=12, threshold=100), 1, 4, 2),
    "lanes-2": (dict(neurons=16, fanout=16, membrane_bits=10, threshold=60, reset="zero"),
                2, 3, 4),
    "lanes-4-latched": (dict(neurons=12, fanout=5, steps=3, input_every_step=False,
                             membrane_bits=8, threshold=40, input_shift=4), 4, 8, 1),
    "one-step": (dict(neurons=8, fanout=3, steps=1, membrane_bits=12, threshold=30), 1, 1, 3),
    "rectified": (dict(neurons=16, fanout=6, membrane_bits=10, threshold=80, feature_bits=5,
                       membrane_feature="rectified"), 2, 5, 2),
    # every neuron reaches every other: consecutive fan-out words of one synapse lane often
    # hit the same accumulator (the read-modify-write hazards)
    "all-to-all": (dict(neurons=4, fanout=4, membrane_bits=10, threshold=30), 1, 2, 2),
    "all-to-all-lanes-2": (dict(neurons=8, fanout=8, membrane_bits=10, threshold=30), 2, 3, 4),
}


@pytest.mark.parametrize("name", CONFIGS)
def test_core_equals_golden(name):
    over, lanes, rlanes, slanes = CONFIGS[name]
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    model = random_model(rng, vocab="abcdefg", extremes=0.2, **over)
    cmds = random_commands(rng, len(model.vocab), 40)
    exp, totals = check(model, cmds, lanes=lanes, readout_lanes=rlanes, synapse_lanes=slanes,
                        seed=len(name))
    # firing and synaptic traffic happened, so the comparison exercised the event path
    assert sum(t.spikes for t in exp.tokens) > 0
    assert sum(t.syn_events for t in exp.tokens) > 0


@pytest.mark.parametrize("name", ["small-default", "lanes-4-latched", "all-to-all",
                                  "all-to-all-lanes-2"])
def test_core_with_registered_reads_equals_golden(name):
    """The ECP5 build: two-cycle reads of the fan-out lists and weights (stalls, loads through
    the load port and read-backs included) change the schedule, not one bit of the result."""
    over, lanes, rlanes, slanes = CONFIGS[name]
    rng = np.random.default_rng(abs(hash(name)) % 2**32 + 1)
    model = random_model(rng, vocab="abcdefg", extremes=0.2, **over)
    cmds = random_commands(rng, len(model.vocab), 30)
    exp, totals = check(model, cmds, lanes=lanes, readout_lanes=rlanes, synapse_lanes=slanes,
                        seed=len(name), registered_reads=True, load=True)
    assert sum(t.syn_events for t in exp.tokens) > 0
    geom = Geometry(model.config, len(model.vocab), lanes, rlanes, registered_reads=True,
                    synapse_lanes=slanes)
    bounds = [cycle_lower_bound(geom, t.syn_events, t.readout_ops) for t in exp.tokens]
    assert totals["cycles"] >= sum(bounds)


@pytest.mark.parametrize("regs", [False, True])
@pytest.mark.parametrize("slanes", [1, 2])
def test_memory_access_counters_follow_the_schedule(regs, slanes):
    rng = np.random.default_rng(7)
    over = dict(neurons=16, fanout=4, membrane_bits=12, threshold=100)
    model = random_model(rng, vocab="abcde", **over)
    cmds = random_commands(rng, 5, 12, resets=False)
    lanes, rlanes = 2, 2
    exp, totals = check(model, cmds, lanes=lanes, readout_lanes=rlanes, synapse_lanes=slanes,
                        idle=0, stall=0, read_counts=False, registered_reads=regs)
    geom = Geometry(model.config, 5, lanes, rlanes, registered_reads=regs, synapse_lanes=slanes)
    k = len(exp.tokens)
    ev = sum(t.syn_events for t in exp.tokens)
    assert totals["tokens"] == k
    assert totals["spikes"] == sum(t.spikes for t in exp.tokens)
    # every memory word the core counted, as its schedule states: neuron phases read the
    # input weights and leak per group, the readout a list entry and a weight word per
    # (block, non-zero feature), a bias word per logit, ...
    words = memory_words(geom, k, ev, sum(t.readout_ops for t in exp.tokens))
    assert {name: totals[name] for name in words} == words
    assert any(t.readout_ops for t in exp.tokens) and ev > 0   # list entries, fan-out entries

@pytest.mark.parametrize("regs", [False, True])
def test_tokens_without_a_non_zero_feature(regs):
    """A token that leaves every feature at zero reads no list entry and no weight word; its
    logits are the biases. Character 0 drives nothing and the network has no recurrent
    weights, so from rest it is such a token, while the others are not."""
    rng = np.random.default_rng(11)
    base = random_model(rng, vocab="abcd", neurons=8, fanout=3, membrane_bits=10,
                        threshold=60, membrane_feature="rectified")
    w = base.weights
    w_in = w.w_in.copy()
    w_in[0] = 0
    model = dataclasses.replace(base, weights=dataclasses.replace(
        w, w_in=w_in, rec_weights=np.zeros_like(w.rec_weights)))
    cmds = [Command("reset", seed=1)] + [
        Command("token", id=int(i), sample=True, logits=True, tq=int(rng.integers(0, 300)))
        for i in (0, 0, 2, 0, 1, 3, 0)] + [Command("reset", seed=2), Command("token", id=0,
                                                                            logits=True)]
    exp, totals = check(model, cmds, lanes=2, readout_lanes=3, synapse_lanes=3,
                        registered_reads=regs)
    ops = [t.readout_ops for t in exp.tokens]
    assert ops[0] == ops[1] == ops[-1] == 0 and max(ops) > 0
    assert exp.tokens[0].logits == [int(b) for b in w.bias]
    geom = Geometry(model.config, 4, 2, 3, registered_reads=regs, synapse_lanes=3)
    words = memory_words(geom, len(ops), sum(t.syn_events for t in exp.tokens), sum(ops))
    assert {name: totals[name] for name in words} == words


@pytest.mark.parametrize("regs", [False, True])
@pytest.mark.parametrize(("slanes", "gap"), [(1, 1), (2, 1), (1, 2), (2, 2)])
def test_back_to_back_entries_to_one_accumulator(regs, slanes, gap):
    """The fan-out lists are laid out so that when two neighbours fire in one step, a
    synapse lane adds into one accumulator twice, ``gap`` cycles apart (the read-modify-write
    hazards that the transparent read port, and with registered reads the forwarded sum, must
    cover); reset by subtraction keeps every sum in the membranes."""
    rng = np.random.default_rng(21)
    base = random_model(rng, vocab="abc", neurons=4, fanout=4, membrane_bits=12,
                        threshold=100, input_shift=3, recurrent_shift=3)
    n, fw = 4, 4 // slanes
    # row s of the targets: lane k's entries are k, k + S, ...; the entry ``gap`` words
    # before the end of row s in a lane is the first of row s + 1 in that lane
    rows = {(1, 1): lambda s: [s, s + 2, s + 3, s + 1], (2, 1): lambda s: [s, s + 2, s + 1, s + 3],
            (1, 2): lambda s: [s, s + 2, s + 1, s + 3], (2, 2): lambda s: [0, 2, 1, 3]}
    targets = np.array([[t % n for t in rows[slanes, gap](s)] for s in range(n)],
                       dtype=np.uint16)
    for s in range(n - 1):
        for k in range(slanes):
            assert targets[s][(fw - gap) * slanes + k] == targets[s + 1][k]
    w = base.weights
    model = dataclasses.replace(base, weights=dataclasses.replace(
        w, rec_targets=targets, w_in=np.full_like(w.w_in, 7),
        rec_weights=rng.integers(0, 8, size=w.rec_weights.shape).astype(np.int8)))
    cmds = [Command("reset", seed=3)] + [
        Command("token", id=int(i), sample=True, logits=True, tq=100)
        for i in rng.integers(0, 3, size=12)]
    exp, totals = check(model, cmds, lanes=1, readout_lanes=2, synapse_lanes=slanes,
                        registered_reads=regs, idle=0, stall=0)
    neighbours = sum(1 for t in exp.tokens for step in t.steps
                     for a, b in zip(step, step[1:], strict=False) if b == a + 1)
    assert neighbours >= 5, neighbours


def random_config(rng) -> tuple[dict, int, int]:
    """A small random configuration that saturates often: narrow membranes, big shifts."""
    n = int(rng.integers(2, 25))
    mb = int(rng.integers(6, 13))
    over = dict(
        neurons=n, fanout=int(rng.integers(1, n + 1)), steps=int(rng.integers(1, 5)),
        membrane_bits=mb, leak_shift_min=int(rng.integers(1, 4)),
        threshold=int(rng.integers(1, (1 << (mb - 1)))),
        input_shift=int(rng.integers(0, mb - 2)), recurrent_shift=int(rng.integers(0, mb - 3)),
        reset=str(rng.choice(["subtract", "zero"])), input_every_step=bool(rng.random() < 0.5),
        feature_shift=int(rng.integers(0, 4)), feature_bits=int(rng.integers(2, mb + 1)),
        membrane_feature=str(rng.choice(["signed", "rectified"])),
        count_shift=int(rng.integers(0, 5)))
    over["leak_shift_max"] = over["leak_shift_min"] + int(rng.integers(0, 4))
    lanes = int(rng.choice([d for d in (1, 2, 4) if n % d == 0]))
    slanes = int(rng.choice([d for d in (1, 2, 3, 4) if over["fanout"] % d == 0]))
    return over, lanes, int(rng.integers(1, 9)), slanes


@pytest.mark.slow
@pytest.mark.parametrize("k", range(20))
def test_core_random_configurations(k):
    rng = np.random.default_rng(1000 + k)
    over, lanes, rlanes, slanes = random_config(rng)
    vocab = "abcdefghijklmnopqrstuvwxyz"[: int(rng.integers(1, 27))]
    model = random_model(rng, vocab=vocab, extremes=0.3, **over)
    cmds = random_commands(rng, len(vocab), 25)
    check(model, cmds, lanes=lanes, readout_lanes=rlanes, synapse_lanes=slanes, seed=k,
          registered_reads=bool(k % 2))   # every other one as the ECP5 build
