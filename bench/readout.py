"""Readouts trained alone on fixed features: multinomial logistic regression, streaming data."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..model.golden import GoldenModel
from ..model.readout_pass import adam_minibatches

__all__ = ["Readout", "adam_minibatches", "grid_frac_bits", "fit_readout", "bpc", "select",
           "integer_readout_logits"]

LN2 = math.log(2.0)


def select(x: torch.Tensor, which: str) -> torch.Tensor:
    """Columns of a ``(L, 2N)`` feature matrix: ``"hybrid"``, ``"spikes"`` or ``"membrane"``."""
    n = x.shape[1] // 2
    if which == "hybrid":
        return x
    if which == "spikes":
        return x[:, :n]
    if which == "membrane":
        return x[:, n:]
    raise ValueError(f"readout features must be hybrid, spikes or membrane, not {which!r}")


@dataclass
class Readout:
    """Logits ``x @ weight + bias`` over raw features ``x`` (integer units of the features).

    Attributes
    ----------
    weight : torch.Tensor
        ``(D, V)`` float32.
    bias : torch.Tensor
        ``(V,)`` float32.
    """

    weight: torch.Tensor
    bias: torch.Tensor

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight + self.bias

    def quantized(self, bits: int, blocks: int = 1) -> Readout:
        """The readout with its weights on a signed ``bits``-bit grid, the bias kept.

        Each of ``blocks`` equal row blocks (2 for the hybrid readout: spike counts, then
        membranes) gets its own power-of-two scale, chosen so that the 99.9th percentile of
        its magnitudes lands on the largest level (the few above saturate). Power-of-two
        scales are what the hardware offers: ``logit_frac_bits`` for the whole readout and
        ``count_shift`` for the ratio between the two blocks. ``bits >= 32``: unchanged.
        """
        if bits >= 32:
            return self
        top = (1 << (bits - 1)) - 1
        parts = []
        for w in self.weight.chunk(blocks, 0):
            scale = 2.0 ** grid_frac_bits(w, bits)
            parts.append((w * scale).round().clamp(-(top + 1), top) / scale)
        return Readout(torch.cat(parts, 0), self.bias)


def grid_frac_bits(w: torch.Tensor, bits: int) -> int:
    """Fractional bits of the power-of-two grid that puts the 99.9th percentile of ``|w|``
    on the largest level of a signed ``bits``-bit integer (the few above it saturate)."""
    q = torch.quantile(w.abs().flatten()[: 1 << 22], 0.999).item()
    return math.floor(math.log2((((1 << (bits - 1)) - 1) + 0.5) / max(q, 1e-30)))


def fit_readout(x: torch.Tensor, y: torch.Tensor, vocab_size: int, *, epochs: int = 4,
                batch: int | None = None, lr: float = 3e-3, weight_decay: float = 1e-3,
                seed: int = 0, progress=None) -> Readout:
    """Train a softmax readout on features ``x`` ``(L, D)`` to predict ``y`` ``(L,)``.

    Features are standardised with the training statistics (folded back into the returned
    weights); Adam over shuffled minibatches (default ``L / 100`` rows, 128 to 1024), an L2
    penalty ``weight_decay * sum(w**2)`` on the standardised weights, learning rate decayed
    by cosine to 5 %.
    """
    g = torch.Generator().manual_seed(seed)
    x = x.float()
    mu = x.mean(0)
    sd = x.std(0).clamp_min(1e-3)
    w = torch.zeros(x.shape[1], vocab_size, requires_grad=True)
    prior = torch.bincount(y, minlength=vocab_size).float() + 1.0
    b = (prior / prior.sum()).log().clone().requires_grad_(True)
    n = x.shape[0]

    def loss_of(idx):
        z = (x[idx] - mu) / sd
        return F.cross_entropy(z @ w + b, y[idx]) + weight_decay * (w * w).sum()

    adam_minibatches([w, b], loss_of, n, epochs=epochs,
                     batch=batch or min(1024, max(128, n // 100)), lr=lr, generator=g,
                     progress=progress)
    with torch.no_grad():
        weight = w / sd.view(-1, 1)
        bias = b - (mu / sd) @ w
    return Readout(weight.detach(), bias.detach())


def bpc(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Mean cross-entropy of ``logits`` (natural-log units) against ``y``, in bits."""
    if len(y) == 0:
        return float("nan")
    lp = torch.log_softmax(logits.double(), -1)
    return -lp.gather(1, y.view(-1, 1)).mean().item() / LN2


def integer_readout_logits(model, x: torch.Tensor) -> torch.Tensor:
    """The model file's own integer readout (:meth:`GoldenModel.readout_vector`) over raw
    features ``(L, 2N)``, as real logits; the features must be integers, as the network's are."""
    if not torch.equal(x, x.round()):
        raise ValueError("the integer readout takes integer features; these have fractions")
    return GoldenModel(model).readout_vector(x).to(torch.float64) \
        * 2.0 ** -model.config.logit_frac_bits
