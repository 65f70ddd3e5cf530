"""The benchmark's batched simulator reproduces the golden model bit for bit."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from snnfpga.bench.network import from_model, prune, simulate
from snnfpga.bench.readout import integer_readout_logits
from snnfpga.bench.suite import _ops
from snnfpga.model.golden import GoldenModel
from snnfpga.model.modelfile import SpikingModel
from snnfpga.sw_driver.api import load

TEXT = "ROMEO:\nBut soft, what light through yonder window breaks?\nIt is the east."


def _golden(model, ids):
    res = GoldenModel(model).run(torch.as_tensor(ids), keep_counts=True)
    return res


def test_default_model_matches_golden():
    model = load(None)
    ids = model.vocab.encode(TEXT)
    res = _golden(model, ids)
    feats = simulate(from_model(model), ids, streams=1)
    assert torch.equal(feats.counts, res.counts)
    assert torch.equal(feats.syn_events.to(torch.int64), res.syn_events)
    # the logits of the golden model follow from the features
    gm = GoldenModel(model)
    logits = gm.readout(feats.counts.to(torch.int32), feats.membrane.to(torch.int32))
    assert torch.equal(logits, res.logits)
    # the benchmark's readout over its feature matrix gives the same logits, as real numbers
    real = integer_readout_logits(model, feats.matrix(model.config.count_shift))
    assert torch.equal(real, res.logits.double() * 2.0 ** -model.config.logit_frac_bits)
    with pytest.raises(ValueError, match="integer features"):
        integer_readout_logits(model, feats.matrix(model.config.count_shift) + 0.5)
    # and the benchmark counts the readout's operations as the golden model does
    ops = _ops(from_model(model), feats, len(model.vocab))
    assert ops["readout_ops_per_char"] == res.readout_ops.sum().item() / len(ids)


@pytest.mark.parametrize("reset,feature", [("subtract", "rectified"), ("zero", "signed")])
def test_other_rules_match_golden(reset, feature):
    """The reset rule and the membrane feature follow the model's configuration."""
    model = load(None)
    model = SpikingModel(replace(model.config, reset=reset, membrane_feature=feature),
                         model.vocab, model.weights)
    ids = model.vocab.encode(TEXT)
    res = _golden(model, ids)
    feats = simulate(from_model(model), ids, streams=1)
    assert torch.equal(feats.counts, res.counts)
    if feature == "rectified":
        assert float(feats.membrane.min()) == 0.0
    logits = GoldenModel(model).readout(feats.counts.to(torch.int32),
                                        feats.membrane.to(torch.int32))
    assert torch.equal(logits, res.logits)


def test_streams_are_independent_runs():
    model = load(None)
    ids = model.vocab.encode(TEXT)
    half = (len(ids) + 1) // 2
    both = simulate(from_model(model), ids, streams=2)
    second = _golden(model, ids[half:])
    assert torch.equal(both.counts[half:], second.counts)


def test_pruned_neurons_never_fire():
    model = load(None)
    ids = model.vocab.encode(TEXT)
    keep = torch.zeros(model.config.neurons, dtype=torch.bool)
    keep[::3] = True
    feats = simulate(prune(from_model(model), keep), ids, streams=1)
    assert int(feats.counts[:, ~keep].sum()) == 0
    assert int(feats.membrane[:, ~keep].abs().sum()) == 0
    assert int(feats.counts[:, keep].sum()) > 0
