"""Word layout of the core's memories: the fan-out lists' synapse lanes, round trips, and
the geometry's checks."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import random_model
from snnfpga.hw.memmap import (
    DEFAULT_SYNAPSE_LANES,
    Geometry,
    MemId,
    pack_memories,
    unpack_lanes,
    unpack_memories,
)


@pytest.mark.parametrize(("fanout", "slanes"), [(6, 1), (6, 2), (6, 3), (8, 4), (5, 5)])
def test_fan_out_entry_j_of_neuron_s_is_lane_j_mod_s_of_word_s_f_plus_j_div_s(fanout, slanes):
    rng = np.random.default_rng(fanout * 10 + slanes)
    model = random_model(rng, neurons=12, fanout=fanout, membrane_bits=10, extremes=0.3)
    g = Geometry(model.config, len(model.vocab), 2, 3, synapse_lanes=slanes)
    words = pack_memories(g, model.weights)[MemId.FAN]
    eb = g.target_bits + model.config.weight_bits
    assert len(words) == g.depth(MemId.FAN) == 12 * fanout // slanes
    assert g.width(MemId.FAN) == slanes * eb and all(0 <= w < 1 << (slanes * eb) for w in words)
    w = model.weights
    for s in range(12):
        for j in range(fanout):
            a, lane = divmod(s * fanout + j, slanes)
            entry = unpack_lanes(words[a], eb, slanes, signed=False)[lane]
            assert entry & ((1 << g.target_bits) - 1) == w.rec_targets[s, j]
            weight = unpack_lanes(entry >> g.target_bits, model.config.weight_bits, 1, True)[0]
            assert weight == w.rec_weights[s, j]


@pytest.mark.parametrize(("lanes", "rlanes", "slanes"), [(1, 7, 2), (2, 3, 1), (4, 1, 4)])
def test_unpack_inverts_pack(lanes, rlanes, slanes):
    rng = np.random.default_rng(lanes + rlanes + slanes)
    model = random_model(rng, neurons=16, fanout=8, membrane_bits=12, extremes=0.3)
    g = Geometry(model.config, len(model.vocab), lanes, rlanes, synapse_lanes=slanes)
    back = unpack_memories(g, pack_memories(g, model.weights))
    for name in ("w_in", "leak", "rec_targets", "rec_weights", "w_cnt", "w_mem", "bias"):
        assert np.array_equal(getattr(back, name), getattr(model.weights, name)), name


def test_default_synapse_lanes_follow_the_fan_out():
    rng = np.random.default_rng(3)
    even = random_model(rng, neurons=8, fanout=4, membrane_bits=10).config
    odd = random_model(rng, neurons=8, fanout=3, membrane_bits=10).config
    assert Geometry(even, 5).synapse_lanes == DEFAULT_SYNAPSE_LANES == 2
    assert Geometry(odd, 5).synapse_lanes == 1
    assert Geometry(even, 5) == Geometry(even, 5, synapse_lanes=2)


@pytest.mark.parametrize("bad", [0, -2, 3, True, 2.0, "2"])
def test_synapse_lanes_must_divide_the_fan_out(bad):
    rng = np.random.default_rng(4)
    cfg = random_model(rng, neurons=8, fanout=4, membrane_bits=10).config
    with pytest.raises(ValueError, match=r"synapse_lanes must be a positive integer dividing "
                                         r"fanout=4, not"):
        Geometry(cfg, 5, synapse_lanes=bad)
