"""The readout pass: the trained network fixed, its integer readout tuned on its exact features.

The surrogate's readout learns beside a network that keeps changing, from the surrogate's
features, and never sees the end of the training split that training holds out to choose its
best points (:func:`dev_split`). This last stage runs the exported integer network (the golden
model's own rules) over the training split once, keeps every position's readout features,
and tunes the integer readout on them with the rounding in the loop (straight-through
gradients through ``round`` and the saturation to ``readout_bits``): the readout then fits
exactly the features the hardware computes. It runs twice from the model's readout, with the
same settings: first on the positions before the held-out end, judged there (the guard: if
the held-out BPC does not improve, the model's readout is kept), then on the whole training
split, the held-out end included, which is the readout returned. The validation split is
never seen; the network's weights, and so its spikes, events and cycles, do not change.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F

from .errors import ModelError
from .evaluate import bpc_from_logits
from .golden import GoldenModel
from .modelfile import SpikingModel

__all__ = ["ReadoutFeatures", "adam_minibatches", "dev_split", "integer_features", "readout_bpc",
           "tune_readout"]

DEV_MAX = 16 * 128 * 8   # the held-out end of the training split, at most this many characters


def dev_split(train_ids: np.ndarray) -> int:
    """Length of the held-out end of the training split: a tenth, at most ``DEV_MAX``."""
    return min(len(train_ids) // 10, DEV_MAX)


@dataclass
class ReadoutFeatures:
    """The readout's inputs at every position of a text, and the character that follows.

    Attributes
    ----------
    counts : (L, N) uint8, spike counts of the character.
    feats : (L, N) int16, membrane features after it.
    target : (L,) int64, the next character's id.
    """

    counts: torch.Tensor
    feats: torch.Tensor
    target: torch.Tensor

    def __len__(self) -> int:
        return len(self.target)

    def matrix(self, idx, count_shift: int) -> torch.Tensor:
        """``(len(idx), 2N)`` float32 ``[counts << count_shift, feats]`` of rows ``idx``."""
        return torch.cat([self.counts[idx].float() * float(1 << count_shift),
                          self.feats[idx].float()], 1)


@torch.inference_mode()
def integer_features(model: SpikingModel, ids: np.ndarray, *, streams: int = 32,
                     progress=None) -> ReadoutFeatures:
    """Features of the integer network over ``ids``, read as ``streams`` contiguous streams.

    Each stream starts from rest at its part of the text (as training's batches do); the rows
    come back in text order, position ``i`` holding the features after ``ids[i]`` and the
    target ``ids[i + 1]``. ``progress(done, total)`` is called now and then.
    """
    if len(ids) < 2:
        raise ModelError(f"need at least two characters to read features, got {len(ids)}")
    gm = GoldenModel(model)
    ids = torch.as_tensor(np.asarray(ids), dtype=torch.int64)
    m = len(ids) - 1
    streams = max(1, min(streams, m))
    per = math.ceil(m / streams)
    padded = torch.zeros(streams * per, dtype=torch.int64)
    padded[:m] = ids[:m]
    x = padded.view(streams, per)
    n = model.config.neurons
    counts = torch.empty(streams, per, n, dtype=torch.uint8)
    feats = torch.empty(streams, per, n, dtype=torch.int16)
    state = gm.init_state(streams)
    for j in range(per):
        state, res = gm.step(state, x[:, j])
        counts[:, j] = res.counts
        feats[:, j] = res.features
        if progress is not None and (j + 1) % 1024 == 0:
            progress((j + 1) * streams, streams * per)
    if progress is not None:
        progress(streams * per, streams * per)
    return ReadoutFeatures(counts.view(-1, n)[:m], feats.view(-1, n)[:m], ids[1:].clone())


def adam_minibatches(params, loss_of, n: int, *, epochs: int, batch: int, lr: float,
                     generator: torch.Generator, progress=None) -> None:
    """Minimise ``loss_of(idx)`` over shuffled minibatches of ``n`` rows with Adam.

    ``epochs`` passes of ``batch`` rows; the learning rate decays by cosine from ``lr`` to 5 %
    of it; ``progress()`` is called after each pass.
    """
    opt = torch.optim.Adam(params, lr=lr)
    total, k = epochs * math.ceil(n / batch), 0
    with torch.enable_grad():
        for _ in range(epochs):
            order = torch.randperm(n, generator=generator)
            for j in range(0, n, batch):
                loss = loss_of(order[j : j + batch])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                for grp in opt.param_groups:
                    grp["lr"] = lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * k / total)))
                opt.step()
                k += 1
            if progress is not None:
                progress()


def readout_bpc(model: SpikingModel, data: ReadoutFeatures, rows: slice | None = None,
                chunk: int = 8192) -> float:
    """The model's integer readout (the golden model's) scored on ``data`` (rows ``rows``), in
    bits per character."""
    gm = GoldenModel(model)
    idx = torch.arange(len(data))[rows if rows is not None else slice(None)]
    bits = 0.0
    for j in range(0, len(idx), chunk):
        r = idx[j : j + chunk]
        logits = gm.readout(data.counts[r], data.feats[r])
        bits += bpc_from_logits(logits, data.target[r], model.config.logit_frac_bits) * len(r)
    return bits / max(len(idx), 1)


def _tuned(model: SpikingModel, data: ReadoutFeatures, rows: int, *, epochs: int, lr: float,
           batch: int, seed: int, progress=None) -> SpikingModel:
    """The model with its readout tuned on the first ``rows`` positions of ``data``;
    ``progress(fraction)`` is called after each pass."""
    c = model.config
    gm = GoldenModel(model)   # its readout weights, (2N, V), and bias, in integer units
    weight = gm.w_ro.float().requires_grad_(True)
    bias = gm.bias.float().requires_grad_(True)
    scale = 2.0 ** -c.logit_frac_bits

    def loss_of(idx):
        # straight through: the forward pass uses the rounded, saturated integers
        wq = weight + (weight.round().clamp(c.r_min, c.r_max) - weight).detach()
        bq = bias + (bias.round().clamp(c.b_min, c.b_max) - bias).detach()
        logits = (data.matrix(idx, c.count_shift) @ wq + bq) * scale
        return F.cross_entropy(logits, data.target[idx])

    done = [0]

    def passed():
        done[0] += 1
        progress(done[0] / epochs)

    adam_minibatches([weight, bias], loss_of, rows, epochs=epochs, batch=batch, lr=lr,
                     generator=torch.Generator().manual_seed(seed),
                     progress=passed if progress is not None else None)
    with torch.no_grad():
        wi = weight.round().clamp(c.r_min, c.r_max).to(torch.int64).numpy()
        bi = bias.round().clamp(c.b_min, c.b_max).to(torch.int64).numpy()
    n = c.neurons
    w = model.weights
    weights = replace(w, w_cnt=wi[:n].T.astype(w.w_cnt.dtype), w_mem=wi[n:].T.astype(w.w_mem.dtype),
                      bias=bi.astype(w.bias.dtype))
    return SpikingModel(c, model.vocab, weights, model.meta)


def tune_readout(model: SpikingModel, train_ids: np.ndarray, *, epochs: int = 2,
                 lr: float = 0.05, batch: int = 1024, seed: int = 0, streams: int = 32,
                 log=print, progress=None) -> tuple[SpikingModel, dict]:
    """The readout pass (see the module's doc) over the training split ``train_ids``.

    Returns the model, with its readout tuned on the whole split if that helped on the
    held-out end, else unchanged, and a record of the pass (also put in the model's meta
    under ``"readout_pass"``). ``progress(stage, fraction)``, if given, follows its three
    stages: ``"features"``, ``"tune"`` (without the held-out end), ``"tune all"``.
    """

    def stage(name):
        return None if progress is None else (lambda frac: progress(name, frac))

    if epochs < 1 or not lr > 0 or batch < 1:
        raise ModelError(f"the readout pass needs epochs >= 1, lr > 0 and batch >= 1, got "
                         f"{epochs}, {lr!r} and {batch}")
    dev = dev_split(train_ids)
    if dev < 1:
        raise ModelError(f"the training split ({len(train_ids)} characters) is too short to "
                         "hold out an end for the readout pass")
    t0 = time.monotonic()
    feats = stage("features")
    data = integer_features(model, train_ids, streams=streams,
                            progress=feats and (lambda done, total: feats(done / total)))
    cut = len(data) - dev           # positions whose target lies in the held-out end start here
    log(f"readout pass: features of {len(data):,} positions ({time.monotonic() - t0:.0f} s)")
    held = slice(cut, None)
    before = readout_bpc(model, data, held)
    trial = _tuned(model, data, cut, epochs=epochs, lr=lr, batch=batch, seed=seed,
                   progress=stage("tune"))
    after = readout_bpc(trial, data, held)
    record = {"epochs": epochs, "lr": lr, "batch": batch, "seed": seed,
              "dev_chars": dev, "dev_bpc_before": round(before, 4),
              "dev_bpc_after": round(after, 4), "applied": after < before}
    if record["applied"]:
        weights = _tuned(model, data, len(data), epochs=epochs, lr=lr, batch=batch,
                         seed=seed, progress=stage("tune all")).weights
        log(f"readout pass: held-out BPC {before:.4f} -> {after:.4f} tuned without it; "
            f"readout tuned on all {len(data):,} positions")
    else:
        weights = model.weights
        log(f"readout pass: held-out BPC {before:.4f} -> {after:.4f}, no gain; readout kept")
    record["seconds"] = round(time.monotonic() - t0)
    return SpikingModel(model.config, model.vocab, weights,
                        {**model.meta, "readout_pass": record}), record
