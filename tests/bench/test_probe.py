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


def test_probe_with_the_input_beside_the_features(small):
    import torch
    from snnfpga.bench.probe import _with_input, features

    m, text = small
    feats = features(m, text, 1500, log=lambda _: None)
    xt, _, xv, _ = feats
    at, av = _with_input(m, text, 1500, xt, xv, 2)
    v, d = len(m.vocab), xt.shape[1]
    assert at.shape == (xt.shape[0], d + 2 * v) and av.shape == (xv.shape[0], d + 2 * v)
    assert torch.equal(at[:, :d], xt)
    # row i holds the character just read (the one whose features these are) and the one
    # before it; the first row repeats its own
    ids = torch.as_tensor(m.vocab.encode(split_text(text, "val"))[:-1])
    assert torch.equal(av[:, d:d + v].argmax(1), ids)
    assert torch.equal(av[1:, d + v:].argmax(1), ids[:-1]) and av[0, d + v + ids[0]] == 1
    assert torch.equal(av[:, d:].sum(1), torch.full((len(ids),), 2.0, dtype=av.dtype))
    res = probe(m, text, train_chars=1500, hidden=(), epochs=1, log=lambda _: None,
                feats=feats, with_input=True)
    assert list(res)[-2:] == ["float linear readout with the current character",
                              "float linear readout with the last two characters"]
    assert all(math.isfinite(x) and x > 0 for x in res.values())


def test_probe_command(small, tmp_path, capsys):
    from snnfpga.model.modelfile import save_model

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
    with pytest.raises(SystemExit):   # the refit moved to `snnfpga tune-readout`
        main(["--text", str(tpath), "--model", str(path), "--out", str(tmp_path / "x.snnm")])


def test_fit_mlp_is_seeded_and_leaves_the_global_generator_alone():
    import torch
    from snnfpga.bench.probe import fit_mlp
    from snnfpga.bench.readout import bpc

    g = torch.Generator().manual_seed(0)
    x = torch.randn(2000, 4, generator=g)
    y = ((x[:, 0] > 0) ^ (x[:, 1] > 0)).long()     # not linearly separable
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    f = fit_mlp(x, y, 2, 16, epochs=20, lr=1e-2, seed=5)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert bpc(f(x), y) < 0.5                      # a linear readout stays near 1 bit
    assert torch.equal(f(x), fit_mlp(x, y, 2, 16, epochs=20, lr=1e-2, seed=5)(x))
