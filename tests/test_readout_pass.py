"""The readout pass: exact features of the integer network, and a readout tuned on them."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import random_model
from snnfpga.model.config import ModelConfig
from snnfpga.model.errors import ModelError
from snnfpga.model.evaluate import evaluate
from snnfpga.model.golden import GoldenModel
from snnfpga.model.modelfile import load_model, save_model
from snnfpga.model.readout_pass import dev_split, integer_features, readout_bpc, tune_readout
from snnfpga.sw_driver.cli import main

CFG = ModelConfig(neurons=32, fanout=8, steps=2, membrane_bits=12, threshold=64,
                  recurrent_shift=2, input_shift=4, logit_frac_bits=8)
WORDS = ["the ", "king ", "and ", "queen ", "of ", "rome ", "said ", "\n"]


def words(rng, n):
    return "".join(rng.choice(WORDS, size=n))


def quiet_model(rng):
    """A random network whose readout starts small (bias 0): it has something to learn."""
    m = random_model(rng, CFG)
    w = m.weights
    return replace(m, weights=replace(w, bias=np.zeros_like(w.bias),
                                      w_cnt=(w.w_cnt // 4).astype(w.w_cnt.dtype),
                                      w_mem=(w.w_mem // 4).astype(w.w_mem.dtype)))


def test_features_are_the_golden_models_streams(rng):
    m = random_model(rng, CFG, extremes=0.2)
    ids = m.vocab.encode(words(rng, 120))
    data = integer_features(m, ids, streams=3)
    assert len(data) == len(ids) - 1
    assert torch.equal(data.target, torch.as_tensor(ids[1:], dtype=torch.int64))
    gm = GoldenModel(m)
    per = -(-(len(ids) - 1) // 3)
    for s in range(3):
        state = gm.init_state(1)     # each stream from rest at its part of the text
        for i in range(s * per, min((s + 1) * per, len(ids) - 1)):
            state, res = gm.step(state, [int(ids[i])])
            assert torch.equal(data.counts[i].to(torch.int32), res.counts[0]), i
            assert torch.equal(data.feats[i].to(torch.int32), res.features[0].to(torch.int32)), i


def test_one_stream_scores_as_the_evaluation(rng):
    m = random_model(rng, CFG)
    text = words(rng, 60)
    data = integer_features(m, m.vocab.encode(text), streams=1)
    assert readout_bpc(m, data) == pytest.approx(evaluate(m, text).bpc, abs=1e-9)
    assert readout_bpc(m, data, slice(10, 20)) != readout_bpc(m, data, slice(20, 30))


def test_the_pass_tunes_the_readout_alone(rng):
    m = quiet_model(rng)
    ids = m.vocab.encode(words(rng, 900))
    out, rec = tune_readout(m, ids, epochs=2, lr=0.5, batch=64, log=lambda s: None)
    assert rec["applied"] and rec["dev_chars"] == dev_split(ids) == len(ids) // 10
    assert rec["dev_bpc_after"] < rec["dev_bpc_before"]
    assert out.meta["readout_pass"] == rec
    w, w0, c = out.weights, m.weights, out.config
    for name in ("w_in", "leak", "rec_targets", "rec_weights"):   # the network is untouched
        assert np.array_equal(getattr(w, name), getattr(w0, name)), name
    assert out.config == m.config
    for name in ("w_cnt", "w_mem"):
        a = getattr(w, name)
        assert a.dtype == getattr(w0, name).dtype and c.r_min <= a.min() and a.max() <= c.r_max
    assert not np.array_equal(w.w_mem, w0.w_mem)
    assert c.b_min <= w.bias.min() and w.bias.max() <= c.b_max
    # tuned on the whole split, the held-out end included: better there than before
    data = integer_features(out, ids)
    assert readout_bpc(out, data) < readout_bpc(m, data)


def test_a_pass_without_gain_keeps_the_readout(rng):
    m = quiet_model(rng)
    ids = m.vocab.encode(words(rng, 400))
    out, rec = tune_readout(m, ids, epochs=1, lr=1e-6, log=lambda s: None)
    assert not rec["applied"] and rec["dev_bpc_after"] == rec["dev_bpc_before"]
    for name in ("w_cnt", "w_mem", "bias"):
        assert np.array_equal(getattr(out.weights, name), getattr(m.weights, name))


@pytest.mark.parametrize("kwargs, n, msg", [
    ({"epochs": 0}, 400, "epochs >= 1, lr > 0 and batch >= 1, got 0"),
    ({"lr": 0.0}, 400, "lr > 0"),
    ({}, 9, r"training split \(9 characters\) is too short"),
])
def test_the_pass_refuses_bad_arguments(rng, kwargs, n, msg):
    m = quiet_model(rng)
    with pytest.raises(ModelError, match=msg):
        tune_readout(m, m.vocab.encode(words(rng, 200))[:n], log=lambda s: None, **kwargs)


def test_tune_readout_command(tmp_path, rng, capsys):
    m = quiet_model(rng)
    src = tmp_path / "m.snnm"
    save_model(replace(m, meta={"int_val_bpc": 9.0}), src)
    text = words(rng, 1000)
    (tmp_path / "t.txt").write_text(text)
    out = tmp_path / "tuned.snnm"
    assert main(["tune-readout", "--text", str(tmp_path / "t.txt"), "--model", str(src),
                 "--out", str(out), "--epochs", "1", "--lr", "0.5"]) == 0
    printed = capsys.readouterr()
    assert "recorded before the pass: 9.0000" in printed.out
    for stage in ("features", "tune", "tune all", "validation"):   # a bar for each stage
        assert f"readout pass ({stage})" in printed.err
    tuned = load_model(out)
    rec = tuned.meta["readout_pass"]
    assert rec["int_val_bpc_before"] == 9.0 and rec["epochs"] == 1 and rec["text"] == "t.txt"
    val = text[len(text) * 9 // 10 :]
    assert round(evaluate(tuned, val).bpc, 4) == tuned.meta["int_val_bpc"]
    # a character outside the vocabulary: a clear error, nothing written
    (tmp_path / "bad.txt").write_text(text + "~")
    assert main(["tune-readout", "--text", str(tmp_path / "bad.txt"), "--model", str(src),
                 "--out", str(tmp_path / "x.snnm")]) == 2
    assert "outside the model's vocabulary" in capsys.readouterr().err
    assert not (tmp_path / "x.snnm").exists()
