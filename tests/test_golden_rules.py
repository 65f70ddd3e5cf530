"""Each rule of model/SPEC.md pinned at its edges on hand-built tiny networks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from snnfpga.model.config import ModelConfig
from snnfpga.model.data import Vocabulary
from snnfpga.model.errors import ModelError
from snnfpga.model.golden import (
    GoldenModel,
    Lfsr32,
    gumbel_table,
    seed_to_state,
    temperature_to_fixed,
)
from snnfpga.model.modelfile import IntWeights, SpikingModel


def tiny(n=2, f=1, v=2, *, w_in=None, leak=None, targets=None, rec=None, w_cnt=None,
         w_mem=None, bias=None, **cfg):
    """A hand-wired network; unspecified weights are zero."""
    base = dict(neurons=n, fanout=f, steps=1, membrane_bits=8, leak_shift_min=1,
                leak_shift_max=7, threshold=10, input_shift=0, recurrent_shift=0,
                count_shift=0, feature_shift=0, feature_bits=8, logit_frac_bits=0)
    base.update(cfg)
    c = ModelConfig(**base)
    z = lambda shape, dt: np.zeros(shape, dtype=dt)  # noqa: E731
    w = IntWeights(
        w_in=np.array(w_in, dtype=np.int8) if w_in is not None else z((v, n), np.int8),
        leak=np.array(leak, dtype=np.uint8) if leak is not None
        else np.full(n, 7, dtype=np.uint8),
        rec_targets=np.array(targets, dtype=np.uint16) if targets is not None
        else np.array([[(s + 1 + j) % n for j in range(f)] for s in range(n)],
                      dtype=np.uint16).reshape(n, f),
        rec_weights=np.array(rec, dtype=np.int8) if rec is not None else z((n, f), np.int8),
        w_cnt=np.array(w_cnt, dtype=np.int16) if w_cnt is not None else z((v, n), np.int16),
        w_mem=np.array(w_mem, dtype=np.int16) if w_mem is not None else z((v, n), np.int16),
        bias=np.array(bias, dtype=np.int32) if bias is not None else z((v,), np.int32),
    )
    return GoldenModel(SpikingModel(c, Vocabulary("ab"[:v] if v <= 2 else "abcd"[:v]), w))


def with_v(gm, values):
    st = gm.init_state(1)
    st.v[0] = torch.tensor(values, dtype=torch.int32)
    return st


def test_threshold_is_greater_or_equal():
    gm = tiny(w_in=[[7, 7], [0, 0]], input_shift=0, threshold=10, leak=[7, 7])
    st = with_v(gm, [3, 2])  # 3 + 7 = 10 spikes, 2 + 7 = 9 does not
    st, r = gm.step(st, [0])
    assert r.counts[0].tolist() == [1, 0]
    assert st.v[0].tolist() == [0, 9]          # subtractive reset: 10 - 10


def test_saturation_then_reset():
    # 8-bit membrane: [-128, 127]. 120 + 7*4 = 148 saturates to 127, spikes, leaves 117
    gm = tiny(w_in=[[7, -8], [0, 0]], input_shift=2, threshold=10, leak=[7, 7])
    st = with_v(gm, [120, -120])
    st, r = gm.step(st, [0])
    assert st.v[0].tolist() == [127 - 10, -128]
    assert r.counts[0].tolist() == [1, 0]


def test_reset_to_zero():
    gm = tiny(w_in=[[7, 0], [0, 0]], threshold=5, reset="zero", leak=[7, 7])
    st, r = gm.step(gm.init_state(1), [0])
    assert st.v[0].tolist() == [0, 0] and r.counts[0].tolist() == [1, 0]


@pytest.mark.parametrize("v, k, after", [(-1, 3, 0), (-9, 3, -7), (7, 3, 7), (8, 3, 7),
                                         (-128, 1, -64), (127, 1, 64), (-2, 1, -1)])
def test_leak_rounds_toward_minus_infinity(v, k, after):
    gm = tiny(n=1, f=0, leak=[k], threshold=127)
    st, _ = gm.step(with_v(gm, [v]), [0])
    assert st.v[0].tolist() == [after]


def test_spikes_reach_targets_in_the_next_step_across_characters():
    # neuron 0 fires in step 0; its weight +7 to neuron 1 arrives at step 1 (next character)
    gm = tiny(w_in=[[7, 0], [0, 0]], threshold=7, targets=[[1], [0]], rec=[[7], [0]],
              leak=[7, 7])
    st, r1 = gm.step(gm.init_state(1), [0])
    assert r1.counts[0].tolist() == [1, 0]
    assert st.v[0].tolist() == [0, 0]          # not yet delivered
    assert r1.syn_events.tolist() == [0]
    st, r2 = gm.step(st, [1])                  # input row 1 is all zero
    assert r2.syn_events.tolist() == [1]
    assert r2.counts[0].tolist() == [0, 1]     # 0 + 7 >= 7


def test_extreme_weights_and_shifts():
    gm = tiny(n=2, f=1, w_in=[[-8, 7], [0, 0]], input_shift=3, recurrent_shift=2,
              targets=[[1], [0]], rec=[[-8], [7]], threshold=50, membrane_bits=10, leak=[7, 7])
    st, r = gm.step(gm.init_state(1), [0])    # v = [-64, 56]; neuron 1 spikes -> 6
    assert st.v[0].tolist() == [-64, 6]
    st, r = gm.step(st, [1])                   # leak >> 7 of -64 is -1; +7<<2 from neuron 1
    assert st.v[0].tolist() == [-64 + 1 + 28, 6]


def test_input_latched_or_every_step():
    kw = dict(n=1, f=0, w_in=[[3], [0]], threshold=100, steps=3, leak=[7])
    every = tiny(input_every_step=True, **kw)
    once = tiny(input_every_step=False, **kw)
    assert every.step(every.init_state(1), [0])[0].v[0].tolist() == [9]
    assert once.step(once.init_state(1), [0])[0].v[0].tolist() == [3]


def test_readout_features_and_counts():
    gm = tiny(n=2, f=0, v=2, w_in=[[7, -8], [0, 0]], threshold=5, steps=2, count_shift=2,
              feature_shift=1, feature_bits=3, leak=[7, 7], w_cnt=[[1, 0], [0, 0]],
              w_mem=[[0, 0], [2, -1]], bias=[100, -3])
    st, r = gm.step(gm.init_state(1), [0])
    # neuron 0: 7 -> spike -> 2 -> 2+7=9 -> spike -> 4: count 2
    # neuron 1: -8, then -8 - (-8 >> 7) - 8 = -15
    assert r.counts[0].tolist() == [2, 0]
    assert st.v[0].tolist() == [4, -15]
    # features: 4 >> 1 = 2 (3-bit range [-4, 3]); -15 >> 1 = -8 saturates to -4
    assert r.features[0].tolist() == [2, -4]
    assert r.logits[0].tolist() == [100 + (2 << 2), -3 + 2 * 2 + (-1) * (-4)]
    # the same logits from the readout vector [counts << count_shift, features]
    assert torch.equal(gm.readout_vector(torch.tensor([[2 << 2, 0, 2, -4]])), r.logits)
    assert r.readout_ops.tolist() == [2 * (1 + 2)]  # one non-zero count, two membranes


def test_rectified_membrane_features_read_negative_potentials_as_zero():
    kw = dict(n=3, f=0, v=1, w_in=[[3, -1, -5]], input_shift=1, threshold=100,
              feature_shift=1, feature_bits=3, leak=[7, 7, 7], w_mem=[[1, 1, 1]])
    signed = tiny(**kw)
    rect = tiny(membrane_feature="rectified", **kw)
    _, rs = signed.step(signed.init_state(1), [0])
    st, rr = rect.step(rect.init_state(1), [0])
    # potentials 6, -2, -10: >> 1 gives 3, -1, -5; the signed 3-bit range [-4, 3] saturates
    # -5 to -4, the rectified range [0, 3] reads both negative ones as 0
    assert st.v[0].tolist() == [6, -2, -10]
    assert rs.features[0].tolist() == [3, -1, -4]
    assert rr.features[0].tolist() == [3, 0, 0]
    assert rs.logits[0].tolist() == [3 - 1 - 4]
    assert rr.logits[0].tolist() == [3]
    # a feature of zero costs no operation: three membrane features against one
    assert rs.readout_ops.tolist() == [3] and rr.readout_ops.tolist() == [1]
    # the potentials themselves are not rectified, only what the readout sees
    assert torch.equal(st.v, signed.step(signed.init_state(1), [0])[0].v)
    with pytest.raises(ModelError, match="membrane_feature must be 'signed' or 'rectified'"):
        tiny(membrane_feature="relu", **kw)


def test_argmax_ties_go_to_lowest_id():
    gm = tiny(v=4)
    assert gm.sample(torch.tensor([3, 9, 9, 1]), 0, None) == 1
    assert gm.sample(torch.tensor([-5, -5, -5, -5]), 0, None) == 0


def test_lfsr_sequence_and_seeding():
    assert seed_to_state(0) == 1
    assert seed_to_state(2**32 - 2) == 2**32 - 1
    assert seed_to_state(2**32 - 1) == 1
    r = Lfsr32(1)
    # state 1: first bit out is 1, then the state is the tap mask shifted
    assert r.draw(1) == 1 and r.state == 0x80200003
    with pytest.raises(ModelError):
        Lfsr32(0)
    with pytest.raises(ModelError):
        seed_to_state(1.5)


def test_gumbel_table_pinned():
    g = gumbel_table(8)
    assert (g[0], g[128], g[255]) == (-469, 95, 1597)
    assert int(g.sum()) == 37750
    assert np.all(np.diff(g) >= 0)


def test_temperature_encoding():
    assert temperature_to_fixed(0, 8) == 0
    assert temperature_to_fixed(1.0, 8) == 256
    assert temperature_to_fixed(0.8, 8) == 205
    for bad in (-0.1, float("nan"), float("inf"), 1e-4, 200.0, "1"):
        with pytest.raises(ModelError):
            temperature_to_fixed(bad, 8)


def test_gumbel_sampling_consumes_eight_bits_per_id():
    gm = tiny(v=4)
    rng = Lfsr32(seed_to_state(7))
    gm.sample(torch.tensor([0, 0, 0, 0]), 256, rng)
    ref = Lfsr32(seed_to_state(7))
    for _ in range(4):
        ref.draw(8)
    assert rng.state == ref.state


def test_bad_tokens_rejected():
    gm = tiny()
    with pytest.raises(ModelError, match="outside the vocabulary"):
        gm.step(gm.init_state(1), [2])
    with pytest.raises(ModelError, match="one per stream"):
        gm.step(gm.init_state(2), [0])
    with pytest.raises(ModelError, match="prompt"):
        list(gm.generate([], 3))


def test_configurations_beyond_exact_arithmetic_are_refused():
    with pytest.raises(ModelError, match="too wide"):
        tiny(n=2, f=1, weight_bits=8, recurrent_shift=23, membrane_bits=24)
