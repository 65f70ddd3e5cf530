"""The readout probe scores the model's own readout as `snnfpga eval` does, and fits others."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import random_model
from snnfpga.bench.probe import main, probe
from snnfpga.model.data import split_text
from snnfpga.model.evaluate import evaluate


@pytest.fixture(scope="module")
def small():
    m = random_model(np.random.default_rng(3), neurons=32, fanout=8, membrane_bits=12,
                     threshold=100)
    rng = np.random.default_rng(4)
    text = "".join(rng.choice(list(m.vocab.chars), 4000))
    return m, text


def test_probe_rows(small):
    m, text = small
    res = probe(m, text, train_chars=1500, hidden=(4,), epochs=1, log=lambda _: None)
    names = list(res)
    assert names[0] == "integer readout" and names[1] == "float linear readout, refitted"
    assert names[2].startswith(f"the same, int{m.config.readout_bits} (")
    assert names[3] == "float readout, 4 hidden units"
    # the model's own readout on the fixed network is exactly what the evaluation scores
    assert res["integer readout"] == pytest.approx(evaluate(m, split_text(text, "val")).bpc,
                                                   rel=1e-12)
    assert all(math.isfinite(v) and v > 0 for v in res.values())


def test_probe_command(small, tmp_path, capsys):
    from snnfpga.model.modelfile import load_model, save_model

    m, text = small
    path, tpath = tmp_path / "m.snnm", tmp_path / "t.txt"
    save_model(m, path)
    tpath.write_text(text)
    assert main(["--text", str(tpath), "--model", str(path), "--train-chars", "1000",
                 "--hidden", "", "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "integer readout" in out and "hidden units" not in out
    for bad in (["--hidden", "8,x"], ["--epochs", "0"], ["--train-chars", "-1"]):
        with pytest.raises(SystemExit) as e:
            main(["--text", str(tpath), "--model", str(path), *bad])
        assert e.value.code == 2
    assert "comma-separated integers" in capsys.readouterr().err
    out_path = tmp_path / "refit.snnm"
    assert main(["--text", str(tpath), "--model", str(path), "--train-chars", "3000",
                 "--hidden", "", "--epochs", "2", "--out", str(out_path)]) == 0
    line = capsys.readouterr().out.splitlines()[-1]
    refit = load_model(out_path)
    assert line.startswith(f"wrote {out_path}: the readout refitted")
    rep = evaluate(refit, split_text(text, "val"))
    assert f"integer model val BPC {rep.bpc:.4f}" in line
    assert np.array_equal(refit.weights.rec_weights, m.weights.rec_weights)


def c_equal(a, b):
    """Configurations equal but for the logit scale, which a refit may choose anew."""
    from dataclasses import replace

    return replace(a, logit_frac_bits=0) == replace(b, logit_frac_bits=0)


def test_refit_readout_keeps_the_network_and_improves_dev(small):
    import torch
    from snnfpga.bench.probe import features, refit_readout
    from snnfpga.bench.readout import bpc, integer_readout_logits

    m, text = small
    xt, yt, _, _ = features(m, text, 3000, log=lambda _: None)
    # random readout weights are a poor readout: a refit must beat them on dev
    refit, before, after = refit_readout(m, xt, yt, epochs=2, log=lambda _: None)
    assert refit is not m and after < before
    for name in ("w_in", "leak", "rec_targets", "rec_weights"):
        assert np.array_equal(getattr(refit.weights, name), getattr(m.weights, name))
    assert c_equal(refit.config, m.config)
    c = refit.config
    assert c.r_min <= refit.weights.w_cnt.min() and refit.weights.w_mem.max() <= c.r_max
    assert c.b_min <= refit.weights.bias.min() and refit.weights.bias.max() <= c.b_max
    cut = int(len(yt) * 0.9)
    assert after == pytest.approx(bpc(integer_readout_logits(refit, xt[cut:]), yt[cut:]))
    # a model that is already the best candidate comes back unchanged
    again, b2, a2 = refit_readout(refit, xt, yt, epochs=2, weight_decays=(), log=lambda _: None)
    assert again is refit and a2 == b2
    with pytest.raises(ValueError, match="both sides"):
        refit_readout(m, xt[:1], yt[:1], log=lambda _: None)
    assert torch.equal(xt, features(m, text, 3000, log=lambda _: None)[0])
