"""The integer golden model: the bit-exact definition of what the accelerator computes.

Everything here is integer arithmetic on PyTorch integer tensors, in the order that
``model/SPEC.md`` states rule by rule. The hardware, its simulation and every host back-end
are checked against this file; nothing else in the project re-implements these rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .errors import ModelError
from .modelfile import SpikingModel

__all__ = [
    "GoldenModel", "State", "TokenResult", "SequenceResult", "Lfsr32", "gumbel_table",
    "temperature_to_fixed", "seed_to_state", "LFSR_TAPS", "readout_ops",
]

#: Galois LFSR feedback mask for x^32 + x^22 + x^2 + x + 1 (a maximal-length polynomial).
LFSR_TAPS = 0x80200003
#: Bits per Gumbel draw; the table has ``2**GUMBEL_INDEX_BITS`` entries.
GUMBEL_INDEX_BITS = 8


def seed_to_state(seed: int) -> int:
    """Map any integer seed to a non-zero 32-bit LFSR state: ``seed mod (2**32 - 1) + 1``."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ModelError(f"seed must be an integer, not {seed!r}")
    return seed % 0xFFFFFFFF + 1


class Lfsr32:
    """32-bit Galois LFSR shifting right; each step outputs the bit shifted out.

    One step: ``out = s & 1; s >>= 1; if out: s ^= LFSR_TAPS``. A draw of ``k`` bits takes ``k``
    steps, the first output bit becoming the most significant bit of the draw.
    """

    __slots__ = ("state",)

    def __init__(self, state: int):
        if not 0 < state < 1 << 32:
            raise ModelError(f"LFSR state must be in [1, 2**32 - 1], not {state}")
        self.state = state

    def draw(self, bits: int = GUMBEL_INDEX_BITS) -> int:
        s = self.state
        u = 0
        for _ in range(bits):
            out = s & 1
            s >>= 1
            if out:
                s ^= LFSR_TAPS
            u = (u << 1) | out
        self.state = s
        return u


def gumbel_table(frac_bits: int) -> np.ndarray:
    """The 256-entry Gumbel table: ``round(2**frac_bits * -ln(-ln((u + 0.5) / 256)))``.

    Rounding is half away from zero; entries are int32 (at most 11 + ``frac_bits`` bits signed).
    """
    n = 1 << GUMBEL_INDEX_BITS
    out = np.empty(n, dtype=np.int32)
    for u in range(n):
        g = -math.log(-math.log((u + 0.5) / n)) * (1 << frac_bits)
        out[u] = int(math.floor(abs(g) + 0.5)) * (1 if g >= 0 else -1)
    return out


def temperature_to_fixed(temperature: float, frac_bits: int) -> int:
    """``round(temperature * 2**frac_bits)`` as an unsigned 15-bit value; 0 means argmax."""
    if not isinstance(temperature, (int, float)) or isinstance(temperature, bool) \
            or not math.isfinite(temperature) or temperature < 0:
        raise ModelError(f"temperature must be a finite number >= 0, not {temperature!r}")
    q = int(math.floor(temperature * (1 << frac_bits) + 0.5))
    if temperature > 0 and q == 0:
        raise ModelError(
            f"temperature {temperature} is below the smallest step 2**-{frac_bits}; "
            "use 0 for argmax"
        )
    if q >= 1 << 15:
        raise ModelError(f"temperature must be below {(1 << 15) / (1 << frac_bits)}, "
                         f"not {temperature}")
    return q


@dataclass
class State:
    """Network state of ``B`` independent streams.

    Attributes
    ----------
    v : torch.Tensor
        ``(B, N)`` int32 membrane potentials, within the configured signed range.
    spikes : torch.Tensor
        ``(B, N)`` bool spikes of the last time step, delivered at the next step.
    """

    v: torch.Tensor
    spikes: torch.Tensor

    def clone(self) -> State:
        return State(self.v.clone(), self.spikes.clone())


@dataclass
class TokenResult:
    """What one token did, per stream: the figures the hardware counters must reproduce."""

    logits: torch.Tensor        # (B, V) int64
    counts: torch.Tensor        # (B, N) int32 spikes per neuron in this token
    features: torch.Tensor      # (B, N) int32 membrane features
    spikes: torch.Tensor        # (B,) int64 spikes emitted
    syn_events: torch.Tensor    # (B,) int64 (source spike, target) deliveries
    readout_ops: torch.Tensor   # (B,) int64 readout multiply-accumulates
    step_spikes: torch.Tensor | None = None   # (T, B, N) bool, only when asked for


@dataclass
class SequenceResult:
    """One stream run over a sequence; per-token arrays are indexed by position."""

    logits: torch.Tensor        # (L, V) int64
    spikes: torch.Tensor        # (L,) int64
    syn_events: torch.Tensor    # (L,) int64
    readout_ops: torch.Tensor   # (L,) int64
    counts: torch.Tensor | None  # (L, N) uint8 when kept
    state: State


def readout_ops(counts: torch.Tensor, feats: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """Multiply-accumulates of the readout per character (SPEC.md section 4): ``V`` for every
    feature that is not zero, spike count or membrane feature; features of zero are skipped."""
    nnz = (counts != 0).sum(-1, dtype=torch.int64) + (feats != 0).sum(-1, dtype=torch.int64)
    return vocab_size * nnz


class GoldenModel:
    """Integer spiking language model over ``B`` independent streams.

    Parameters
    ----------
    model : SpikingModel
        Configuration, vocabulary and integer weights (already range-checked).
    """

    def __init__(self, model: SpikingModel):
        self.model = model
        c = self.cfg = model.config
        w = model.weights
        n = c.neurons
        self.vocab_size = len(model.vocab)
        # the exact sums below must fit the tensors that hold them
        step_sum = ((n << (c.weight_bits - 1 + c.recurrent_shift))
                    + (1 << (c.weight_bits - 1 + c.input_shift)) + (1 << c.membrane_bits))
        if step_sum >= 1 << 31:
            raise ModelError(f"configuration too wide: a step's exact sum can reach {step_sum}, "
                             "beyond the 32-bit arithmetic of the golden model")
        logit_sum = 2 * n * (1 << (c.readout_bits - 1)) * max(
            c.steps << c.count_shift, 1 << (c.feature_bits - 1)) + (1 << c.bias_bits)
        if logit_sum >= 1 << 53:
            raise ModelError(f"configuration too wide: a logit can reach {logit_sum}, beyond "
                             "the exactly representable 2**53")
        self.leak = torch.from_numpy(w.leak.astype(np.int32))                       # (N,)
        self.drive = torch.from_numpy(w.w_in.astype(np.int32)) << c.input_shift      # (V, N)
        dense = np.zeros((n, n), dtype=np.int32)
        if c.fanout:
            np.put_along_axis(dense, w.rec_targets.astype(np.int64),
                              w.rec_weights.astype(np.int32), axis=1)
        self.rec = torch.from_numpy(dense) << c.recurrent_shift                    # (N, N)
        self.rec_f64 = self.rec.to(torch.float64)
        # readout as one float64 product over [counts << count_shift, features]: exact, since
        # every partial sum is an integer below logit_sum < 2**53 (checked above)
        self.w_ro = torch.from_numpy(
            np.concatenate([w.w_cnt, w.w_mem], axis=1).T.astype(np.float64))     # (2N, V)
        self.bias = torch.from_numpy(w.bias.astype(np.int64))                       # (V,)
        self.gumbel = gumbel_table(c.gumbel_frac_bits)

    # -- state --------------------------------------------------------------------------------
    def init_state(self, batch: int = 1) -> State:
        """All membranes at 0, no pending spikes."""
        n = self.cfg.neurons
        return State(torch.zeros(batch, n, dtype=torch.int32),
                     torch.zeros(batch, n, dtype=torch.bool))

    def reset(self, state: State, streams=None) -> State:
        """Return ``state`` with the chosen streams (all if ``None``) back at rest."""
        out = state.clone()
        idx = slice(None) if streams is None else torch.as_tensor(streams, dtype=torch.int64)
        out.v[idx] = 0
        out.spikes[idx] = False
        return out

    # -- the per-token rules ------------------------------------------------------------------
    def _neuron_steps(self, state: State, tokens: torch.Tensor, steps_out: list | None = None):
        """Steps 1-2 of SPEC.md for one token; returns counts and synaptic events.

        ``steps_out``, if given, receives each time step's spike tensor.
        """
        c = self.cfg
        v, s = state.v, state.spikes
        drive = self.drive[tokens]
        counts = torch.zeros_like(v)
        pending = s.sum(1, dtype=torch.int64)
        for t in range(c.steps):
            # synapse phase: the previous step's spikes reach their targets now;
            # (sum w) << shift == sum (w << shift), so the shift is folded into self.rec
            syn = self._synaptic_input(s)
            if t == 0 or c.input_every_step:
                syn += drive
            # neuron phase: leak, add drive and synaptic input exactly, then saturate
            v = (v - (v >> self.leak) + syn).clamp_(c.v_min, c.v_max)
            s = v >= c.threshold
            if c.reset == "subtract":
                v = torch.where(s, v - c.threshold, v)
            else:
                v = torch.where(s, 0, v)
            counts += s
            if steps_out is not None:
                steps_out.append(s)
        # every spike but those of the last step was delivered within this token
        events = (pending + counts.sum(1, dtype=torch.int64) - s.sum(1, dtype=torch.int64))
        return State(v, s), counts, events * c.fanout

    def _synaptic_input(self, s: torch.Tensor) -> torch.Tensor:
        """``syn[b, n] = sum of rec[src, n] over spiking sources src`` (int32, exact).

        One stream adds the rows of the sources that fired (cost grows with the spikes); several
        streams use a float64 matrix product, exact because every partial sum stays far below
        2**53 (at most ``N * 2**(weight_bits - 1 + recurrent_shift)``).
        """
        if s.shape[0] == 1:
            return self.rec.index_select(0, s[0].nonzero().squeeze(1)).sum(0, keepdim=True,
                                                                           dtype=torch.int32)
        return (s.to(torch.float64) @ self.rec_f64).to(torch.int32)

    def features(self, state: State) -> torch.Tensor:
        """Membrane features: ``v >> feature_shift`` saturated to ``feature_bits``."""
        c = self.cfg
        return (state.v >> c.feature_shift).clamp_(c.f_min, c.f_max)

    def readout(self, counts: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        """Integer logits ``bias + W_cnt (counts << count_shift) + W_mem feats`` (int64)."""
        c = self.cfg
        return self.readout_vector(torch.cat([counts.to(torch.float64) * (1 << c.count_shift),
                                              feats.to(torch.float64)], dim=-1))

    def readout_vector(self, x: torch.Tensor) -> torch.Tensor:
        """Integer logits ``bias + W x`` of readout vectors ``x`` ``(..., 2N)``: the spike
        counts already shifted left by ``count_shift``, then the membrane features (int64)."""
        return self.bias + (x.to(torch.float64) @ self.w_ro).to(torch.int64)

    def readout_ops(self, counts: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        """Multiply-accumulates of the readout (:func:`readout_ops`)."""
        return readout_ops(counts, feats, self.vocab_size)

    def step(self, state: State, tokens, *, keep_steps: bool = False
             ) -> tuple[State, TokenResult]:
        """Feed one token per stream; return the new state and what the token did.

        ``keep_steps`` also returns the spikes of every time step (``step_spikes``).
        """
        tokens = self._check_tokens(tokens)
        if tokens.shape[0] != state.v.shape[0]:
            raise ModelError(f"expected {state.v.shape[0]} tokens (one per stream), "
                             f"got {tokens.shape[0]}")
        steps = [] if keep_steps else None
        new, counts, events = self._neuron_steps(state, tokens, steps)
        feats = self.features(new)
        logits = self.readout(counts, feats)
        return new, TokenResult(logits=logits, counts=counts, features=feats,
                                spikes=counts.sum(1).to(torch.int64), syn_events=events,
                                readout_ops=self.readout_ops(counts, feats),
                                step_spikes=torch.stack(steps) if keep_steps else None)

    def run(self, ids, state: State | None = None, *, keep_counts: bool = False,
            progress=None) -> SequenceResult:
        """Run one stream over ``ids`` (state carried), returning the logits at every position.

        ``progress``, if given, is called with the number of tokens done so far.
        """
        ids = self._check_tokens(ids)
        if state is None:
            state = self.init_state(1)
        if state.v.shape[0] != 1:
            raise ModelError(f"run() takes one stream, got a state of {state.v.shape[0]}")
        n_tok = ids.shape[0]
        c = self.cfg
        counts_all = torch.empty(n_tok, c.neurons, dtype=torch.uint8)
        feats_all = torch.empty(n_tok, c.neurons, dtype=torch.int16)
        events = torch.empty(n_tok, dtype=torch.int64)
        with torch.inference_mode():
            for i in range(n_tok):
                state, counts, ev = self._neuron_steps(state, ids[i : i + 1])
                counts_all[i] = counts[0]
                feats_all[i] = self.features(state)[0]
                events[i] = ev[0]
                if progress is not None and (i + 1) % 1024 == 0:
                    progress(i + 1)
            logits = torch.cat([
                self.readout(counts_all[j : j + 4096], feats_all[j : j + 4096])
                for j in range(0, n_tok, 4096)
            ]) if n_tok else torch.zeros(0, self.vocab_size, dtype=torch.int64)
        if progress is not None:
            progress(n_tok)
        return SequenceResult(
            logits=logits, spikes=counts_all.sum(1, dtype=torch.int64), syn_events=events,
            readout_ops=self.readout_ops(counts_all, feats_all),
            counts=counts_all if keep_counts else None, state=state)

    # -- sampling -----------------------------------------------------------------------------
    def scores(self, logits: torch.Tensor, temperature_q: int, rng: Lfsr32 | None) -> list[int]:
        """The sampler's scores for one stream's integer logits ``(V,)`` (SPEC.md section 5).

        ``temperature_q == 0``: the logits themselves, no draws. Otherwise, for ids
        ``0 .. V-1`` in order, draw ``u`` (8 LFSR bits) and add
        ``floor(temperature_q * G[u] * 2**(logit_frac_bits - temperature_frac_bits -
        gumbel_frac_bits))``.
        """
        c = self.cfg
        out = [int(x) for x in logits.tolist()]
        if temperature_q:
            if rng is None:
                raise ModelError("temperature sampling needs a random generator state")
            sh = c.temperature_frac_bits + c.gumbel_frac_bits - c.logit_frac_bits
            for k in range(len(out)):
                p = temperature_q * int(self.gumbel[rng.draw()])
                out[k] += p >> sh if sh >= 0 else p << -sh
        return out

    def sample(self, logits: torch.Tensor, temperature_q: int, rng: Lfsr32 | None) -> int:
        """The next character id: the first id with the largest score (ties: lowest id)."""
        sc = self.scores(logits, temperature_q, rng)
        best = 0
        for k in range(1, len(sc)):
            if sc[k] > sc[best]:
                best = k
        return best

    def generate(self, prompt_ids, max_new_tokens: int, *, temperature: float = 0.0,
                 seed: int = 0, totals: dict | None = None):
        """Feed the prompt, then sample ``max_new_tokens`` ids, each fed back as the next input.

        A generator: yields each sampled id as soon as it is chosen. If ``totals`` is given,
        the counters of every token fed (prompt and generated; the last sampled id is never
        fed) are added to it under ``tokens``, ``spikes``, ``syn_events``, ``readout_ops``.
        Random draws are made only for sampled ids, never for the prompt.
        """
        prompt_ids = self._check_tokens(prompt_ids)
        if prompt_ids.shape[0] == 0:
            raise ModelError("the prompt must have at least one character")
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) \
                or max_new_tokens < 0:
            raise ModelError(f"max_new_tokens must be an integer >= 0, not {max_new_tokens!r}")
        tq = temperature_to_fixed(temperature, self.cfg.temperature_frac_bits)
        rng = Lfsr32(seed_to_state(seed))
        return self._generate(prompt_ids.tolist(), max_new_tokens, tq, rng,
                              totals if totals is not None else {})

    def _generate(self, fed: list[int], count: int, tq: int, rng: Lfsr32, totals: dict):
        for key in ("tokens", "spikes", "syn_events", "readout_ops"):
            totals.setdefault(key, 0)
        st = self.init_state(1)
        produced = 0
        i = 0
        with torch.inference_mode():
            while produced < count:
                st, res = self.step(st, torch.tensor([fed[i]]))
                totals["tokens"] += 1
                totals["spikes"] += int(res.spikes[0])
                totals["syn_events"] += int(res.syn_events[0])
                totals["readout_ops"] += int(res.readout_ops[0])
                i += 1
                if i < len(fed):
                    continue
                nxt = self.sample(res.logits[0], tq, rng)
                produced += 1
                fed.append(nxt)
                yield nxt

    # -- helpers ------------------------------------------------------------------------------
    def dense_ops_per_token(self) -> dict[str, int]:
        """Operations a dense (non-event-driven) evaluation needs per token."""
        c = self.cfg
        return {
            "synaptic": c.steps * c.neurons * c.fanout,
            "neuron_updates": c.steps * c.neurons,
            "readout": self.vocab_size * 2 * c.neurons,
        }

    def _check_tokens(self, tokens) -> torch.Tensor:
        t = torch.as_tensor(tokens)
        if t.numel() == 0:
            t = t.to(torch.int64)
        if t.dim() == 0:
            t = t.reshape(1)
        if t.dim() != 1 or t.dtype.is_floating_point or t.dtype == torch.bool:
            raise ModelError(
                f"tokens must be a 1-D integer sequence, got {t.dtype} {tuple(t.shape)}")
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= self.vocab_size):
            bad = int(t.min()) if int(t.min()) < 0 else int(t.max())
            raise ModelError(f"token id {bad} is outside the vocabulary [0, {self.vocab_size})")
        return t.to(torch.int64)
