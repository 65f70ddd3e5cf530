"""Pieces of the benchmark: n-gram normalisation, quantizers, budgets, the report ledger."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from snnfpga.bench.baselines import KneserNey, _params, size_for_budget
from snnfpga.bench.network import quantize_units
from snnfpga.bench.readout import Readout, bpc, fit_readout
from snnfpga.bench.report import Ledger, Table
from snnfpga.bench.suite import weight_bits
from snnfpga.sw_driver.api import load


@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_kneser_ney_distributions_sum_to_one(order):
    rng = np.random.default_rng(order)
    v = 7
    train = rng.integers(0, v, 3000) * (rng.random(3000) < 0.8)
    kn = KneserNey(train, v, order)
    for hist in ([], [1], [0, 0, 3], [6, 6, 6, 6, 6], list(train[100:104])):
        hist = [int(x) for x in hist] or [0]
        total = sum(kn.probs(np.array(hist + [w]))[-1] for w in range(v))
        assert total == pytest.approx(1.0, abs=1e-9)


def test_kneser_ney_improves_with_order_on_structured_text():
    text = np.array([i % 5 for i in range(5000)])
    assert KneserNey(text, 5, 2).bpc(text[:500]) < 0.2 < KneserNey(text, 5, 1).bpc(text[:500])


def test_quantize_units():
    u = torch.tensor([-8.0, -3.4, -0.2, 0.0, 0.26, 3.5, 6.9])
    assert torch.equal(quantize_units(u, 4), u.round().clamp(-8, 7))
    assert torch.equal(quantize_units(u, 32), u)
    q8 = quantize_units(u, 8)
    assert torch.all((q8 * 16) == (q8 * 16).round()) and float((q8 - u).abs().max()) <= 1 / 32
    assert len(torch.unique(quantize_units(u, 2))) <= 4


def test_readout_quantized_levels_and_fit():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4000, 6, generator=g)
    y = (x[:, 0] > 0).long() + 2 * (x[:, 1] > 0).long()
    r = fit_readout(x, y, 4, epochs=30, lr=3e-2)
    assert bpc(r.logits(x), y) < 1.0
    q = r.quantized(4, blocks=2)
    for block in q.weight.chunk(2, 0):
        assert len(torch.unique(block)) <= 16
    assert torch.equal(Readout(r.weight, r.bias).quantized(32).weight, r.weight)


def test_default_model_weight_bits_and_budgets():
    wb = weight_bits(load(None))
    assert wb["input"] == 65 * 512 * 4 and wb["recurrent"] == 512 * 64 * 4
    assert wb["readout"] == 2 * 65 * 512 * 4 and wb["bias"] == 65 * 20
    budget = wb["input"] + wb["recurrent"] + wb["readout"] + wb["bias"]
    for kind in ("gru", "lstm", "mlp"):
        h = size_for_budget(kind, 65, budget, 32)
        assert _params(kind, 65, h) * 32 <= budget < _params(kind, 65, h + 1) * 32


def test_ledger_refuses_missing_values():
    led = Ledger()
    assert led.stat([1.0, 3.0], 2) == f"2.00 ± {math.sqrt(2):.2f}"
    assert led.num(1234.5, 0) == "1,234" or led.num(1234.5, 0) == "1,235"
    with pytest.raises(ValueError):
        led.num(float("nan"))
    with pytest.raises(ValueError):
        led.stat([])
    t = Table(["a", "b"])
    with pytest.raises(ValueError):
        t.add("only one")


def test_baseline_command_sizes_to_the_model_and_prints_both_figures(tmp_path, capsys):
    import re

    from conftest import random_model
    from snnfpga.bench.baselines import main
    from snnfpga.model.modelfile import save_model

    m = random_model(np.random.default_rng(3), neurons=32, fanout=8, membrane_bits=12,
                     threshold=100)
    path, tpath = tmp_path / "m.snnm", tmp_path / "t.txt"
    save_model(m, path)
    rng = np.random.default_rng(4)
    tpath.write_text("".join(rng.choice(list(m.vocab.chars), 6000)))
    assert main(["--text", str(tpath), "--model", str(path), "--kind", "gru", "--bits", "8",
                 "--seconds", "0.5", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    wb = weight_bits(m)
    budget = wb["input"] + wb["recurrent"] + wb["readout"] + wb["bias"]
    h = size_for_budget("gru", len(m.vocab), budget, 8)
    assert out.startswith(f"gru, {h} units, {_params('gru', len(m.vocab), h):,} weights of 8 "
                          f"bits (budget {budget:,} bits)")
    assert re.search(r"validation BPC +float \d+\.\d{4}, int8 \d+\.\d{4}", out)
    assert main(["--text", str(tpath), "--model", str(path), "--kind", "gru", "--seconds",
                 "0.5", "--keep-best", "2"]) == 0
    # the held-out end of the 5,400-character training split: a tenth
    assert re.search(r"kept +step [\d,]+, dev BPC \d+\.\d{4} \(the last 540 characters",
                     capsys.readouterr().out)
    assert main(["--text", str(tpath), "--model", str(path), "--kind", "gru", "--bits", "4",
                 "--seconds", "0.5", "--qat", "0.5"]) == 0
    assert "of training, the last 50% quantisation-aware" in capsys.readouterr().out
    assert main(["--text", str(tpath), "--model", str(path), "--kind", "lstm", "--bits", "4",
                 "--seconds", "0.5", "--qat", "1.0", "--per-row"]) == 0
    h = size_for_budget("lstm", len(m.vocab), budget, 4)
    # W_ih and W_hh: 4h rows each, the output layer V, and one scale each for 3 vectors
    assert (f"scales              {8 * h + len(m.vocab) + 3:,}, one a row"
            in capsys.readouterr().out)
    for bad in (["--bits", "1"], ["--seconds", "0"], ["--kind", "rnn"], ["--keep-best", "-1"],
                ["--qat", "1.5"], ["--qat", "-0.1"], ["--qat", "0.5", "--bits", "32"],
                ["--per-row", "--bits", "32"]):
        with pytest.raises(SystemExit) as e:
            main(["--text", str(tpath), "--model", str(path), *bad])
        assert e.value.code == 2
    # a training split shorter than one batch (32 streams x 128 characters) is refused
    tpath.write_text("".join(rng.choice(list(m.vocab.chars), 4000)))
    with pytest.raises(SystemExit) as e:
        main(["--text", str(tpath), "--model", str(path), "--seconds", "0.5"])
    assert e.value.code == 2
    assert "needs at least 4097 characters, got 3600" in capsys.readouterr().err


def test_baseline_training_keeps_the_best_dev_weights():
    from snnfpga.bench.baselines import eval_network, train_network

    rng = np.random.default_rng(5)
    ids = rng.integers(0, 5, 9000) * (rng.random(9000) < 0.7)
    tn = train_network("gru", 5, 8, ids[:8000], seconds=1.0, batch=4, seq=16,
                       dev=ids[8000:], eval_every=3)
    assert tn.best_step is not None and 1 <= tn.best_step <= tn.steps
    assert tn.best_step % 3 == 0 or tn.best_step == tn.steps
    # the weights returned are those measured best on the dev text
    assert eval_network(tn.net, ids[8000:]) == tn.best_dev
    # the seed sets the network's initial weights without touching the caller's random state
    torch.manual_seed(12345)
    before = torch.random.get_rng_state()
    assert train_network("gru", 5, 8, ids[:8000], seconds=0.2, batch=4, seq=16).best_dev is None
    assert torch.equal(torch.random.get_rng_state(), before)


def test_quantisation_aware_baseline_keeps_float_weights_and_judges_them_rounded():
    import copy

    from snnfpga.bench.baselines import eval_network, quantize_params, train_network

    rng = np.random.default_rng(6)
    ids = rng.integers(0, 5, 9000) * (rng.random(9000) < 0.7)
    tn = train_network("lstm", 5, 8, ids[:8000], seconds=1.0, batch=4, seq=16,
                       dev=ids[8000:], eval_every=3, qat_bits=4, qat_share=1.0)
    rounded = quantize_params(copy.deepcopy(tn.net), 4)
    # the gradients of the rounded network update float weights, which stay off the grid
    assert any(not torch.equal(p, q) for p, q in
               zip(tn.net.parameters(), rounded.parameters(), strict=True))
    # and the best kept is the one whose rounding measured best
    assert eval_network(rounded, ids[8000:]) == tn.best_dev
    for share in (-0.1, 1.1):
        with pytest.raises(ValueError, match="quantisation-aware share of the budget must be 0 "
                                             "to 1, not"):
            train_network("lstm", 5, 8, ids[:8000], seconds=0.1, batch=4, seq=16,
                          qat_bits=4, qat_share=share)


def test_per_row_rounding_puts_each_rows_largest_weight_on_the_top_level():
    from snnfpga.bench.baselines import CharRNN, quantize_params, row_scales

    torch.manual_seed(0)
    net = CharRNN("gru", 6, 5)
    with torch.no_grad():
        net.rnn.weight_hh_l0.mul_(torch.linspace(0.01, 3.0, 15).unsqueeze(1))  # unequal rows
    before = {k: t.clone() for k, t in net.state_dict().items()}
    quantize_params(net, 4, per_row=True)
    for k, q in net.state_dict().items():
        w = before[k]
        if w.dim() == 2:
            scale = w.abs().amax(dim=1, keepdim=True) / 7
            levels = q / scale
            assert torch.allclose(levels, levels.round(), atol=1e-4)
            assert torch.all(levels.round().abs().amax(dim=1) == 7)   # every row reaches 7
            assert levels.round().min() >= -8
        else:
            scale = w.abs().max() / 7
            assert torch.allclose(q / scale, (w / scale).round().clamp(-8, 7) * 1.0, atol=1e-4)
    # one scale a tensor rounds the smallest row of weight_hh to 0, a scale a row does not
    per_tensor = CharRNN("gru", 6, 5)
    per_tensor.load_state_dict(before)
    quantize_params(per_tensor, 4)
    assert torch.count_nonzero(per_tensor.rnn.weight_hh_l0[0]) == 0
    assert torch.count_nonzero(net.rnn.weight_hh_l0[0]) == 5
    assert row_scales(net) == 15 + 15 + 6 + 3    # rows of W_ih, W_hh, output; three biases
