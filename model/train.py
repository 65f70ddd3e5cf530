"""Training: surrogate-gradient BPTT (float, then quantization-aware), export to integers."""

from __future__ import annotations

import math
import time
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F

from .config import MAX_LOGIT_FRAC_BITS, ModelConfig, TrainConfig
from .errors import ModelError
from .readout_pass import dev_split
from .surrogate import SurrogateSNN

__all__ = ["clip_gradients", "random_targets", "select_logit_frac_bits", "train_surrogate",
           "stream_batches", "surrogate_bpc"]

LN2 = math.log(2.0)


def random_targets(neurons: int, fanout: int, generator: torch.Generator) -> torch.Tensor:
    """``(N, F)`` distinct, sorted, non-self targets per source (self allowed if F == N)."""
    rows = []
    for s in range(neurons):
        scores = torch.rand(neurons, generator=generator)
        if fanout < neurons:
            scores[s] = 2.0  # never chosen: no self-connection
        rows.append(torch.sort(torch.argsort(scores)[:fanout]).values)
    if not rows or fanout == 0:
        return torch.zeros(neurons, 0, dtype=torch.int64)
    return torch.stack(rows)


def stream_batches(ids: np.ndarray, batch: int, seq_len: int, offset: int = 0):
    """Yield ``(x, y)`` of shape ``(batch, seq_len)``: ``batch`` contiguous streams, in order.

    With ``offset`` the text is read as if it began ``offset`` characters in (its start
    joined to its end), so the streams and the batch boundaries fall elsewhere.
    """
    if offset:
        ids = np.roll(ids, -offset)
    per = (len(ids) - 1) // batch
    data = torch.from_numpy(ids[: per * batch + 1].astype(np.int64))
    x_all = torch.stack([data[i * per : (i + 1) * per] for i in range(batch)])
    y_all = torch.stack([data[i * per + 1 : (i + 1) * per + 1] for i in range(batch)])
    for j in range(0, per - seq_len + 1, seq_len):
        yield x_all[:, j : j + seq_len], y_all[:, j : j + seq_len]


@torch.no_grad()
def surrogate_bpc(net: SurrogateSNN, ids: np.ndarray, *, streams: int = 16, seq_len: int = 128,
                  readout_mask: str = "hybrid") -> tuple[float, float]:
    """Quick BPC estimate: ``streams`` contiguous streams, each starting from rest."""
    state = net.init_state(streams)
    tot, n, rate_sum, k = 0.0, 0, 0.0, 0
    for x, y in stream_batches(ids, streams, seq_len):
        logits, state, rate = net(x, state, readout_mask=readout_mask)
        tot += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1),
                               reduction="sum").item()
        n += y.numel()
        rate_sum += rate.item()
        k += 1
    return tot / max(n, 1) / LN2, rate_sum / max(k, 1)


@torch.no_grad()
def select_logit_frac_bits(net: SurrogateSNN, dev_ids: np.ndarray, *, finer: int = 3,
                           log=print) -> int:
    """Choose the readout's logit scale by the rounded network's BPC on ``dev_ids``.

    The candidates start at the largest scale at which 99.9 % of the readout weights fit
    their integer range (:meth:`SurrogateSNN.choose_logit_frac_bits`) and go up to ``finer``
    steps finer, where more weights saturate and the rest round more finely; the bias must
    still fit. The scale of the lowest BPC wins (the coarser one on a tie); the network is
    left at that scale.
    """
    mode = net.mode
    net.mode = "qat"
    base = net.choose_logit_frac_bits()
    scores = {}
    for lf in range(base, min(base + finer, MAX_LOGIT_FRAC_BITS) + 1):
        if lf == base or net.bias_fits(lf):
            net.logit_frac_bits = lf
            scores[lf] = surrogate_bpc(net, dev_ids)[0]
    best = min(scores, key=lambda lf: (scores[lf], lf))
    net.logit_frac_bits = best
    net.mode = mode
    log("readout scale: " + ", ".join(f"logit_frac_bits {lf} dev {b:.3f}"
                                      for lf, b in scores.items()) + f"; chosen {best}")
    return best


def clip_gradients(groups: list[dict], how: str, max_norm: float = 1.0) -> None:
    """Clip the gradient norm of all ``groups`` together (``"global"``) or of each group
    apart (``"per_group"``): then a burst of recurrent gradients (they can grow through the
    spike steps by orders of magnitude) does not scale the readout's gradient to nothing."""
    sets = [[p for g in groups for p in g["params"]]] if how == "global" else \
        [g["params"] for g in groups]
    for params in sets:
        if params:
            torch.nn.utils.clip_grad_norm_(params, max_norm)


def train_surrogate(cfg: ModelConfig, tcfg: TrainConfig, train_ids: np.ndarray,
                    vocab_size: int, *, log=print, progress=None):
    """Train and return the surrogate network (in QAT mode if ``qat_minutes > 0``).

    The end of ``train_ids`` (a tenth, at most 16,384 characters: :func:`dev_split`) is held
    out to pick the best point of each phase; the validation split is never seen.

    The recurrent mask is drawn from ``tcfg.seed``. With ``recipe == "reservoir"`` only the
    readout is trained (the original recipe); input and recurrent weights stay random.
    """
    need = tcfg.batch * (tcfg.seq_len + 1) + 1
    if len(train_ids) < need:
        raise ModelError(f"training text has {len(train_ids)} characters; batch {tcfg.batch} x "
                         f"seq_len {tcfg.seq_len} needs at least {need}")
    torch.manual_seed(tcfg.seed)
    g = torch.Generator().manual_seed(tcfg.seed)
    targets = random_targets(cfg.neurons, cfg.fanout, g)
    net = SurrogateSNN(cfg, vocab_size, targets, init_scale=tcfg.init_scale, generator=g,
                       slope=tcfg.surrogate_slope, damping=tcfg.surrogate_damping)
    # unigram prior as the initial bias
    counts = np.bincount(train_ids, minlength=vocab_size).astype(np.float64) + 1.0
    with torch.no_grad():
        net.b_real.copy_(torch.from_numpy(np.log(counts / counts.sum())).float())
    if tcfg.recipe == "reservoir":
        net.p_in.requires_grad_(False)
        net.p_rec.requires_grad_(False)
    # model selection uses the end of the training split, never the validation split
    dev_len = dev_split(train_ids)
    dev_ids = train_ids[len(train_ids) - dev_len :]
    train_ids = train_ids[: len(train_ids) - dev_len]
    # the training steps may run compiled (each mode compiles on its first step, inside the
    # phase's time budget); evaluations run the network as it is
    step_net = torch.compile(net) if tcfg.compile else net
    phases = [("float", tcfg.float_minutes, tcfg.lr), ("qat", tcfg.qat_minutes, tcfg.lr_qat)]
    history = []
    step = 0
    for mode, minutes, lr in phases:
        if minutes <= 0:
            continue
        net.mode = mode
        if mode == "qat":
            select_logit_frac_bits(net, dev_ids, log=log)
        params = [p for p in net.parameters() if p.requires_grad]
        readout = {id(p) for p in (net.p_cnt, net.p_mem, net.b_real)}
        groups = [
            {"params": [p for p in params if id(p) not in readout], "scale": 1.0},
            {"params": [p for p in params if id(p) in readout], "scale": tcfg.readout_lr_scale},
        ]
        opt = torch.optim.Adam([g for g in groups if g["params"]], lr=lr)
        deadline = time.monotonic() + 60.0 * minutes
        t0 = time.monotonic()
        state = net.init_state(tcfg.batch)
        best = (float("inf"), None)
        epoch = 0
        k = 0
        done = False
        offsets = np.random.default_rng(tcfg.seed)
        while not done:
            offset = int(offsets.integers(len(train_ids))) if tcfg.epoch_offset and epoch else 0
            for x, y in stream_batches(train_ids, tcfg.batch, tcfg.seq_len, offset):
                frac = min(1.0, (time.monotonic() - t0) / (60.0 * minutes))
                k += 1
                for group in opt.param_groups:  # warm-up, then cosine decay over the budget
                    group["lr"] = lr * group["scale"] * min(1.0, k / 50) * (
                        0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac)))
                logits, state, rate = step_net(x, state, dropout=tcfg.feature_dropout)
                state = net.detach_state(state)
                ce = F.cross_entropy(logits.reshape(-1, vocab_size), y.reshape(-1))
                loss = ce + tcfg.rate_penalty * F.relu(rate - tcfg.rate_target) ** 2 * 100
                opt.zero_grad(set_to_none=True)
                loss.backward()
                clip_gradients(groups, tcfg.clip)
                opt.step()
                with torch.no_grad():
                    net.p_rec.mul_(net.mask)
                step += 1
                if progress is not None:
                    progress(mode, frac, ce.item() / LN2, rate.item())
                if step % tcfg.eval_every == 0:
                    bpc, vrate = surrogate_bpc(net, dev_ids)
                    history.append((mode, step, bpc, vrate))
                    log(f"[{mode}] step {step} epoch {epoch} train {ce.item() / LN2:.3f} "
                        f"dev {bpc:.3f} rate {vrate:.3f} ({time.monotonic() - t0:.0f}s)")
                    if bpc < best[0]:
                        best = (bpc, {k: v.clone() for k, v in net.state_dict().items()})
                    elif bpc > best[0] + tcfg.rollback_bpc and best[1] is not None:
                        # diverged: return to the best point with a fresh optimiser, half lr
                        lr *= 0.5
                        log(f"[{mode}] dev BPC {bpc:.3f} is {bpc - best[0]:.2f} above the best; "
                            f"rolling back, learning rate now {lr:.2e}")
                        net.load_state_dict(best[1])
                        opt = torch.optim.Adam([g for g in groups if g["params"]], lr=lr)
                        state = net.init_state(tcfg.batch)
                if time.monotonic() >= deadline or (tcfg.max_steps and step >= tcfg.max_steps):
                    done = True
                    break
            epoch += 1
        # keep the phase's best point on the held-out end of the training split
        bpc, _ = surrogate_bpc(net, dev_ids)
        if best[1] is not None and best[0] < bpc:
            log(f"[{mode}] restoring the best dev point ({best[0]:.3f} < {bpc:.3f})")
            net.load_state_dict(best[1])
    net.history = history
    return net


def export_config(net: SurrogateSNN) -> ModelConfig:
    """The trained model's configuration: the training one with the chosen logit scale."""
    return replace(net.cfg, logit_frac_bits=net.logit_frac_bits)


def export_weights(net: SurrogateSNN):
    """Round the surrogate's weights to the integer model's (what QAT mode computes with)."""
    from .modelfile import IntWeights

    mode = net.mode
    net.mode = "qat"
    with torch.no_grad():
        w_in, w_rec, w_cnt, w_mem, b = (t.round().to(torch.int64) for t in net.int_weights())
    net.mode = mode
    targets = net.targets
    rec_w = torch.gather(w_rec, 1, targets) if targets.shape[1] else targets
    return IntWeights(
        w_in=w_in.numpy().astype(np.int8),
        leak=net.leak.numpy().astype(np.uint8),
        rec_targets=targets.numpy().astype(np.uint16),
        rec_weights=rec_w.numpy().astype(np.int8),
        w_cnt=w_cnt.numpy().astype(np.int16),
        w_mem=w_mem.numpy().astype(np.int16),
        bias=b.numpy().astype(np.int32),
    )
