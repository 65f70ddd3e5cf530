"""The float surrogate of the spiking network, trained with surrogate gradients through time.

Weights are held as real parameters in ``[-1, 1)`` and mapped to integer units
(``p * 2**(bits-1)``, clipped to the signed range). Two forward modes:

``"float"``
    real-valued weights and an exact multiplicative leak ``v * (1 - 2**-k[n])``;
``"qat"``
    weights rounded to integers, the leak and the membrane feature rounded toward -inf as
    in the integer model, each rounding passing its gradient straight through. In this mode
    the forward pass computes exactly the integer model of ``golden.py`` (every value is an
    integer below 2**24, so float32 holds it exactly).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .config import MAX_LOGIT_FRAC_BITS, ModelConfig, TrainConfig

__all__ = ["SurrogateSNN"]


class _Spike(torch.autograd.Function):
    """Heaviside step forward; fast-sigmoid derivative ``d / (1 + a|x|)**2`` backward
    (slope ``a``, damping ``d``)."""

    @staticmethod
    def forward(ctx, x, slope, damping):
        ctx.save_for_backward(x)
        ctx.slope, ctx.damping = slope, damping
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return ctx.damping * grad / (1.0 + ctx.slope * x.abs()) ** 2, None, None


def _round_ste(x):
    return x + (torch.round(x) - x).detach()


def _floor_ste(x):
    return x + (torch.floor(x) - x).detach()


class SurrogateSNN(nn.Module):
    """Recurrent LIF network with a fixed sparse recurrent mask and a hybrid readout.

    Parameters
    ----------
    cfg : ModelConfig
        The integer model's configuration; the surrogate follows it step for step.
    vocab_size : int
        Number of characters ``V``.
    targets : torch.Tensor
        ``(N, F)`` int64 recurrent targets of each source neuron (the fixed mask).
    slope, damping : float
        The surrogate derivative's (``TrainConfig.surrogate_slope`` and
        ``surrogate_damping``, whose defaults they share).
    """

    def __init__(self, cfg: ModelConfig, vocab_size: int, targets: torch.Tensor, *,
                 init_scale: float = 1.0, generator: torch.Generator | None = None,
                 slope: float = TrainConfig.surrogate_slope,
                 damping: float = TrainConfig.surrogate_damping):
        super().__init__()
        n, f = cfg.neurons, cfg.fanout
        self.cfg = cfg
        self.vocab_size = vocab_size
        mask = torch.zeros(n, n)
        if f:
            mask.scatter_(1, targets, 1.0)
        self.register_buffer("mask", mask)
        self.register_buffer("targets", targets.clone())
        span = cfg.leak_shift_max - cfg.leak_shift_min + 1
        self.register_buffer("leak", cfg.leak_shift_min + torch.arange(n) % span)
        g = generator

        def randn(*shape, std):
            return torch.randn(*shape, generator=g) * std

        self.p_in = nn.Parameter(randn(vocab_size, n, std=0.35 * init_scale))
        self.p_rec = nn.Parameter(randn(n, n, std=0.5 * init_scale / math.sqrt(max(f, 1))) * mask)
        self.p_cnt = nn.Parameter(torch.zeros(vocab_size, n))   # normalised readout units
        self.p_mem = nn.Parameter(torch.zeros(vocab_size, n))
        self.b_real = nn.Parameter(torch.zeros(vocab_size))
        self.mode = "float"
        self.slope = slope
        self.damping = damping   # < 1 keeps gradients through many spike steps from growing
        self.logit_frac_bits = cfg.logit_frac_bits

    # -- integer-unit views of the parameters -------------------------------------------------
    def _w(self, p, bits, lo, hi):
        w = (p * (1 << (bits - 1))).clamp(lo, hi)
        return _round_ste(w) if self.mode == "qat" else w

    def _readout_scales(self):
        """Divisors that bring the features to order one: the largest count feature, and
        1/8 of the membrane feature range (membranes mostly sit well inside it)."""
        c = self.cfg
        return float(c.steps << c.count_shift), float(1 << max(c.feature_bits - 4, 0))

    def int_weights(self):
        """Weights in integer units as used by the QAT forward pass (rounded in QAT mode).

        The readout is held in normalised units (features divided by their largest value);
        its integer form depends on ``logit_frac_bits``, chosen when quantisation starts
        (``train.select_logit_frac_bits``, from :meth:`choose_logit_frac_bits` up).
        """
        c = self.cfg
        lf = self.logit_frac_bits
        sc, sm = self._readout_scales()
        w_in = self._w(self.p_in, c.weight_bits, c.w_min, c.w_max)
        w_rec = self._w(self.p_rec, c.weight_bits, c.w_min, c.w_max) * self.mask
        w_cnt = (self.p_cnt * (2.0**lf / sc)).clamp(c.r_min, c.r_max)
        w_mem = (self.p_mem * (2.0**lf / sm)).clamp(c.r_min, c.r_max)
        b = (self.b_real * 2.0**lf).clamp(c.b_min, c.b_max)
        if self.mode == "qat":
            w_cnt, w_mem, b = _round_ste(w_cnt), _round_ste(w_mem), _round_ste(b)
        return w_in, w_rec, w_cnt, w_mem, b

    @torch.no_grad()
    def choose_logit_frac_bits(self, quantile: float = 0.999) -> int:
        """Pick the largest logit scale at which the readout weights fit ``readout_bits``.

        The ``quantile`` of the weight magnitudes lands at the largest integer weight (the
        few above it saturate); the bias must fit ``bias_bits``.
        """
        c = self.cfg
        sc, sm = self._readout_scales()
        mags = torch.cat([(self.p_cnt / sc).abs().flatten(), (self.p_mem / sm).abs().flatten()])
        q = torch.quantile(mags[:1 << 20].float(), quantile).item() if mags.numel() else 0.0
        lf = 0
        for cand in range(0, MAX_LOGIT_FRAC_BITS + 1):   # small weights: capped, not refused
            if q * 2.0**cand <= c.r_max + 0.5 and self.bias_fits(cand):
                lf = cand
        self.logit_frac_bits = lf
        return lf

    @torch.no_grad()
    def bias_fits(self, logit_frac_bits: int) -> bool:
        """Whether every bias, at that logit scale, fits ``bias_bits`` without saturating."""
        return self.b_real.abs().max().item() * 2.0**logit_frac_bits <= self.cfg.b_max

    def init_state(self, batch: int):
        n = self.cfg.neurons
        return torch.zeros(batch, n), torch.zeros(batch, n)

    def forward(self, x: torch.Tensor, state, *, readout_mask: str = "hybrid",
                dropout: float = 0.0):
        """Run ``x`` (``(B, L)`` ids) from ``state``; return logits ``(B, L, V)``, state, rate.

        ``readout_mask`` selects the features: ``"hybrid"``, ``"spikes"`` or ``"membrane"``.
        ``dropout`` zeroes that fraction of the readout's features at random and scales the
        rest up to keep their sum (a regulariser for training; the network's state is not
        touched, and QAT mode ignores it, as QAT must compute the integer model).
        """
        c = self.cfg
        qat = self.mode == "qat"
        w_in, w_rec, w_cnt, w_mem, b = self.int_weights()
        w_rec = w_rec * float(1 << c.recurrent_shift)
        # one (B, N) drive a character: unbind's backward stacks their gradients in one step
        # (indexing a (B, L, N) tensor per character would fill a zero tensor of that size
        # for each in the backward pass)
        drives = (w_in[x] * float(1 << c.input_shift)).unbind(1)
        v, s = state
        theta = float(c.threshold)
        lo, hi = float(c.v_min), float(c.v_max)
        inv_leak = 2.0 ** -self.leak.float()
        feats_c, feats_m, spikes = [], [], []
        for drive in drives:
            cnt = torch.zeros_like(v)
            for t in range(c.steps):
                syn = s @ w_rec
                leak = _floor_ste(v * inv_leak) if qat else v * inv_leak
                v = v - leak + syn
                if t == 0 or c.input_every_step:
                    v = v + drive
                v = v.clamp(lo, hi)
                s = _Spike.apply((v - theta) / theta, self.slope, self.damping)
                if c.reset == "subtract":
                    v = v - theta * s.detach()
                else:
                    v = v * (1.0 - s.detach())
                cnt = cnt + s
            spikes.append(cnt)
            fm = v * 2.0 ** -c.feature_shift
            if qat:
                fm = _floor_ste(fm)
            feats_m.append(fm.clamp(float(c.f_min), float(c.f_max)))
            feats_c.append(cnt * float(1 << c.count_shift))
        fc = torch.stack(feats_c, 1)
        fm = torch.stack(feats_m, 1)
        if readout_mask == "spikes":
            fm = torch.zeros_like(fm)
        elif readout_mask == "membrane":
            fc = torch.zeros_like(fc)
        if dropout and not qat:
            keep = 1.0 - dropout
            fc = fc * (torch.rand_like(fc) < keep) / keep
            fm = fm * (torch.rand_like(fm) < keep) / keep
        if qat:
            logits = (fc @ w_cnt.t() + fm @ w_mem.t() + b) * 2.0**-self.logit_frac_bits
        else:
            sc, sm = self._readout_scales()
            logits = (fc / sc) @ self.p_cnt.t() + (fm / sm) @ self.p_mem.t() + self.b_real
        rate = torch.stack(spikes, 1).mean() / c.steps
        return logits, (v, s), rate

    def detach_state(self, state):
        return tuple(t.detach() for t in state)
