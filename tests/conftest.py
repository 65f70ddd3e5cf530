"""Shared fixtures: random integer models of any configuration, and the shared corpus."""

from __future__ import annotations

import numpy as np
import pytest
from snnfpga.model.config import ModelConfig
from snnfpga.model.data import Vocabulary, shared_corpus
from snnfpga.model.modelfile import IntWeights, SpikingModel

VOCAB = "\n !',-.:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def random_model(rng: np.random.Generator, cfg: ModelConfig | None = None,
                 vocab: str = VOCAB, extremes: float = 0.0, **overrides) -> SpikingModel:
    """A model with uniformly random integer weights over their full ranges.

    ``extremes`` is the fraction of weights forced to the range ends (-8 / +7 for int4).
    """
    cfg = cfg or ModelConfig(**overrides)
    v, n, f = len(vocab), cfg.neurons, cfg.fanout

    def ints(lo, hi, shape, dtype):
        a = rng.integers(lo, hi + 1, size=shape)
        if extremes:
            m = rng.random(shape) < extremes
            a[m] = np.where(rng.random(int(m.sum())) < 0.5, lo, hi)
        return a.astype(dtype)

    targets = np.stack([np.sort(rng.choice(n, size=f, replace=False)) for _ in range(n)]) \
        if f else np.zeros((n, 0), dtype=np.int64)
    w = IntWeights(
        w_in=ints(cfg.w_min, cfg.w_max, (v, n), np.int8),
        leak=ints(cfg.leak_shift_min, cfg.leak_shift_max, (n,), np.uint8),
        rec_targets=targets.astype(np.uint16),
        rec_weights=ints(cfg.w_min, cfg.w_max, (n, f), np.int8),
        w_cnt=ints(cfg.r_min, cfg.r_max, (v, n), np.int16),
        w_mem=ints(cfg.r_min, cfg.r_max, (v, n), np.int16),
        bias=ints(cfg.b_min // 4, cfg.b_max // 4, (v,), np.int32),
    )
    return SpikingModel(cfg, Vocabulary(vocab), w)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def corpus_path():
    p = shared_corpus()
    if p is None:
        pytest.skip("tinyshakespeare.txt not found: set SNNFPGA_DATA or place ../shared/data "
                    "beside the checkout")
    return p
