"""A plain-Python reference of SPEC.md, written from the document, for property tests.

Slow (lists and ints), deliberately independent of ``golden.py``: no tensors, no shared code.
"""

from __future__ import annotations

import math


def sat(x, lo, hi):
    return lo if x < lo else hi if x > hi else x


class RefModel:
    def __init__(self, cfg, weights, vocab_size):
        self.c = cfg
        self.w = weights
        self.V = vocab_size
        self.N = cfg.neurons
        self.v = [0] * self.N
        self.pending = []  # ids that spiked in the last step

    def token(self, x):
        c, w, N = self.c, self.w, self.N
        vmin, vmax = -(1 << (c.membrane_bits - 1)), (1 << (c.membrane_bits - 1)) - 1
        counts = [0] * N
        events = 0
        for t in range(c.steps):
            acc = [0] * N
            for s in self.pending:
                for j in range(c.fanout):
                    acc[int(w.rec_targets[s][j])] += int(w.rec_weights[s][j])
                    events += 1
            spiking = []
            for n in range(N):
                v = self.v[n]
                k = int(w.leak[n])
                leak = v // (1 << k)  # floor division: rounds toward -inf
                drive = int(w.w_in[x][n]) * (1 << c.input_shift) \
                    if (t == 0 or c.input_every_step) else 0
                u = sat(v - leak + drive + acc[n] * (1 << c.recurrent_shift), vmin, vmax)
                if u >= c.threshold:
                    u = u - c.threshold if c.reset == "subtract" else 0
                    counts[n] += 1
                    spiking.append(n)
                self.v[n] = u
            self.pending = spiking
        fmin, fmax = -(1 << (c.feature_bits - 1)), (1 << (c.feature_bits - 1)) - 1
        if c.membrane_feature == "rectified":
            fmin = 0
        fm = [sat(v // (1 << c.feature_shift), fmin, fmax) for v in self.v]
        logits = []
        for y in range(self.V):
            acc = int(w.bias[y])
            for n in range(N):
                acc += int(w.w_cnt[y][n]) * counts[n] * (1 << c.count_shift)
                acc += int(w.w_mem[y][n]) * fm[n]
            logits.append(acc)
        ro = self.V * (sum(1 for k in counts if k) + sum(1 for f in fm if f))
        return logits, counts, fm, events, ro


class RefLfsr:
    """x^32 + x^22 + x^2 + x + 1, Galois form, shifting right."""

    def __init__(self, seed):
        self.s = seed % (2**32 - 1) + 1

    def bit(self):
        out = self.s & 1
        self.s >>= 1
        if out:
            self.s ^= (1 << 31) | (1 << 21) | (1 << 1) | 1
        return out

    def draw8(self):
        u = 0
        for _ in range(8):
            u = 2 * u + self.bit()
        return u


def ref_gumbel(u, frac):
    g = -math.log(-math.log((u + 0.5) / 256)) * 2**frac
    return int(math.copysign(math.floor(abs(g) + 0.5), g))


def ref_scores(cfg, logits, tq, lfsr):
    scores = list(logits)
    if tq:
        for y in range(len(scores)):
            num = tq * ref_gumbel(lfsr.draw8(), cfg.gumbel_frac_bits) * 2**cfg.logit_frac_bits
            scores[y] += num // 2 ** (cfg.temperature_frac_bits + cfg.gumbel_frac_bits)
    return scores


def ref_sample(cfg, logits, tq, lfsr):
    scores = ref_scores(cfg, logits, tq, lfsr)
    return max(range(len(scores)), key=lambda y: (scores[y], -y))
