"""Property tests: the golden model equals the plain-Python reference of SPEC.md exactly."""

from __future__ import annotations

import numpy as np
import torch
from conftest import random_model
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import RefLfsr, RefModel, ref_sample, ref_scores
from snnfpga.model.config import ModelConfig
from snnfpga.model.golden import GoldenModel


@st.composite
def configs(draw):
    n = draw(st.integers(1, 12))
    mb = draw(st.integers(6, 14))
    lmin = draw(st.integers(1, mb - 1))
    return ModelConfig(
        neurons=n,
        fanout=draw(st.integers(0, n)),
        steps=draw(st.integers(1, 4)),
        membrane_bits=mb,
        leak_shift_min=lmin,
        leak_shift_max=draw(st.integers(lmin, mb - 1)),
        threshold=draw(st.integers(1, (1 << (mb - 1)) - 1)),
        reset=draw(st.sampled_from(["subtract", "zero"])),
        weight_bits=draw(st.sampled_from([2, 4, 4, 8])),
        input_shift=draw(st.integers(0, mb - 2)),
        recurrent_shift=draw(st.integers(0, mb - 2)),
        input_every_step=draw(st.booleans()),
        readout_bits=draw(st.sampled_from([4, 8])),
        bias_bits=16,
        count_shift=draw(st.integers(0, 4)),
        feature_shift=draw(st.integers(0, mb - 2)),
        feature_bits=draw(st.integers(2, mb)),
        membrane_feature=draw(st.sampled_from(["signed", "rectified"])),
        logit_frac_bits=draw(st.integers(0, 12)),
    )


@settings(max_examples=60, deadline=None)
@given(cfg=configs(), seed=st.integers(0, 2**32), extremes=st.sampled_from([0.0, 0.3, 1.0]),
       length=st.integers(1, 12))
def test_token_by_token_equals_reference(cfg, seed, extremes, length):
    rng = np.random.default_rng(seed)
    model = random_model(rng, cfg, vocab="abcde", extremes=extremes)
    gm = GoldenModel(model)
    ref = RefModel(cfg, model.weights, 5)
    state = gm.init_state(1)
    ids = rng.integers(0, 5, size=length)
    for x in ids:
        state, r = gm.step(state, [int(x)])
        logits, counts, fm, events, ro = ref.token(int(x))
        assert r.logits[0].tolist() == logits
        assert r.counts[0].tolist() == counts
        assert r.features[0].tolist() == fm
        assert state.v[0].tolist() == ref.v
        assert sorted(state.spikes[0].nonzero().flatten().tolist()) == ref.pending
        assert int(r.syn_events[0]) == events
        assert int(r.readout_ops[0]) == ro
        assert int(r.spikes[0]) == sum(counts)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**40), tq=st.integers(0, 2**15 - 1), lf=st.integers(0, 16),
       logits=st.lists(st.integers(-2**20, 2**20), min_size=1, max_size=70))
def test_sampling_equals_reference(seed, tq, lf, logits):
    cfg = ModelConfig(neurons=4, fanout=2, logit_frac_bits=lf)
    model = random_model(np.random.default_rng(0), cfg, vocab="".join(
        chr(0x41 + i) for i in range(len(logits))))
    gm = GoldenModel(model)
    from snnfpga.model.golden import Lfsr32, seed_to_state

    rng, ref_rng = Lfsr32(seed_to_state(seed)), RefLfsr(seed)
    for _ in range(2):
        assert gm.scores(torch.tensor(logits), tq, rng) == ref_scores(cfg, logits, tq, ref_rng)
        assert rng.state == ref_rng.s
    for _ in range(2):
        assert gm.sample(torch.tensor(logits), tq, rng) == ref_sample(cfg, logits, tq, ref_rng)
        assert rng.state == ref_rng.s


def test_extreme_saturating_network_equals_reference():
    """Weights all at -8 / +7 with large shifts: membranes live at both saturation bounds."""
    cfg = ModelConfig(neurons=24, fanout=8, steps=3, membrane_bits=10, leak_shift_min=1,
                      leak_shift_max=9, threshold=300, input_shift=6, recurrent_shift=6)
    rng = np.random.default_rng(5)
    model = random_model(rng, cfg, vocab="abcdef", extremes=1.0)
    gm, ref = GoldenModel(model), RefModel(cfg, model.weights, 6)
    state = gm.init_state(1)
    hit_lo = hit_hi = False
    for x in rng.integers(0, 6, size=60):
        state, r = gm.step(state, [int(x)])
        assert r.logits[0].tolist() == ref.token(int(x))[0]
        assert state.v[0].tolist() == ref.v
        hit_lo |= bool((state.v == cfg.v_min).any())
        hit_hi |= bool(r.counts.any())
    assert hit_lo and hit_hi


def test_batched_streams_equal_single_streams(rng):
    """B streams in one tensor (matrix-product path) equal B separate runs (event path)."""
    model = random_model(rng, neurons=40, fanout=10, steps=3, membrane_bits=12, threshold=200)
    gm = GoldenModel(model)
    ids = rng.integers(0, len(model.vocab), size=(5, 30))
    state = gm.init_state(5)
    batched = []
    for t in range(ids.shape[1]):
        state, r = gm.step(state, ids[:, t])
        batched.append(r)
    for b in range(5):
        single = gm.run(ids[b], keep_counts=True)
        got = torch.stack([r.logits[b] for r in batched])
        assert torch.equal(got, single.logits)
        assert torch.equal(torch.stack([r.syn_events[b] for r in batched]), single.syn_events)
        assert torch.equal(torch.stack([r.counts[b] for r in batched]).to(torch.uint8),
                           single.counts)
        assert torch.equal(state.v[b], single.state.v[0])


def test_run_continues_from_state(rng):
    model = random_model(rng, neurons=30, fanout=6, threshold=150, membrane_bits=12)
    gm = GoldenModel(model)
    ids = rng.integers(0, len(model.vocab), size=40)
    whole = gm.run(ids)
    first = gm.run(ids[:17])
    rest = gm.run(ids[17:], first.state)
    assert torch.equal(torch.cat([first.logits, rest.logits]), whole.logits)


def test_generate_equals_reference_loop(rng):
    model = random_model(rng, neurons=16, fanout=4, threshold=100, membrane_bits=12,
                         logit_frac_bits=8)
    gm = GoldenModel(model)
    prompt = [3, 1, 4]
    totals: dict = {}
    got = list(gm.generate(prompt, 12, temperature=0.7, seed=99, totals=totals))
    ref = RefModel(model.config, model.weights, len(model.vocab))
    lfsr = RefLfsr(99)
    fed = list(prompt)
    out, spikes = [], 0
    i = 0
    while len(out) < 12:
        logits, counts, *_ = ref.token(fed[i])
        spikes += sum(counts)
        i += 1
        if i < len(fed):
            continue
        out.append(ref_sample(model.config, logits, round(0.7 * 256), lfsr))
        fed.append(out[-1])
    assert got == out
    assert totals["tokens"] == len(prompt) + 11
    assert totals["spikes"] == spikes


def test_reset_one_stream_of_a_batch(rng):
    model = random_model(rng, neurons=20, fanout=5, threshold=120, membrane_bits=12)
    gm = GoldenModel(model)
    st = gm.init_state(3)
    for x in rng.integers(0, len(model.vocab), size=(6, 3)):
        st, _ = gm.step(st, x)
    st2 = gm.reset(st, [1])
    assert torch.equal(st2.v[[0, 2]], st.v[[0, 2]])
    assert not st2.v[1].any() and not st2.spikes[1].any()
    fresh = gm.run([4, 5, 6])
    _, r = gm.step(st2, [0, 4, 0])
    assert torch.equal(r.logits[1], fresh.logits[0])
