"""Random stimulus shared by the Amaranth-simulator tests (tests/hw) and the Verilator ones
(tests/sim). Stimulus only: every expected value comes from the golden model."""

from __future__ import annotations

import numpy as np
import torch
from snnfpga.model.config import ModelConfig
from snnfpga.model.golden import State
from snnfpga.model.modelfile import SpikingModel

LOGIT_MIN, LOGIT_MAX = -(1 << 31), (1 << 31) - 1


def random_logits(rng, v: int) -> list[int]:
    """Logits of one character: narrow ranges (many ties), full 32-bit range, or its ends."""
    kind = rng.integers(0, 4)
    if kind == 0:
        return rng.integers(-2, 3, size=v).tolist()
    if kind == 1:
        return rng.integers(-3000, 3000, size=v).tolist()
    if kind == 2:
        return rng.integers(LOGIT_MIN, LOGIT_MAX + 1, size=v).tolist()
    return rng.choice([LOGIT_MIN, LOGIT_MAX, LOGIT_MAX - 1, 0], size=v).tolist()


def random_tq(rng) -> int:
    r = rng.random()
    if r < 0.3:
        return 0
    if r < 0.4:
        return int(rng.choice([1, (1 << 15) - 1]))
    if r < 0.7:
        return int(rng.integers(1, 64))
    return int(rng.integers(1, 1 << 15))


def random_state(rng, cfg: ModelConfig) -> State:
    """Potentials spread over the range with its edges over-represented; random pending spikes."""
    n = cfg.neurons
    v = rng.integers(cfg.v_min, cfg.v_max + 1, size=n)
    edges = np.array([cfg.v_min, cfg.v_min + 1, -1, 0, 1, cfg.threshold - 1, cfg.threshold,
                      cfg.v_max - 1, cfg.v_max])
    pick = rng.random(n) < 0.3
    v[pick] = rng.choice(edges, size=int(pick.sum()))
    spikes = rng.random(n) < rng.random()
    return State(torch.tensor(v[None], dtype=torch.int32), torch.tensor(spikes[None]))


def synaptic_sums(model: SpikingModel, spikes: torch.Tensor) -> np.ndarray:
    """Stimulus: the unshifted synaptic sum of each neuron for the pending spikes.

    Not a reference: the expected outputs come from the golden model, which sums the same
    weights itself, so a wrong stimulus here shows up as a mismatch, never as a false pass.
    """
    w = model.weights
    acc = np.zeros(model.config.neurons, dtype=np.int64)
    for s in np.flatnonzero(spikes[0].numpy()):
        np.add.at(acc, w.rec_targets[s].astype(np.int64), w.rec_weights[s].astype(np.int64))
    return acc
