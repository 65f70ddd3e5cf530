"""A batched LIF simulator over real-valued weights, for the benchmark's network variants.

The golden model (``model/golden.py``) is the specification of the integer arithmetic and
runs one configuration. The benchmark needs many variants of one network (neurons pruned,
weights re-quantized to other widths or left real-valued, narrower membranes), so it
simulates them here with the same per-token rules. With integer weights and
``integer=True`` every value is an integer below 2**31 held exactly in float64, and the
spike counts and membrane features equal the golden model's bit for bit
(``tests/bench/test_network.py`` checks this).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch

from ..model.modelfile import SpikingModel

__all__ = ["Net", "Features", "from_model", "reservoir", "prune", "quantize_units",
           "requantize", "simulate"]


@dataclass(frozen=True)
class Net:
    """One network variant, weights in membrane units (the integer model's shifts applied).

    Attributes
    ----------
    w_in : torch.Tensor
        ``(V, N)`` float64 input drive of each character.
    rec : torch.Tensor
        ``(N, N)`` float64 recurrent weights, ``rec[source, target]``.
    leak : torch.Tensor
        ``(N,)`` leak shifts ``k``: each step ``v - v * 2**-k`` (floored if ``integer``).
    fanout : int
        Stored targets per source (a spike costs this many synaptic events).
    steps, threshold, membrane_bits, count_shift, feature_shift, feature_bits : int
        As in :class:`snnfpga.model.config.ModelConfig`.
    reset, membrane_feature : str
        As in :class:`snnfpga.model.config.ModelConfig`.
    input_every_step, integer : bool
        Input drive on every step; integer rounding of the leak and the membrane feature.
    alive : torch.Tensor
        ``(N,)`` bool, neurons not pruned.
    """

    w_in: torch.Tensor
    rec: torch.Tensor
    leak: torch.Tensor
    fanout: int
    steps: int
    threshold: int
    membrane_bits: int
    count_shift: int
    feature_shift: int
    feature_bits: int
    reset: str
    membrane_feature: str
    input_every_step: bool
    integer: bool
    alive: torch.Tensor

    @property
    def neurons(self) -> int:
        return self.rec.shape[0]

    @property
    def vocab_size(self) -> int:
        return self.w_in.shape[0]

    def dense_ops(self) -> dict[str, int]:
        """Operations per character of a dense evaluation (every unit, every step)."""
        n, v = int(self.alive.sum()), self.vocab_size
        return {"synaptic": self.steps * n * self.fanout, "neuron_updates": self.steps * n,
                "readout": 2 * n * v}


@dataclass
class Features:
    """What a network did on a text, position by position (``L`` characters fed).

    Attributes
    ----------
    counts : torch.Tensor
        ``(L, N)`` uint8 spikes per neuron in each character.
    membrane : torch.Tensor
        ``(L, N)`` float32 membrane features after each character.
    syn_events : torch.Tensor
        ``(L,)`` float64 synaptic events (delivered spikes times fan-out).
    """

    counts: torch.Tensor
    membrane: torch.Tensor
    syn_events: torch.Tensor

    def matrix(self, count_shift: int) -> torch.Tensor:
        """``(L, 2N)`` float32 readout features: ``counts << count_shift``, then membranes."""
        return torch.cat([self.counts.float() * float(1 << count_shift), self.membrane], 1)


def from_model(model: SpikingModel) -> Net:
    """The integer network of a model file (its readout is not part of :class:`Net`)."""
    c, w = model.config, model.weights
    n = c.neurons
    dense = np.zeros((n, n), dtype=np.float64)
    if c.fanout:
        np.put_along_axis(dense, w.rec_targets.astype(np.int64),
                          w.rec_weights.astype(np.float64), axis=1)
    return Net(
        w_in=torch.from_numpy(w.w_in.astype(np.float64) * (1 << c.input_shift)),
        rec=torch.from_numpy(dense * (1 << c.recurrent_shift)),
        leak=torch.from_numpy(w.leak.astype(np.int64)), fanout=c.fanout, steps=c.steps,
        threshold=c.threshold, membrane_bits=c.membrane_bits, count_shift=c.count_shift,
        feature_shift=c.feature_shift, feature_bits=c.feature_bits, reset=c.reset,
        membrane_feature=c.membrane_feature, input_every_step=c.input_every_step, integer=True,
        alive=torch.ones(n, dtype=torch.bool))


def reservoir(model: SpikingModel, seed: int, *, init_scale: float = 1.0) -> tuple[Net, Net]:
    """The original recipe's random reservoir for ``model``'s configuration.

    Drawn exactly as ``snnfpga train --recipe reservoir`` draws it (same generator order).
    Returns the real-valued network and a template whose weights are in int4-grid units
    (``real``: weights not rounded, ``integer=False``), both in membrane units.
    """
    from ..model.surrogate import SurrogateSNN
    from ..model.train import random_targets

    c = model.config
    g = torch.Generator().manual_seed(seed)
    targets = random_targets(c.neurons, c.fanout, g)
    net = SurrogateSNN(c, len(model.vocab), targets, init_scale=init_scale, generator=g)
    half = float(1 << (c.weight_bits - 1))
    units_in = (net.p_in.detach().double() * half).clamp(-half, half)
    units_rec = (net.p_rec.detach().double() * half).clamp(-half, half) * net.mask.double()
    base = from_model(model)
    real = replace(base, w_in=units_in * (1 << c.input_shift),
                   rec=units_rec * (1 << c.recurrent_shift),
                   leak=net.leak.clone(), integer=False)
    return real, base


def quantize_units(units: torch.Tensor, bits: int, mask: torch.Tensor | None = None,
                   ref_bits: int = 4) -> torch.Tensor:
    """Round weights held in ``ref_bits``-grid units to a signed ``bits``-bit grid.

    For ``bits >= ref_bits`` the grid keeps the ``ref_bits`` range (``-2**(ref_bits-1)`` up
    to just below ``2**(ref_bits-1)``) with ``2**(bits-ref_bits)`` levels per unit, so the
    ``ref_bits`` case is plain rounding to integers. Narrower grids put their largest level
    at the 99th percentile of the non-zero magnitudes (a fixed range would round almost
    every small weight to zero). ``bits >= 32`` returns the weights unchanged.
    """
    if bits >= 32:
        return units.clone()
    half = float(1 << (ref_bits - 1))
    if bits >= ref_bits:
        step = 2.0 ** (ref_bits - bits)
        lo, hi = -half, half - step
    else:
        nz = units[units != 0] if mask is None else units[mask]
        top = torch.quantile(nz.abs().float()[: 1 << 22], 0.99).item() if nz.numel() else 1.0
        levels = (1 << (bits - 1)) - 1 if bits > 1 else 1
        step = max(top, 1e-12) / max(levels, 1)
        lo, hi = -step * (1 << (bits - 1)), step * ((1 << (bits - 1)) - 1)
    return (units / step).round().mul(step).clamp(lo, hi)


def requantize(net: Net, units_template: Net, *, input_bits: int, recurrent_bits: int,
               input_shift: int, recurrent_shift: int) -> Net:
    """``net`` with its input and recurrent weights rounded to the given widths.

    ``net`` holds weights in membrane units; the shifts convert them back to grid units.
    The result is an integer network when both widths are the 4-bit reference (or the
    weights were integer already), otherwise real-valued with real (unfloored) arithmetic.
    """
    ui = net.w_in / (1 << input_shift)
    ur = net.rec / (1 << recurrent_shift)
    mask = ur != 0
    qi = quantize_units(ui, input_bits)
    qr = quantize_units(ur, recurrent_bits, mask) * mask
    integer = bool(torch.equal(qi, qi.round()) and torch.equal(qr, qr.round()))
    return replace(net, w_in=qi * (1 << input_shift), rec=qr * (1 << recurrent_shift),
                   integer=integer)


def prune(net: Net, keep: torch.Tensor) -> Net:
    """``net`` with only the neurons in ``keep`` (bool ``(N,)``) left.

    A pruned neuron gets no input drive and no recurrent input and sends nothing, so from
    rest it stays at 0 and never fires; its features are 0. In the integer model this is
    the same as zeroing its column of ``W_in``, its fan-out weights and every fan-out weight
    that targets it.
    """
    k = keep.to(torch.float64)
    return replace(net, w_in=net.w_in * k, rec=net.rec * k.view(-1, 1) * k.view(1, -1),
                   alive=net.alive & keep)


@torch.no_grad()
def simulate(net: Net, ids, *, streams: int = 16, keep_steps: bool = False, progress=None):
    """Run ``net`` over ``ids`` as ``streams`` contiguous streams, each from rest, no resets.

    Stream ``j`` reads positions ``[j * L', (j + 1) * L')`` with ``L' = ceil(L / streams)``;
    features come back in text order. ``keep_steps`` (one stream only) also returns the
    ``(L, T, N)`` bool spikes of every time step. ``progress(k)`` is called with the number
    of characters done.
    """
    ids = torch.as_tensor(np.asarray(ids), dtype=torch.int64)
    n_tok, n = ids.shape[0], net.neurons
    streams = max(1, min(streams, n_tok)) if not keep_steps else 1
    per = math.ceil(n_tok / streams) if n_tok else 0
    pad = torch.zeros(per * streams, dtype=torch.int64)
    pad[:n_tok] = ids
    grid = pad.view(streams, per)
    counts = torch.zeros(streams, per, n, dtype=torch.uint8)
    mem = torch.zeros(streams, per, n, dtype=torch.float32)
    events = torch.zeros(streams, per, dtype=torch.float64)
    all_steps = torch.zeros(per, net.steps, n, dtype=torch.bool) if keep_steps else None
    # float32 holds every integer variant exactly: sums stay far below 2**24
    rec = net.rec.float()
    w_in = net.w_in.float()
    v = torch.zeros(streams, n)
    s = torch.zeros(streams, n, dtype=torch.bool)
    lo, hi = -float(1 << (net.membrane_bits - 1)), float((1 << (net.membrane_bits - 1)) - 1)
    flo, fhi = -float(1 << (net.feature_bits - 1)), float((1 << (net.feature_bits - 1)) - 1)
    if net.membrane_feature == "rectified":
        flo = 0.0
    inv_leak = 2.0 ** -net.leak.float()
    theta = float(net.threshold)
    fscale = 2.0 ** -net.feature_shift
    for i in range(per):
        drive = w_in[grid[:, i]]
        cnt = torch.zeros(streams, n)
        delivered = s.sum(1)
        for t in range(net.steps):
            src = s.nonzero()
            syn = torch.zeros_like(v).index_add_(0, src[:, 0], rec.index_select(0, src[:, 1]))
            if t == 0 or net.input_every_step:
                syn = syn + drive
            leak = v * inv_leak
            if net.integer:
                leak = leak.floor()
            v = (v - leak + syn).clamp_(lo, hi)
            s = v >= theta
            v = v - theta * s if net.reset == "subtract" else v * ~s
            cnt += s
            if keep_steps:
                all_steps[i, t] = s[0]
        delivered = delivered + cnt.sum(1) - s.sum(1)
        f = v * fscale
        if net.integer:
            f = f.floor()
        counts[:, i] = cnt.to(torch.uint8)
        mem[:, i] = f.clamp_(flo, fhi).float()
        events[:, i] = delivered.double() * net.fanout
        if progress is not None and (i + 1) % 512 == 0:
            progress(min((i + 1) * streams, n_tok))
    if progress is not None:
        progress(n_tok)
    feats = Features(counts=counts.reshape(-1, n)[:n_tok], membrane=mem.reshape(-1, n)[:n_tok],
                     syn_events=events.reshape(-1)[:n_tok])
    return (feats, all_steps) if keep_steps else feats
