"""What the core must produce for a command sequence, computed by the golden model.

A command sequence is a list of :class:`Command`; :func:`expected_trace` runs it through
``snnfpga.model.golden.GoldenModel`` and returns, per ``TOKEN``, everything the hardware
reports: the logits, the sampled id, the spike count of every neuron, and the per-token
increments of the counters. Every co-simulation (Amaranth's simulator, cocotb + Verilator)
and every host back-end compares against this one function.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..model.golden import GoldenModel, Lfsr32, seed_to_state
from ..model.modelfile import SpikingModel

__all__ = ["Command", "TokenTrace", "Trace", "expected_trace", "random_commands",
           "first_mismatch"]


@dataclass(frozen=True)
class Command:
    """One command of the core's ``cmd`` stream (``hw.core.Op``)."""

    op: str                 # "token" or "reset"
    id: int = 0             # character id of a token
    sample: bool = False    # emit a sampled id
    logits: bool = False    # emit the logits
    tq: int = 0             # fixed-point temperature (0: argmax)
    seed: int = 0           # user seed of a reset (the LFSR gets seed_to_state(seed))


@dataclass
class TokenTrace:
    logits: list[int]
    sampled: int | None
    counts: list[int]            # spikes of each neuron in this token
    spikes: int
    syn_events: int
    readout_ops: int
    steps: list[list[int]] = field(default_factory=list)   # spiking neurons of each step


@dataclass
class Trace:
    tokens: list[TokenTrace] = field(default_factory=list)
    membranes: list[int] = field(default_factory=list)   # after the last command


def expected_trace(model: SpikingModel, commands: list[Command]) -> Trace:
    """Run ``commands`` through the golden model (state starts at rest, generator seed 0)."""
    gm = GoldenModel(model)
    state = gm.init_state(1)
    rng = Lfsr32(seed_to_state(0))
    out = Trace()
    with torch.inference_mode():
        for cmd in commands:
            if cmd.op == "reset":
                state = gm.init_state(1)
                rng = Lfsr32(seed_to_state(cmd.seed))
                continue
            if cmd.op != "token":
                raise ValueError(f"command op must be 'token' or 'reset', not {cmd.op!r}")
            state, res = gm.step(state, torch.tensor([cmd.id]), keep_steps=True)
            logits = res.logits[0]
            sampled = gm.sample(logits, cmd.tq, rng) if cmd.sample else None
            out.tokens.append(TokenTrace(
                logits=[int(v) for v in logits], sampled=sampled,
                counts=[int(v) for v in res.counts[0]], spikes=int(res.spikes[0]),
                syn_events=int(res.syn_events[0]), readout_ops=int(res.readout_ops[0]),
                steps=[s[0].nonzero().flatten().tolist() for s in res.step_spikes]))
    out.membranes = [int(v) for v in state.v[0]]
    return out


def random_commands(rng: np.random.Generator, vocab_size: int, count: int, *,
                    resets: bool = True) -> list[Command]:
    """Random tokens with random sample/logits requests, temperatures and the odd reset."""
    cmds = [Command("reset", seed=int(rng.integers(0, 1 << 40)))]
    for _ in range(count):
        if resets and rng.random() < 0.03:
            cmds.append(Command("reset", seed=int(rng.integers(0, 1 << 40))))
        r = rng.random()
        tq = 0 if r < 0.3 else int(rng.choice([1, 255, 256, 1 << 14, (1 << 15) - 1])) \
            if r < 0.4 else int(rng.integers(1, 1024))
        cmds.append(Command("token", id=int(rng.integers(0, vocab_size)),
                            sample=bool(rng.random() < 0.7), logits=bool(rng.random() < 0.7),
                            tq=tq))
    return cmds


def _step_mismatch(i: int, expected: list[list[int]], got: list[list[int]]) -> str | None:
    """The first time step of token ``i`` whose spiking neurons differ, and the first neuron."""
    for t in range(max(len(expected), len(got))):
        e = expected[t] if t < len(expected) else []
        g = got[t] if t < len(got) else []
        if e != g:
            n = min(set(e) ^ set(g)) if set(e) != set(g) else None
            if n is None:
                return f"token {i}, time step {t}: spikes in the order {g}, expected {e}"
            which = "spiked in the core but not in the golden model" if n in g else \
                "spiked in the golden model but not in the core"
            return f"token {i}, time step {t}: neuron {n} {which}"
    return None


def first_mismatch(expected: Trace, got: Trace, neurons: int) -> str | None:
    """A report naming the first differing token, its time step and neuron, or ``None``.

    Within a token the spikes of each time step are compared first (when ``got`` recorded
    them), so the report names where the network's state first diverged; then the counters,
    the sampled id, the logits and the spike counts.
    """
    if len(got.tokens) != len(expected.tokens):
        return f"expected {len(expected.tokens)} tokens, the core answered {len(got.tokens)}"
    for i, (e, g) in enumerate(zip(expected.tokens, got.tokens, strict=True)):
        if g.steps:
            report = _step_mismatch(i, e.steps, g.steps)
            if report:
                return report
        for name in ("sampled", "spikes", "syn_events", "readout_ops"):
            if getattr(e, name) != getattr(g, name):
                return (f"token {i}: {name} expected {getattr(e, name)}, "
                        f"got {getattr(g, name)}")
        if g.logits and e.logits != g.logits:
            k = None
            if len(e.logits) == len(g.logits):
                k = next(k for k, (a, b) in enumerate(zip(e.logits, g.logits, strict=True))
                         if a != b)
            if k is None:
                return f"token {i}: expected {len(e.logits)} logits, got {len(g.logits)}"
            return f"token {i}: logit {k} expected {e.logits[k]}, got {g.logits[k]}"
        if g.counts and e.counts != g.counts:
            n = next(n for n in range(neurons) if e.counts[n] != g.counts[n])
            return (f"token {i}: spike count of neuron {n} expected {e.counts[n]}, "
                    f"got {g.counts[n]}")
    if got.membranes and got.membranes != expected.membranes:
        n = next(n for n in range(neurons) if expected.membranes[n] != got.membranes[n])
        return (f"membrane of neuron {n} after the last token: expected "
                f"{expected.membranes[n]}, got {got.membranes[n]}")
    return None
