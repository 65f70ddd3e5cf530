# amaranth: UnusedElaboratable=no
"""Sampler against GoldenModel.sample: random logits, temperatures and seeds, stalls both sides."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("amaranth")

import torch  # noqa: E402
from amaranth.sim import Simulator  # noqa: E402
from conftest import random_model  # noqa: E402
from snnfpga.hw.sampler import Sampler  # noqa: E402
from snnfpga.model.config import ModelConfig  # noqa: E402
from snnfpga.model.golden import GoldenModel, Lfsr32, seed_to_state  # noqa: E402
from stimulus import random_logits, random_tq  # noqa: E402

VOCAB = "\n !',-.:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

# (configuration overrides, vocabulary, characters) - the noise shift
# temperature_frac_bits + gumbel_frac_bits - logit_frac_bits is 12, -16, 28 and 0
CASES = {
    "default": (dict(), VOCAB, 60),
    "noise-shifted-left": (dict(logit_frac_bits=16, gumbel_frac_bits=0,
                                temperature_frac_bits=0), "abcde", 150),
    "noise-shifted-right": (dict(logit_frac_bits=0, gumbel_frac_bits=12,
                                 temperature_frac_bits=16), "abcdefghijk", 120),
    "one-char": (dict(logit_frac_bits=4, gumbel_frac_bits=4, temperature_frac_bits=0), "a", 40),
}


def plan(rng, gm: GoldenModel, chars: int):
    """Characters to feed: (new seed state or None, logits, tq, expected id, tie at the top)."""
    v = gm.vocab_size
    out = []
    ref = None
    for i in range(chars):
        seed = None
        if i == 0 or rng.random() < 0.15:
            seed = seed_to_state(int(rng.integers(0, 1 << 40)))
            ref = Lfsr32(seed)
        logits = random_logits(rng, v)
        tq = random_tq(rng)
        probe = Lfsr32(ref.state)
        scores = gm.scores(torch.tensor(logits, dtype=torch.int64), tq, probe)
        expected = gm.sample(torch.tensor(logits, dtype=torch.int64), tq, ref)
        assert ref.state == probe.state
        out.append((seed, logits, tq, expected, scores.count(max(scores)) > 1))
    return out


def simulate(dut: Sampler, chars, rng, idle: float, stall: float):
    """Feed the planned characters with idle input cycles; read the ids under back-pressure."""
    got = []
    cycles = [0]

    async def producer(ctx):
        for seed, logits, tq, _, _ in chars:
            if seed is not None:
                # a reload between characters: the previous character's draws are all taken
                ctx.set(dut.seed, seed)
                ctx.set(dut.seed_load, 1)
                await ctx.tick()
                ctx.set(dut.seed_load, 0)
            for y, logit in enumerate(logits):
                while rng.random() < idle:
                    ctx.set(dut.tq, int(rng.integers(0, 1 << 15)))  # tq matters at id 0 only
                    await ctx.tick()
                ctx.set(dut.tq, tq if y == 0 else int(rng.integers(0, 1 << 15)))
                ctx.set(dut.i_stream.payload, logit)
                ctx.set(dut.i_stream.valid, 1)
                await ctx.tick().until(dut.i_stream.ready)
                ctx.set(dut.i_stream.valid, 0)

    async def consumer(ctx):
        held = None
        while len(got) < len(chars):
            ready = int(rng.random() >= stall)
            ctx.set(dut.o_stream.ready, ready)
            _, _, valid, payload = await ctx.tick().sample(dut.o_stream.valid,
                                                          dut.o_stream.payload)
            cycles[0] += 1
            assert cycles[0] < 20 * sum(len(c[1]) + 8 for c in chars), "sampler hangs"
            if held is not None:                   # stream rule 2 on the output
                assert valid and payload == held, "o_stream withdrew or changed an offered id"
            if valid and ready:
                got.append(payload)
            held = payload if valid and not ready else None

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.run()
    return got


@pytest.mark.parametrize("name", list(CASES))
def test_sampler_matches_golden(name):
    overrides, vocab, n_chars = CASES[name]
    rng = np.random.default_rng(list(CASES).index(name))
    cfg = ModelConfig(neurons=8, fanout=2, **overrides)
    gm = GoldenModel(random_model(rng, cfg, vocab=vocab))
    chars = plan(rng, gm, n_chars)
    dut = Sampler(config=cfg, vocab_size=len(vocab))
    got = simulate(dut, chars, rng, idle=0.3, stall=0.5)
    expected = [c[3] for c in chars]
    if got != expected:
        i = next(i for i, (g, e) in enumerate(zip(got, expected, strict=True)) if g != e)
        seed, logits, tq, want, _ = chars[i]
        raise AssertionError(f"character {i}: got id {got[i]}, expected {want} "
                             f"(tq {tq}, logits {logits})")
    # the cases reach the rules: argmax and sampling, and ties at the top score
    assert any(c[2] == 0 for c in chars) and any(c[2] for c in chars)
    if len(vocab) > 1:
        assert any(c[4] for c in chars if c[2] == 0) and any(c[4] for c in chars if c[2])


def test_back_to_back_without_stalls():
    """Full rate: the input never idles and the output is always ready."""
    rng = np.random.default_rng(99)
    cfg = ModelConfig(neurons=8, fanout=2)
    gm = GoldenModel(random_model(rng, cfg, vocab="abcdefg"))
    chars = plan(rng, gm, 80)
    got = simulate(Sampler(config=cfg, vocab_size=7), chars, rng, idle=0.0, stall=0.0)
    assert got == [c[3] for c in chars]


@pytest.mark.parametrize("kwargs, message", [
    (dict(config={}, vocab_size=3), "config must be a ModelConfig"),
    (dict(config=ModelConfig(), vocab_size=0), "vocab_size must be an integer >= 1, not 0"),
    (dict(config=ModelConfig(), vocab_size=3, logit_bits=1),
     "logit_bits must be an integer in 2 .. 64, not 1"),
])
def test_bad_parameters_are_named(kwargs, message):
    with pytest.raises((TypeError, ValueError), match=message):
        Sampler(**kwargs)
