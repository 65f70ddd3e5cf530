"""The surrogate in QAT mode computes exactly the golden model; export is lossless."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from snnfpga.model.config import ModelConfig, TrainConfig
from snnfpga.model.data import Vocabulary
from snnfpga.model.golden import GoldenModel
from snnfpga.model.modelfile import SpikingModel
from snnfpga.model.surrogate import SurrogateSNN
from snnfpga.model.train import (
    export_config,
    export_weights,
    random_targets,
    select_logit_frac_bits,
    stream_batches,
    surrogate_bpc,
    train_surrogate,
)


def make_net(cfg, vocab_size=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    net = SurrogateSNN(cfg, vocab_size, random_targets(cfg.neurons, cfg.fanout, g),
                       init_scale=2.0, generator=g)
    with torch.no_grad():
        net.p_cnt.normal_(0, 0.3, generator=g)
        net.p_mem.normal_(0, 0.3, generator=g)
        net.b_real.normal_(0, 1.0, generator=g)
    return net


@pytest.mark.parametrize("feature", ["signed", "rectified"])
def test_qat_forward_is_the_integer_model(feature):
    cfg = ModelConfig(neurons=48, fanout=12, steps=3, membrane_bits=12, threshold=256,
                      leak_shift_min=1, leak_shift_max=6, membrane_feature=feature)
    net = make_net(cfg)
    net.mode = "qat"
    net.choose_logit_frac_bits()
    model = SpikingModel(export_config(net), Vocabulary("abcdefg"), export_weights(net))
    gm = GoldenModel(model)
    x = torch.randint(0, 7, (3, 25), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        logits, (v, s), rate = net(x, net.init_state(3))
    scale = 2.0 ** model.config.logit_frac_bits
    st = gm.init_state(3)
    spikes = 0
    for t in range(x.shape[1]):
        st, r = gm.step(st, x[:, t])
        spikes += int(r.spikes.sum())
        assert torch.equal((logits[:, t] * scale).round().to(torch.int64), r.logits)
        assert torch.equal(logits[:, t] * scale, r.logits.to(torch.float32))
    assert torch.equal(v.to(torch.int32), st.v)
    assert torch.equal(s.bool(), st.spikes)
    assert spikes > 0 and abs(rate.item() - spikes / (3 * 25 * 48 * 3)) < 1e-6


def test_stream_batches_are_contiguous():
    ids = np.arange(1000)
    xs = list(stream_batches(ids, 4, 10))
    x0, y0 = xs[0]
    x1, _ = xs[1]
    assert torch.equal(y0, x0 + 1)
    assert torch.equal(x1[:, 0], x0[:, -1] + 1)     # the next batch continues each stream
    assert x0[1, 0].item() == 249                    # (1000 - 1) // 4 characters a stream


def test_stream_batches_from_an_offset_read_the_text_rotated():
    ids = np.arange(1000)
    x0, y0 = next(stream_batches(ids, 4, 10, offset=995))
    assert x0[0].tolist() == [995, 996, 997, 998, 999, 0, 1, 2, 3, 4]   # the end joins the start
    assert torch.equal(y0[:, :4], x0[:, 1:5])
    assert x0[1, 0].item() == (995 + 249) % 1000
    assert [b[0].tolist() for b in stream_batches(ids, 4, 10, offset=0)] == \
        [b[0].tolist() for b in stream_batches(ids, 4, 10)]


def test_feature_dropout_touches_the_float_readout_alone():
    cfg = ModelConfig(neurons=32, fanout=8, steps=2, membrane_bits=12)
    net = make_net(cfg)
    x = torch.randint(0, 7, (4, 12), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        plain, (v0, s0), r0 = net(x, net.init_state(4))
        dropped, (v1, s1), r1 = net(x, net.init_state(4), dropout=0.5)
        none, _, _ = net(x, net.init_state(4), dropout=0.0)
        net.mode = "qat"
        net.choose_logit_frac_bits()
        q_plain, _, _ = net(x, net.init_state(4))
        q_dropped, _, _ = net(x, net.init_state(4), dropout=0.5)
    assert torch.equal(plain, none)
    assert not torch.allclose(plain, dropped)             # the readout saw fewer features
    assert torch.equal(v0, v1) and torch.equal(s0, s1) and r0 == r1   # the network did not
    assert torch.equal(q_plain, q_dropped)                # QAT computes the integer model


def test_training_with_offsets_and_dropout_lowers_the_loss():
    rng = np.random.default_rng(1)
    text_ids = np.tile(rng.integers(0, 5, size=37), 300)
    cfg = ModelConfig(neurons=32, fanout=8, steps=2, membrane_bits=12)
    tcfg = TrainConfig(batch=8, seq_len=16, float_minutes=5, qat_minutes=0, max_steps=120,
                       eval_every=60, lr=0.01, epoch_offset=True, feature_dropout=0.1)
    net = train_surrogate(cfg, tcfg, text_ids, 5, log=lambda s: None)
    assert net.history[-1][2] < np.log2(5) - 0.5


def test_compiled_training_takes_the_same_steps():
    """``train.compile`` runs the training steps through torch.compile, float and QAT: each
    step's loss is the eager network's (to float rounding: the compiled kernels may order
    their sums differently, and Adam turns such differences into small weight differences)."""
    ids = np.tile(np.random.default_rng(2).integers(0, 5, size=37), 100)
    cfg = ModelConfig(neurons=16, fanout=4, steps=2, membrane_bits=12)
    runs = {}
    for compiled in (False, True):
        tcfg = TrainConfig(batch=4, seq_len=8, float_minutes=5, qat_minutes=5, max_steps=5,
                           eval_every=100, lr=0.01, compile=compiled)
        runs[compiled] = steps = []
        train_surrogate(cfg, tcfg, ids, 5, log=lambda s: None,
                        progress=lambda mode, frac, bpc, rate, steps=steps:
                        steps.append((mode, bpc, rate)))
    assert [m for m, _, _ in runs[True]] == ["float"] * 5 + ["qat"]
    assert [m for m, _, _ in runs[False]] == [m for m, _, _ in runs[True]]
    for (_, b0, r0), (_, b1, r1) in zip(runs[False], runs[True], strict=True):
        assert b0 == pytest.approx(b1, rel=1e-3) and r0 == pytest.approx(r1, rel=1e-3)


def test_training_lowers_the_loss():
    rng = np.random.default_rng(0)
    text_ids = np.tile(rng.integers(0, 5, size=37), 300)  # a learnable periodic sequence
    cfg = ModelConfig(neurons=32, fanout=8, steps=2, membrane_bits=12)
    tcfg = TrainConfig(batch=8, seq_len=16, float_minutes=5, qat_minutes=0, max_steps=60,
                       eval_every=60, lr=0.01)
    net = train_surrogate(cfg, tcfg, text_ids, 5, log=lambda s: None)
    first_bpc = np.log2(5)
    assert net.history[-1][2] < first_bpc - 0.5


def test_reservoir_recipe_trains_only_the_readout():
    ids = np.random.default_rng(0).integers(0, 4, size=3000)
    cfg = ModelConfig(neurons=16, fanout=4, steps=2, membrane_bits=12)
    tcfg = TrainConfig(recipe="reservoir", batch=4, seq_len=8, float_minutes=1,
                       qat_minutes=0, max_steps=5, eval_every=100)
    net = train_surrogate(cfg, tcfg, ids, 4, log=lambda s: None)
    untrained = TrainConfig(recipe="reservoir", batch=4, seq_len=8, float_minutes=0,
                            qat_minutes=0)
    fresh = train_surrogate(cfg, untrained, ids, 4, log=lambda s: None)
    assert torch.equal(net.p_in, fresh.p_in) and torch.equal(net.p_rec, fresh.p_rec)
    assert not torch.equal(net.p_mem, fresh.p_mem)


def test_the_trainer_gives_the_network_the_configured_surrogate_derivative():
    ids = np.tile(np.arange(5), 200)
    cfg = ModelConfig(neurons=16, fanout=4, steps=2, membrane_bits=12)
    tcfg = TrainConfig(batch=4, seq_len=8, float_minutes=1, qat_minutes=0, max_steps=1,
                       surrogate_slope=1.5, surrogate_damping=0.2)
    net = train_surrogate(cfg, tcfg, ids, 5, log=lambda s: None)
    assert (net.slope, net.damping) == (1.5, 0.2)
    plain = make_net(cfg)
    assert (plain.slope, plain.damping) == (TrainConfig.surrogate_slope,
                                            TrainConfig.surrogate_damping)


def test_surrogate_damping_scales_the_spike_gradient_and_nothing_else():
    cfg = ModelConfig(neurons=32, fanout=8, steps=2, membrane_bits=12, threshold=256)
    x = torch.randint(0, 7, (2, 6), generator=torch.Generator().manual_seed(3))
    runs = {}
    for d in (1.0, 0.25):
        net = make_net(cfg)
        with torch.no_grad():   # no recurrent path: every path to W_in crosses one spike
            net.p_rec.zero_()
        net.damping = d
        logits, _, _ = net(x, net.init_state(2), readout_mask="spikes")
        logits.sum().backward()
        runs[d] = (logits.detach(), net.p_in.grad.clone(), net.p_cnt.grad.clone())
    (out1, gin1, gcnt1), (out2, gin2, gcnt2) = runs[1.0], runs[0.25]
    assert torch.equal(out1, out2)           # forward unchanged
    assert torch.equal(gcnt1, gcnt2)         # readout gradient unchanged
    assert gin1.abs().sum() > 0
    assert torch.equal(gin2, 0.25 * gin1)    # one spike crossed: scaled by d exactly


def test_per_group_clipping_keeps_the_readout_gradient():
    from snnfpga.model.train import clip_gradients

    big = torch.nn.Parameter(torch.zeros(4))
    small = torch.nn.Parameter(torch.zeros(3))
    groups = [{"params": [big]}, {"params": [small]}]
    for how in ("global", "per_group"):
        big.grad = torch.full((4,), 500.0)
        small.grad = torch.tensor([0.3, 0.4, 0.0])
        clip_gradients(groups, how)
        if how == "global":   # one norm of 1000.0001: the small group is scaled to ~5e-4
            assert small.grad.norm().item() < 1e-3
            assert torch.cat([big.grad, small.grad]).norm().item() <= 1.0 + 1e-6
        else:                 # each group on its own: the small one (norm 0.5) is untouched
            assert torch.equal(small.grad, torch.tensor([0.3, 0.4, 0.0]))
            assert big.grad.norm().item() <= 1.0 + 1e-6


def test_logit_scale_of_an_untrained_readout_is_capped_at_what_a_model_file_holds():
    from snnfpga.model.config import MAX_LOGIT_FRAC_BITS

    cfg = ModelConfig(neurons=16, fanout=4, steps=2, membrane_bits=12, threshold=256)
    g = torch.Generator().manual_seed(0)
    net = SurrogateSNN(cfg, 5, random_targets(16, 4, g), generator=g)
    with torch.no_grad():
        net.b_real.fill_(1e-3)   # zero readout weights, tiny bias: any scale fits
    assert net.choose_logit_frac_bits() == MAX_LOGIT_FRAC_BITS
    export_config(net)           # a valid configuration (it used to ask for 20 bits)


def test_logit_scale_is_the_one_of_the_lowest_rounded_bpc():
    cfg = ModelConfig(neurons=32, fanout=8, steps=2, membrane_bits=12, threshold=256)
    net = make_net(cfg)
    ids = np.random.default_rng(0).integers(0, 7, 16 * 128 * 2)
    net.mode = "float"
    base = net.choose_logit_frac_bits()
    net.mode = "qat"
    scores = {}
    for lf in range(base, base + 3):
        net.logit_frac_bits = lf
        scores[lf] = surrogate_bpc(net, ids)[0]
    assert len(set(scores.values())) == 3       # the candidates differ
    lines = []
    net.mode = "float"
    chosen = select_logit_frac_bits(net, ids, finer=2, log=lines.append)
    assert chosen == min(scores, key=scores.get) == net.logit_frac_bits
    assert net.mode == "float"
    assert lines == [f"readout scale: logit_frac_bits {base} dev {scores[base]:.3f}, "
                     f"logit_frac_bits {base + 1} dev {scores[base + 1]:.3f}, "
                     f"logit_frac_bits {base + 2} dev {scores[base + 2]:.3f}; chosen {chosen}"]


def test_logit_scales_whose_bias_would_saturate_are_not_tried():
    cfg = ModelConfig(neurons=16, fanout=4, steps=2, membrane_bits=12, threshold=256,
                      bias_bits=8)
    net = make_net(cfg)
    with torch.no_grad():
        net.p_cnt.mul_(1e-3)
        net.p_mem.mul_(1e-3)
        net.b_real.fill_(0.9)       # 0.9 * 2**7 = 115 fits 8 bits, 0.9 * 2**8 does not
    lines = []
    ids = np.random.default_rng(1).integers(0, 7, 4096)
    assert select_logit_frac_bits(net, ids, log=lines.append) == 7
    assert "logit_frac_bits 8" not in lines[0]

