"""Streaming evaluation of the integer model: bits per character, sparsity, operations."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch

from .golden import GoldenModel
from .modelfile import SpikingModel

__all__ = ["EvalReport", "evaluate", "bpc_from_logits"]


def bpc_from_logits(logits: torch.Tensor, targets: torch.Tensor, logit_frac_bits: int) -> float:
    """Mean cross-entropy in bits of integer ``logits`` (scaled by ``2**-logit_frac_bits``)."""
    if len(targets) == 0:
        return float("nan")
    x = logits.to(torch.float64) * 2.0 ** -logit_frac_bits
    nll = -torch.log_softmax(x, dim=-1).gather(1, targets.view(-1, 1)).sum().item()
    return nll / len(targets) / math.log(2.0)


@dataclass
class EvalReport:
    """Figures of one streaming pass; per-character figures average over the characters fed."""

    chars: int
    bpc: float
    firing_rate: float           # spikes / (chars * neurons * steps)
    spikes_per_char: float
    syn_events_per_char: float
    readout_ops_per_char: float
    dense_ops_per_char: int      # synaptic + neuron updates + readout, every step, every unit
    event_ops_per_char: float    # synaptic events + neuron updates + readout ops
    firing_histogram: list[int]  # neurons by per-neuron firing rate, 10 bins over [0, 1]

    def as_dict(self):
        return asdict(self)

    def lines(self) -> list[str]:
        return [
            f"characters           {self.chars}",
            f"bits per character   {self.bpc:.4f}",
            f"firing rate          {100 * self.firing_rate:.2f} % of neuron-steps",
            f"spikes / char        {self.spikes_per_char:.1f}",
            f"synaptic events/char {self.syn_events_per_char:.1f}",
            f"readout MACs / char  {self.readout_ops_per_char:.1f}",
            f"event-driven ops/char {self.event_ops_per_char:.1f}",
            f"dense ops / char     {self.dense_ops_per_char}  "
            f"({self.dense_ops_per_char / max(self.event_ops_per_char, 1e-9):.2f}x the "
            "event-driven count)",
        ]


def evaluate(model: SpikingModel, text: str, *, progress=None) -> EvalReport:
    """Run the integer model over ``text`` as one stream from rest; score next-character BPC.

    The logits after character ``i`` predict character ``i + 1``: ``len(text) - 1``
    predictions. Counters cover all ``len(text)`` characters fed.
    """
    ids = torch.from_numpy(model.vocab.encode(text))
    gm = GoldenModel(model)
    res = gm.run(ids, keep_counts=True, progress=progress)
    c = model.config
    n = max(len(ids), 1)
    bpc = bpc_from_logits(res.logits[:-1], ids[1:], c.logit_frac_bits)
    dense = gm.dense_ops_per_token()
    spikes = res.spikes.sum().item()
    per_neuron = res.counts.sum(0, dtype=torch.int64).numpy() / (n * c.steps)
    hist = np.histogram(per_neuron, bins=10, range=(0.0, 1.0))[0]
    syn = res.syn_events.sum().item() / n
    ro = res.readout_ops.sum().item() / n
    return EvalReport(
        chars=len(ids), bpc=bpc,
        firing_rate=spikes / (n * c.neurons * c.steps),
        spikes_per_char=spikes / n,
        syn_events_per_char=syn,
        readout_ops_per_char=ro,
        dense_ops_per_char=sum(dense.values()),
        event_ops_per_char=syn + dense["neuron_updates"] + ro,
        firing_histogram=[int(h) for h in hist],
    )
