"""Every hardware counter of a run, from what any back-end reports, and the dense equivalent.

The sim and board back-ends read all of :data:`snnfpga.hw.core.COUNTERS` from the chip. The
golden back-end counts only what the network did (tokens, spikes, synaptic events, readout
operations); the memory words follow from those counts and the geometry exactly, because
the core reads and writes its memories in a fixed pattern per phase
(:func:`snnfpga.hw.core.memory_words`).

Cycles are the cycle bound (:func:`snnfpga.hw.core.cycle_lower_bound`) plus the pipeline's
overhead per token. For the geometries in :data:`MEASURED_OVERHEAD` that overhead was
measured by co-simulating the core (``sim/``) and is exact: a constant, a little more when
the token is sampled (the logits wait for the sampler), one more cycle for each time step in
which neuron ``N - 1`` spiked (the last group's spike is pushed into the event queue after
the neuron phase's last update, so the phase ends a cycle later), and a fixed cost per
``RESET``. For any other geometry the cycles are the bound alone and are labelled an
estimate.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..hw.core import COUNTERS, cycle_lower_bound, memory_words
from ..hw.memmap import DEFAULT_LANES, DEFAULT_READOUT_LANES, Geometry
from ..model.errors import SnnfpgaError

__all__ = ["EnergyError", "GeometryKey", "MEASURED_OVERHEAD", "RunCounts", "derive_counters",
           "default_geometry", "dense_counters", "geometry_key"]


class EnergyError(SnnfpgaError):
    """An energy estimate or measurement that cannot be made."""


@dataclass(frozen=True)
class GeometryKey:
    """What the core's pipeline overhead depends on."""

    neurons: int
    fanout: int
    steps: int
    vocab_size: int
    lanes: int
    readout_lanes: int
    registered_reads: bool
    synapse_lanes: int


def geometry_key(geom: Geometry) -> GeometryKey:
    c = geom.config
    return GeometryKey(c.neurons, c.fanout, c.steps, geom.vocab_size, geom.lanes,
                       geom.readout_lanes, geom.registered_reads, geom.synapse_lanes)


#: Cycles beyond the bound, measured by co-simulation (Verilator, ``sim/tb_core.py``):
#: ``(per token, extra when sampled, extra per spike of neuron N-1, per RESET)``. The default
#: model (512 neurons, fan-out 64, T = 2, V = 65) on P = 1, R = 7, S = 2: 400 validation
#: characters, a 255-character generation and a 45-token one with an unsampled prompt, every
#: token equal to the bound plus these figures (``tests/energy/data/cosim_records.json``,
#: written by ``python -m snnfpga.sim.records``).
MEASURED_OVERHEAD: dict[GeometryKey, tuple[int, int, int, int]] = {
    GeometryKey(neurons=512, fanout=64, steps=2, vocab_size=65, lanes=1, readout_lanes=7,
                registered_reads=False, synapse_lanes=2): (67, 2, 1, 508),
}


@dataclass
class RunCounts:
    """The counters of a run and how each was obtained.

    Attributes
    ----------
    counters : dict
        Every name of :data:`snnfpga.hw.core.COUNTERS` (plus ``resets`` and ``sampled``
        when derived, and ``uart_bytes`` when known), summed over the run.
    cycles_exact : bool
        The cycles are exact (read from the chip, or derived with a measured overhead),
        not the cycle bound.
    source : str
        ``"hardware"`` (read from the chip or the simulated chip) or ``"derived"``.
    """

    counters: dict
    cycles_exact: bool
    source: str


def derive_counters(totals: dict, geom: Geometry, *, last_neuron_spikes: int | None = None,
                    resets: int = 0, sampled: int | None = None) -> RunCounts:
    """All counters of a run from the golden model's ``tokens``, ``spikes``, ``syn_events``,
    ``readout_ops`` (a dict as ``GoldenModel.generate(totals=...)`` fills it).

    Parameters
    ----------
    totals : dict
        Summed counts; must have ``tokens``, ``spikes``, ``syn_events``, ``readout_ops``.
        If it already has every hardware counter (sim or board back-end), it is returned as is.
    geom : Geometry
        Configuration, vocabulary size, lane counts and read latency of the core that ran (or
        would run). Cycles are exact only for a geometry whose overhead over its bound was
        measured (:data:`MEASURED_OVERHEAD`); otherwise they are the bound
        (:func:`snnfpga.hw.core.cycle_lower_bound`), an estimate.
    last_neuron_spikes : int, optional
        Spikes of neuron ``N - 1`` in the run (its spike counts summed over tokens; each costs
        one cycle); needed for exact cycles (without it they may fall short by up to ``T``
        cycles a token, and are labelled an estimate).
    resets : int
        ``RESET`` commands in the run (a generation has one).
    sampled : int, optional
        Tokens whose next character was sampled (a generation samples after the last
        prompt character and every generated one, not after the others); default: all.
    """
    if all(k in totals for k in COUNTERS):
        out = {k: int(totals[k]) for k in COUNTERS}
        for k in ("resets", "sampled", "uart_bytes"):
            if k in totals:
                out[k] = int(totals[k])
        return RunCounts(out, True, "hardware")
    missing = [k for k in ("tokens", "spikes", "syn_events", "readout_ops") if k not in totals]
    if missing:
        raise EnergyError(f"counters lack {', '.join(missing)}: expected at least tokens, "
                          "spikes, syn_events and readout_ops")
    n_tok, ev, ro = int(totals["tokens"]), int(totals["syn_events"]), int(totals["readout_ops"])
    V = geom.vocab_size
    if ro % V:
        raise EnergyError(f"readout_ops={ro} is not a multiple of the vocabulary size {V}")
    sampled = n_tok if sampled is None else sampled
    if not 0 <= sampled <= n_tok:
        raise EnergyError(f"sampled={sampled} must be between 0 and tokens={n_tok}")
    out = {
        "tokens": n_tok, "spikes": int(totals["spikes"]), "syn_events": ev, "readout_ops": ro,
        **memory_words(geom, n_tok, ev, ro),
        "resets": resets, "sampled": sampled,
    }
    # the bound is a constant per token plus terms linear in its events and readout words
    # (whole fan-out lists and whole readout rows, so the divisions in it are exact): the
    # bound of the totals counts that constant once, the sum of the bounds n_tok times
    bound = cycle_lower_bound(geom, ev, ro) + (n_tok - 1) * cycle_lower_bound(geom, 0, 0)
    over = MEASURED_OVERHEAD.get(geometry_key(geom))
    exact = over is not None and last_neuron_spikes is not None
    if over is not None:
        # without last_neuron_spikes: short by at most T cycles a token, and labelled so
        per_tok, per_sample, last, per_reset = over
        out["cycles"] = (bound + per_tok * n_tok + per_sample * sampled
                         + last * (last_neuron_spikes or 0) + per_reset * resets)
    else:
        out["cycles"] = bound
    if "uart_bytes" in totals:
        out["uart_bytes"] = int(totals["uart_bytes"])
    return RunCounts(out, exact, "derived")


def dense_counters(run: RunCounts, geom: Geometry) -> RunCounts:
    """The counters of a dense (non-event-driven) core on the same FPGA for the same tokens.

    It delivers every synapse of every neuron at every step (``T*N*F`` fan-out reads,
    accumulator reads and writes), updates every neuron (as the event-driven core does) and
    multiplies every readout feature, zero spike counts included (``2*V*N`` operations,
    ``2*B*N`` weight words). Its cycles are the same bound with those counts plus the same
    measured overhead per token, sample and ``RESET``; it has no event queue, so no cycle
    for pushing neuron ``N - 1``'s spikes.
    """
    c = geom.config
    k = run.counters
    n_tok = k["tokens"]
    V, N, T, F, NB = geom.vocab_size, c.neurons, c.steps, c.fanout, geom.blocks
    ev = n_tok * T * N * F
    feats = n_tok * 2 * N
    out = {
        "tokens": n_tok, "spikes": k["spikes"], "syn_events": ev, "readout_ops": V * feats,
        **memory_words(geom, n_tok, ev, V * feats),
        "resets": k.get("resets", 0), "sampled": k.get("sampled", n_tok),
    }
    cycles = ev + NB * feats + n_tok * cycle_lower_bound(geom, 0, 0)
    over = MEASURED_OVERHEAD.get(geometry_key(geom))
    if over is not None:
        per_tok, per_sample, _, per_reset = over
        cycles += per_tok * n_tok + per_sample * out["sampled"] + per_reset * out["resets"]
    out["cycles"] = cycles
    if "uart_bytes" in k:
        out["uart_bytes"] = k["uart_bytes"]
    return RunCounts(out, run.cycles_exact and over is not None, "dense")


def default_geometry(model, board=None) -> Geometry:
    """The geometry a model runs with on ``board`` (its lane counts and read latency) or
    the default build."""
    if board is None:
        return Geometry(model.config, len(model.vocab), DEFAULT_LANES, DEFAULT_READOUT_LANES)
    return board.geometry(model.config, len(model.vocab))
