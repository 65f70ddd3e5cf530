"""Baselines: count-based n-gram models and small networks trained end to end.

The networks (GRU, LSTM, a feed-forward net over a context window) are sized to a budget
of weight memory in bits and trained with truncated back-propagation through time over
contiguous streams, state carried, then evaluated streaming on held-out text.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["KneserNey", "CharRNN", "ContextMLP", "size_for_budget", "train_network",
           "eval_network", "macs_per_char", "quantize_params", "main"]

LN2 = math.log(2.0)


class KneserNey:
    """Interpolated Kneser-Ney character model of a given order, absolute discount ``d``.

    The highest order uses raw counts, the lower orders continuation counts (the number of
    distinct characters seen before the n-gram); the unigram level is interpolated with the
    uniform distribution, so every character has a non-zero probability.
    """

    def __init__(self, ids: np.ndarray, vocab_size: int, order: int, d: float = 0.75):
        if order < 1:
            raise ValueError(f"n-gram order must be at least 1, not {order}")
        self.v, self.order, self.d = vocab_size, order, d
        ids = np.asarray(ids, dtype=np.int64)
        self.tables = []   # per length k = 1..order: (keys, counts, ctx keys, ctx sums, types)
        raw_next = None
        for k in range(order, 0, -1):
            keys = self._keys(ids, k)
            uk, cnt = np.unique(keys, return_counts=True)
            if k < order:   # continuation counts: distinct left extensions of each k-gram
                uk, cnt = np.unique(raw_next % self.v ** k, return_counts=True)
            raw_next = uk
            ctx, inv = np.unique(uk // self.v, return_inverse=True)
            sums = np.bincount(inv, weights=cnt).astype(np.float64)
            types = np.bincount(inv).astype(np.float64)
            self.tables.append((uk, cnt.astype(np.float64), ctx, sums, types))
        self.tables.reverse()
        self.entries = sum(len(t[0]) for t in self.tables)

    def _keys(self, ids: np.ndarray, k: int) -> np.ndarray:
        n = len(ids) - k + 1
        key = np.zeros(max(n, 0), dtype=np.int64)
        for j in range(k):
            key = key * self.v + ids[j : j + n]
        return key

    @staticmethod
    def _lookup(keys, table_keys, values):
        pos = np.searchsorted(table_keys, keys).clip(0, max(len(table_keys) - 1, 0))
        hit = table_keys[pos] == keys if len(table_keys) else np.zeros(len(keys), bool)
        return np.where(hit, values[pos] if len(values) else 0.0, 0.0)

    def probs(self, ids: np.ndarray) -> np.ndarray:
        """Probability of ``ids[i]`` given up to ``order - 1`` characters before it, for every
        ``i >= 1`` (the first positions back off to shorter contexts)."""
        ids = np.asarray(ids, dtype=np.int64)
        tgt = np.arange(1, len(ids))
        p = np.full(len(tgt), 1.0 / self.v)
        for k in range(1, self.order + 1):
            uk, cnt, ctx, sums, types = self.tables[k - 1]
            have = tgt - (k - 1) >= 0
            key = np.zeros(len(tgt), dtype=np.int64)
            for j in range(k - 1, -1, -1):
                key = key * self.v + np.where(have, ids[np.maximum(tgt - j, 0)], 0)
            c = self._lookup(key, uk, cnt)
            ck = key // self.v
            s = self._lookup(ck, ctx, sums)
            ty = self._lookup(ck, ctx, types)
            new = np.where(s > 0, (np.maximum(c - self.d, 0.0) + self.d * ty * p)
                           / np.maximum(s, 1e-300), p)
            p = np.where(have, new, p)
        return p

    def bpc(self, ids: np.ndarray) -> float:
        """Bits per character of :meth:`probs` over ``ids``."""
        return float(-np.log2(self.probs(ids)).mean())


class CharRNN(nn.Module):
    """One-hot characters into a GRU or LSTM of ``hidden`` units, then a linear readout."""

    def __init__(self, kind: str, vocab_size: int, hidden: int):
        super().__init__()
        cls = {"gru": nn.GRU, "lstm": nn.LSTM}[kind]
        self.kind, self.v, self.hidden = kind, vocab_size, hidden
        self.rnn = cls(vocab_size, hidden, batch_first=True)
        self.out = nn.Linear(hidden, vocab_size)

    def forward(self, x, state=None):
        h, state = self.rnn(F.one_hot(x, self.v).float(), state)
        return self.out(h), state

    def detach(self, state):
        if state is None:
            return None
        return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


class ContextMLP(nn.Module):
    """Embeddings of the last ``context`` characters, one hidden tanh layer, a readout."""

    def __init__(self, vocab_size: int, hidden: int, context: int = 8, embed: int = 12):
        super().__init__()
        self.kind, self.v, self.hidden = "mlp", vocab_size, hidden
        self.context, self.embed_dim = context, embed
        self.embed = nn.Embedding(vocab_size, embed)
        self.hid = nn.Linear(context * embed, hidden)
        self.out = nn.Linear(hidden, vocab_size)

    def forward(self, x, state=None):
        """``x`` ``(B, L)``; ``state`` the previous ``context - 1`` ids of each stream."""
        b = x.shape[0]
        if state is None:
            state = torch.zeros(b, self.context - 1, dtype=torch.int64)
        full = torch.cat([state, x], 1)
        win = full.unfold(1, self.context, 1)                 # (B, L, context)
        h = torch.tanh(self.hid(self.embed(win).flatten(2)))
        return self.out(h), full[:, -(self.context - 1):]

    def detach(self, state):
        return state


def _params(kind: str, v: int, h: int) -> int:
    if kind == "mlp":
        return sum(p.numel() for p in ContextMLP(v, h).parameters())
    gates = {"gru": 3, "lstm": 4}[kind]
    return gates * (h * v + h * h + 2 * h) + h * v + v


def size_for_budget(kind: str, vocab_size: int, bits: int, bits_per_weight: int = 32) -> int:
    """The largest hidden size whose weights fit ``bits`` at ``bits_per_weight`` each."""
    h = 1
    while _params(kind, vocab_size, h + 1) * bits_per_weight <= bits:
        h += 1
    return h


def macs_per_char(net: nn.Module) -> int:
    """Multiply-accumulates of one character (embedding and one-hot lookups not counted)."""
    v, h = net.v, net.hidden
    if net.kind == "mlp":
        return net.context * net.embed_dim * h + h * v
    gates = {"gru": 3, "lstm": 4}[net.kind]
    return gates * h * h + h * v


def _batches(ids: torch.Tensor, batch: int, seq: int):
    per = (len(ids) - 1) // batch
    x = ids[: per * batch].view(batch, per)
    y = ids[1 : per * batch + 1].view(batch, per)
    for j in range(0, per - seq + 1, seq):
        yield x[:, j : j + seq], y[:, j : j + seq]


@dataclass
class TrainedNet:
    net: nn.Module
    params: int
    steps: int
    seconds: float
    best_step: int | None = None      # with a dev text: the step whose weights were kept
    best_dev: float | None = None     # and their dev BPC


def train_network(kind: str, vocab_size: int, hidden: int, ids: np.ndarray, *, seconds: float,
                  seed: int = 0, batch: int = 32, seq: int = 128, lr: float = 1e-2,
                  progress=None, dev: np.ndarray | None = None,
                  eval_every: int = 1000, qat_bits: int = 32,
                  qat_share: float = 0.0, per_row: bool = False) -> TrainedNet:
    """Train a baseline for a wall-clock budget on ``ids`` (streams carried across batches).

    With ``dev`` (text not in ``ids``), its BPC is measured every ``eval_every`` steps and at
    the end, and the weights of the best measurement are the ones returned.

    With ``qat_bits < 32``, the last ``qat_share`` of the budget is quantisation-aware: each
    step computes its loss and gradients with the weights rounded as :func:`quantize_params`
    rounds them and applies the gradients to the float weights (a straight-through
    estimate); from then on the dev text measures the rounded network, and only those
    measurements compete for the best. ``per_row`` is :func:`quantize_params`'s.
    """
    if not 0.0 <= qat_share <= 1.0:
        raise ValueError(f"the quantisation-aware share of the budget must be 0 to 1, not "
                         f"{qat_share}")
    qat_from = 1.0 - qat_share if qat_bits < 32 and qat_share > 0 else math.inf
    with torch.random.fork_rng(devices=[]):   # seeded initial weights, global RNG untouched
        torch.manual_seed(seed)
        net = CharRNN(kind, vocab_size, hidden) if kind in ("gru", "lstm") \
            else ContextMLP(vocab_size, hidden)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    data = torch.as_tensor(np.asarray(ids), dtype=torch.int64)
    if (len(data) - 1) // batch < seq:
        raise ValueError(f"training a baseline in batches of {batch} streams x {seq} "
                         f"characters needs at least {batch * seq + 1} characters, got "
                         f"{len(data)}")
    # each seed starts its streams at a different offset of the text
    off = (seed * 7919) % max(len(data) // 2, 1)
    data = torch.cat([data[off:], data[:off]])
    t0 = time.monotonic()
    steps, best, in_qat = 0, None, False
    while True:
        state = None
        for x, y in _batches(data, batch, seq):
            frac = min(1.0, (time.monotonic() - t0) / seconds)
            for g in opt.param_groups:
                g["lr"] = lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac)))
            if frac >= qat_from and not in_qat:
                in_qat, best = True, None      # the float phase's best is not a rounded one
            if in_qat:
                master = [p.detach().clone() for p in net.parameters()]
                quantize_params(net, qat_bits, per_row)
            logits, state = net(x, state)
            state = net.detach(state)
            loss = F.cross_entropy(logits.reshape(-1, vocab_size), y.reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if in_qat:
                with torch.no_grad():
                    for p, m in zip(net.parameters(), master, strict=True):
                        p.copy_(m)
            nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            steps += 1
            if progress is not None:
                progress(frac)
            if dev is not None and (steps % eval_every == 0 or frac >= 1.0):
                d = eval_network(quantize_params(copy.deepcopy(net), qat_bits, per_row)
                                 if in_qat else net, dev)
                if best is None or d < best[1]:
                    best = (steps, d, {k: t.clone() for k, t in net.state_dict().items()})
            if frac >= 1.0:
                sec = time.monotonic() - t0
                if best is not None:
                    net.load_state_dict(best[2])
                return TrainedNet(net, sum(p.numel() for p in net.parameters()), steps, sec,
                                  *(best[:2] if best is not None else ()))


@torch.no_grad()
def eval_network(net: nn.Module, ids: np.ndarray, chunk: int = 4096) -> float:
    """Bits per character over ``ids`` as one stream from rest."""
    x = torch.as_tensor(np.asarray(ids), dtype=torch.int64).view(1, -1)
    state, nll = None, 0.0
    for j in range(0, x.shape[1] - 1, chunk):
        xs = x[:, j : min(j + chunk, x.shape[1] - 1)]
        ys = x[:, j + 1 : j + 1 + xs.shape[1]]
        logits, state = net(xs, state)
        nll -= torch.log_softmax(logits.double(), -1).gather(2, ys.unsqueeze(-1)).sum().item()
    return nll / max(x.shape[1] - 1, 1) / LN2


@torch.no_grad()
def quantize_params(net: nn.Module, bits: int, per_row: bool = False) -> nn.Module:
    """Round every weight tensor of ``net`` in place to a signed ``bits``-bit grid.

    One scale per tensor, its largest magnitude on the largest level (``bits >= 32``: no-op);
    with ``per_row``, one scale per row of each matrix (per output unit), set by that row's
    largest magnitude, vectors (biases) still one scale each.
    """
    if bits >= 32:
        return net
    top = (1 << (bits - 1)) - 1
    for p in net.parameters():
        if per_row and p.dim() == 2:
            scale = p.abs().amax(dim=1, keepdim=True).clamp_min(1e-12) / top
        else:
            scale = p.abs().max().clamp_min(1e-12) / top
        p.copy_((p / scale).round().clamp(-top - 1, top) * scale)
    return net


def row_scales(net: nn.Module) -> int:
    """How many scales :func:`quantize_params` keeps with ``per_row``: one per matrix row and
    one per vector."""
    return sum(p.shape[0] if p.dim() == 2 else 1 for p in net.parameters())


def main(argv=None) -> int:
    """``python -m snnfpga.bench.baselines``: one baseline network at a model's weight memory,
    trained for longer than the benchmark's fixed time if asked."""
    import argparse
    import sys

    from tqdm import tqdm

    from ..model.data import read_text, split_text
    from ..model.readout_pass import dev_split
    from ..sw_driver.api import load
    from .suite import budget_bits

    ap = argparse.ArgumentParser(
        prog="python -m snnfpga.bench.baselines",
        description="Train one baseline network sized to the weight memory of a spiking model "
                    "(input, recurrent, readout weights and bias, as `snnfpga bench` sizes "
                    "them) on the training split, then print its validation BPC in float and "
                    "with its weights rounded to --bits.")
    ap.add_argument("--text", required=True)
    ap.add_argument("--model", default=None, help="model file (default: the shipped model)")
    ap.add_argument("--kind", choices=("gru", "lstm", "mlp"), default="lstm")
    ap.add_argument("--bits", type=int, default=8,
                    help="bits a weight, for the size and the rounding (default 8; 32: float)")
    ap.add_argument("--seconds", type=float, default=60.0,
                    help="training time (default 60, the benchmark's)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--keep-best", type=int, default=0, metavar="K",
                    help="hold out the end of the training split (as snnfpga train does), "
                         "measure it every K steps and keep the best weights (default 0: "
                         "train on the whole split, keep the last weights, as the benchmark)")
    ap.add_argument("--qat", type=float, default=0.0, metavar="SHARE",
                    help="train the last SHARE of the time (0 to 1) quantisation-aware, with "
                         "the weights rounded to --bits in every step (default 0: rounded "
                         "after training only, as the benchmark)")
    ap.add_argument("--per-row", action="store_true",
                    help="round with one scale per matrix row (per output unit) instead of one "
                         "per tensor; the scales are not counted in the weight budget, and the "
                         "command prints how many there are")
    args = ap.parse_args(argv)
    if not 2 <= args.bits <= 32 or args.seconds <= 0 or args.keep_best < 0:
        ap.error(f"--bits must be 2 to 32, --seconds positive and --keep-best not negative, "
                 f"not {args.bits}, {args.seconds} and {args.keep_best}")
    if (args.qat or args.per_row) and args.bits >= 32:  # --qat's range is train_network's
        ap.error(f"--qat and --per-row need --bits below 32, not {args.bits}")
    if args.threads:
        torch.set_num_threads(args.threads)
    model = load(args.model)
    text = read_text(args.text)
    train = model.vocab.encode(split_text(text, "train"))
    val = model.vocab.encode(split_text(text, "val"))
    dev = None
    if args.keep_best:
        cut = len(train) - dev_split(train)
        train, dev = train[:cut], train[cut:]
    budget = budget_bits(model)
    v = len(model.vocab)
    h = size_for_budget(args.kind, v, budget, args.bits)
    print(f"{args.kind}, {h} units, {_params(args.kind, v, h):,} weights of {args.bits} bits "
          f"(budget {budget:,} bits); {args.seconds:.0f} s of training"
          + (f", the last {args.qat:.0%} quantisation-aware, " if args.qat else ", ")
          + f"{torch.get_num_threads()} thread{'s' if torch.get_num_threads() != 1 else ''}")
    try:
        with tqdm(total=100, desc="train", unit="%", file=sys.stderr, leave=False) as bar:
            tn = train_network(args.kind, v, h, train, seconds=args.seconds, seed=args.seed,
                               progress=lambda f: bar.update(int(100 * f) - bar.n), dev=dev,
                               eval_every=args.keep_best or 1000, qat_bits=args.bits,
                               qat_share=args.qat, per_row=args.per_row)
    except ValueError as e:         # a training split too short for one batch, a bad --qat
        ap.error(str(e))
    flt = eval_network(tn.net, val)
    quantize_params(tn.net, args.bits, args.per_row)
    if args.per_row:
        print(f"  scales              {row_scales(tn.net):,}, one a row (outside the budget)")
    print(f"  training steps      {tn.steps:,} ({tn.seconds:.0f} s)")
    if dev is not None:
        print(f"  kept                step {tn.best_step:,}, dev BPC {tn.best_dev:.4f} (the "
              f"last {len(dev):,} characters of the training split)")
    print(f"  validation BPC      float {flt:.4f}"
          + (f", int{args.bits} {eval_network(tn.net, val):.4f}" if args.bits < 32 else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
