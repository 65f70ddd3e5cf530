# amaranth: UnusedElaboratable=no
"""Sampler's Verilog in Verilator (cocotb) against GoldenModel.sample, stalls on both sides."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import VOCAB, random_model
from snnfpga.hw.sampler import Sampler
from snnfpga.model.config import ModelConfig
from snnfpga.model.golden import GoldenModel, Lfsr32, seed_to_state
from snnfpga.sim.build import missing_tools, run
from stimulus import random_logits, random_tq

pytestmark = pytest.mark.skipif(bool(missing_tools()), reason="the Verilator co-simulation needs "
                                + ", ".join(missing_tools()))


# (configuration overrides, vocabulary, characters); one Verilator build each. The noise
# shift temperature_frac_bits + gumbel_frac_bits - logit_frac_bits is 12 (right), -16 (left)
# and 0 with a single-character vocabulary (a 1-bit id).
CASES = {
    "default": (dict(), VOCAB, 60),
    "noise_shifted_left": (dict(logit_frac_bits=16, gumbel_frac_bits=0,
                                temperature_frac_bits=0), "abcde", 200),
    "one_char": (dict(logit_frac_bits=4, gumbel_frac_bits=4, temperature_frac_bits=0), "a", 60),
}


def plan(rng, gm: GoldenModel, chars: int) -> list[dict]:
    """Characters to feed, each with its expected id from the golden model's sampler."""
    out = []
    ref = None
    for i in range(chars):
        seed = None
        if i == 0 or rng.random() < 0.15:
            seed = seed_to_state(int(rng.integers(0, 1 << 40)))
            ref = Lfsr32(seed)
        logits = random_logits(rng, gm.vocab_size)
        tq = random_tq(rng)
        probe = Lfsr32(ref.state)
        scores = gm.scores(torch.tensor(logits, dtype=torch.int64), tq, probe)
        expected = gm.sample(torch.tensor(logits, dtype=torch.int64), tq, ref)
        out.append(dict(seed=seed, logits=[int(x) for x in logits], tq=tq, expected=int(expected),
                        tie=scores.count(max(scores)) > 1))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_sampler_verilog_matches_golden(name):
    overrides, vocab, n_chars = CASES[name]
    rng = np.random.default_rng(200 + list(CASES).index(name))
    cfg = ModelConfig(neurons=8, fanout=2, **overrides)
    gm = GoldenModel(random_model(rng, cfg, vocab=vocab))
    chars = plan(rng, gm, n_chars)
    # the cases reach the rules: argmax and sampling, ties at the top score, LFSR reloads
    assert any(c["tq"] == 0 for c in chars) and any(c["tq"] for c in chars)
    assert sum(c["seed"] is not None for c in chars) > 1
    if len(vocab) > 1:
        assert any(c["tie"] for c in chars if c["tq"] == 0)
        assert any(c["tie"] for c in chars if c["tq"])
    result = run(Sampler(config=cfg, vocab_size=len(vocab)), f"sampler_{name}",
                 test_module="snnfpga.sim.tb_sampler",
                 data=dict(seed=n_chars, vocab_size=len(vocab), idle=0.3, stall=0.5,
                           chars=chars))
    assert result.tests == 1
